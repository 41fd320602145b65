/**
 * kmalloc: power-of-two-ish size classes carved out of slab pages. Models
 * mm/slab_common.c (`kmalloc`, `kfree`, `ksize`, `kmalloc_size_roundup`).
 *
 * Trusted substrate. Why it is modelled: kmalloc objects are packed at their
 * size-class stride, so on a profile whose kmalloc minimum alignment
 * (`ARCH_KMALLOC_MINALIGN`) is below the cache line / `ARCH_DMA_MINALIGN`,
 * two small objects share a cache line, as they do on real systems since v6.5
 * (include/linux/dma-map-ops.h `dma_kmalloc_needs_bounce`; R10, R11 in
 * spec/rules.ts). That sharing is what turns a non-coherent FROM_DEVICE
 * mapping of one object into corruption of its neighbour, or the neighbour's
 * CPU writes into corruption of the DMA data.
 *
 * Empty slabs go back to the page allocator at once, so the allocator's
 * accounting returns to its starting point when every object is freed.
 */
import type { Platform } from '../../platform/platform.ts';
import { PAGE_SIZE, type CpuAddr, type Pfn, cpuAddr, getOrder, hex } from '../../platform/types.ts';
import { __GFP_DMA, __GFP_ZERO, type Gfp, GFP_KERNEL, gfpflagsAllowBlocking, gfpToString } from '../include/linux/gfp.ts';
import type { PageAllocator } from './page_alloc.ts';

/** `KMALLOC_MAX_CACHE_SIZE`: larger requests go straight to the page allocator. */
export const KMALLOC_MAX_CACHE_SIZE = 2 * PAGE_SIZE;
const CLASSES = [8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192];

interface Slab {
  readonly firstPfn: Pfn;
  readonly order: number;
  readonly baseVa: number;
  readonly free: number[];
  inUse: number;
}

interface KmemCache {
  readonly objectSize: number;
  readonly dma: boolean;
  readonly slabs: Set<Slab>;
}

interface Obj {
  readonly cache: KmemCache | null;
  readonly slab: Slab | null;
  readonly sizeBytes: number;
  /** For large (page allocator) objects: first pfn and order. */
  readonly largePfn: Pfn | null;
  readonly largeOrder: number;
}

/** Accounting snapshot of kmalloc. */
export interface SlabStats {
  readonly objects: number;
  readonly slabs: number;
}

/** The kmalloc allocator of one platform. */
export class Kmalloc {
  /** Size classes present with this minimum alignment, ascending, bytes. */
  readonly sizeClasses: readonly number[];
  private readonly caches = new Map<string, KmemCache>();
  private readonly objects = new Map<number, Obj>();

  constructor(
    private readonly platform: Platform,
    private readonly pages: PageAllocator,
  ) {
    const min = platform.profile.kmallocMinAlignBytes;
    this.sizeClasses = CLASSES.filter((s) => s >= min && s % min === 0);
  }

  /** `kmalloc_size_roundup`: the bytes kmalloc really reserves for `sizeBytes`. */
  kmallocSizeRoundup(sizeBytes: number): number {
    if (sizeBytes > KMALLOC_MAX_CACHE_SIZE) return PAGE_SIZE * 2 ** getOrder(sizeBytes);
    return this.sizeClasses.find((s) => s >= sizeBytes) ?? KMALLOC_MAX_CACHE_SIZE;
  }

  /**
   * `kmalloc`: `sizeBytes` of lowmem, aligned to the size class (at least the
   * kmalloc minimum alignment), contents garbage unless `__GFP_ZERO`.
   * @returns the linear-map address, or null for size 0 (`ZERO_SIZE_PTR` is
   *   not modelled) or when the page allocator fails
   */
  kmalloc(sizeBytes: number, gfp: Gfp = GFP_KERNEL): CpuAddr | null {
    if (!Number.isInteger(sizeBytes) || sizeBytes <= 0) return null;
    if (gfpflagsAllowBlocking(gfp)) this.platform.context.mightSleep(`kmalloc(${sizeBytes}, ${gfpToString(gfp)})`);
    let va: number;
    if (sizeBytes > KMALLOC_MAX_CACHE_SIZE) {
      const order = getOrder(sizeBytes);
      const p = this.pages.allocPages(gfp & ~__GFP_ZERO, order);
      if (p === null) return null;
      va = this.pages.pageAddress(p) as number;
      this.objects.set(va, { cache: null, slab: null, sizeBytes, largePfn: p, largeOrder: order });
    } else {
      const size = this.kmallocSizeRoundup(sizeBytes);
      const dma = (gfp & __GFP_DMA) !== 0;
      const key = `${size}${dma ? '-dma' : ''}`;
      let cache = this.caches.get(key);
      if (cache === undefined) {
        cache = { objectSize: size, dma, slabs: new Set() };
        this.caches.set(key, cache);
      }
      let slab = [...cache.slabs].find((s) => s.free.length > 0);
      if (slab === undefined) {
        const order = size > PAGE_SIZE ? 1 : 0;
        const p = this.pages.allocPages((gfp & ~__GFP_ZERO) | (dma ? __GFP_DMA : 0), order);
        if (p === null) return null;
        const count = (PAGE_SIZE << order) / size;
        slab = {
          firstPfn: p,
          order,
          baseVa: this.pages.pageAddress(p) as number,
          free: Array.from({ length: count }, (_, i) => count - 1 - i),
          inUse: 0,
        };
        cache.slabs.add(slab);
      }
      const idx = slab.free.pop() as number;
      slab.inUse++;
      va = slab.baseVa + idx * size;
      this.objects.set(va, { cache, slab, sizeBytes, largePfn: null, largeOrder: 0 });
    }
    if (gfp & __GFP_ZERO) this.platform.cpu.memset(va, 0, sizeBytes, 'mm:kzalloc');
    return cpuAddr(va);
  }

  /** `ksize`: usable bytes of a live object; 0 when `va` is not one. */
  ksize(va: CpuAddr): number {
    const o = this.objects.get(va);
    if (o === undefined) return 0;
    return o.cache === null ? PAGE_SIZE * 2 ** o.largeOrder : o.cache.objectSize;
  }

  /** True when `va` is the start of a live kmalloc object. */
  isObject(va: number): boolean {
    return this.objects.has(va);
  }

  /**
   * `kfree`: release an object. An address that is not a live object is
   * refused with a `bad-kfree` violation and nothing changes.
   */
  kfree(va: CpuAddr): void {
    const o = this.objects.get(va);
    if (o === undefined) {
      this.platform.violations.record({ kind: 'bad-kfree', message: `kfree of an address that is not a live object [va=${hex(va)}]` });
      return;
    }
    this.objects.delete(va);
    if (o.largePfn !== null) {
      this.pages.freePages(o.largePfn, o.largeOrder);
      return;
    }
    const slab = o.slab as Slab;
    const cache = o.cache as KmemCache;
    slab.free.push((va - slab.baseVa) / cache.objectSize);
    slab.inUse--;
    if (slab.inUse === 0) {
      cache.slabs.delete(slab);
      this.pages.freePages(slab.firstPfn, slab.order);
    }
  }

  /** Accounting snapshot for leak checks. */
  stats(): SlabStats {
    let slabs = 0;
    for (const c of this.caches.values()) slabs += c.slabs.size;
    return { objects: this.objects.size, slabs };
  }
}
