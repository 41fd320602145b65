/**
 * The trusted kernel substrate of one platform: page allocator, kmalloc and
 * vmalloc, built together, with one accounting snapshot for leak checks.
 *
 * Not a kernel mirror (the kernel has these as globals). Every backend gets
 * the same substrate; the oracle compares {@link Substrate.snapshot} before
 * and after a run (DESIGN.md "The trust boundary": leaks are measured on the
 * substrate's own accounting).
 */
import type { Platform } from '../../platform/platform.ts';
import { Dmesg } from '../include/linux/printk.ts';
import { GenPool } from '../lib/genalloc.ts';
import { setMemoryDecrypted, setMemoryEncrypted } from '../arch/x86/mm/pat/set_memory.ts';
import { Workqueue } from '../kernel/workqueue.ts';
import { CmaAreas, type CmaAreaStats } from './cma.ts';
import { PageAllocator, type PageAllocStats } from './page_alloc.ts';
import { Kmalloc, type SlabStats } from './slab.ts';
import { VmallocSpace } from './vmalloc.ts';

/** Accounting of every substrate allocator at one moment. */
export interface SubstrateSnapshot {
  readonly pages: PageAllocStats;
  readonly slab: SlabStats;
  readonly vmapAreas: number;
  readonly kmapsInUse: number;
  /** Per CMA area: pages allocated and their runs. */
  readonly cma: Readonly<Record<string, CmaAreaStats>>;
  /** Per gen_pool: bytes in use (the pool's size may grow; what is handed out must come back). */
  readonly genPools: Readonly<Record<string, number>>;
}

/** Page allocator, kmalloc and vmalloc of one platform. */
export class Substrate {
  /** The kernel log, shared by the substrate and the DMA layer built on it. */
  readonly dmesg = new Dmesg();
  readonly pages: PageAllocator;
  readonly slab: Kmalloc;
  readonly vmalloc: VmallocSpace;
  readonly cma: CmaAreas;
  /** `system_wq`. */
  readonly workqueue: Workqueue;
  /** Every gen_pool created on this platform (`gen_pool_create` registers here), in creation order. */
  readonly genPools: GenPool[] = [];

  constructor(readonly platform: Platform) {
    this.pages = new PageAllocator(platform, this.dmesg);
    this.slab = new Kmalloc(platform, this.pages);
    this.vmalloc = new VmallocSpace(platform);
    this.cma = new CmaAreas(platform, this.pages, this.dmesg);
    this.workqueue = new Workqueue(platform);
  }

  /** `gen_pool_create`, registered so the oracle can see the pool. @param minAllocOrder log2 of the granule, bytes */
  genPoolCreate(minAllocOrder: number, name: string): GenPool {
    const pool = new GenPool(minAllocOrder, name);
    this.genPools.push(pool);
    return pool;
  }

  /** `set_memory_decrypted` (arch/x86/mm/pat/set_memory.c): see `setMemoryDecrypted`. @returns 0 or a negative errno */
  setMemoryDecrypted(addr: number, numpages: number): number {
    return setMemoryDecrypted(this.platform, addr, numpages);
  }

  /** `set_memory_encrypted`: see `setMemoryEncrypted`. @returns 0 or a negative errno (the pages stay shared) */
  setMemoryEncrypted(addr: number, numpages: number): number {
    return setMemoryEncrypted(this.platform, addr, numpages);
  }

  /** Accounting snapshot; two snapshots are equal (as JSON) when nothing leaked in between. */
  snapshot(): SubstrateSnapshot {
    return {
      pages: this.pages.stats(),
      slab: this.slab.stats(),
      // A gen_pool's chunks stay mapped for good (atomic-pool growth), like its persistent pages.
      vmapAreas: this.vmalloc.liveAddrs.filter((a) => !this.genPools.some((g) => g.hasAddr(a, 1))).length,
      kmapsInUse: this.platform.pt.kmapsInUse,
      cma: this.cma.stats(),
      genPools: Object.fromEntries(this.genPools.map((g): [string, number] => [g.name, g.sizeBytes - g.availBytes])),
    };
  }
}

/** Build the substrate on a platform. */
export function createSubstrate(platform: Platform): Substrate {
  return new Substrate(platform);
}
