/**
 * The Contiguous Memory Allocator (mm/cma.c): areas reserved at boot in
 * whole page blocks inside one zone, lent to the rest of the system for
 * movable pages (page cache, anonymous memory) until a device needs a
 * physically contiguous buffer; `cma_alloc` then migrates those pages out.
 * kernel/dma/contiguous.c `dma_alloc_contiguous`; mm/cma.c `cma_alloc`.
 *
 * Trusted substrate. Each area has an allocation bitmap (one bit per page,
 * `order_per_bit` 0) and, per page, what the rest of the system put there:
 * nothing, a movable page (migrated away on demand), or a long-term pinned
 * page (GUP pin; migration fails with `-EBUSY`, and `cma_alloc` tries the
 * next aligned range). Fault options place movable and pinned pages at boot;
 * the harness pins more during a run. Allocation may sleep (migration), so it
 * calls `might_sleep()`. The oracle reads the bitmaps through
 * {@link CmaAreas.stats} and {@link CmaAreas.areaOf}.
 */
import type { Platform } from '../../platform/platform.ts';
import type { CmaAreaConfig } from '../../platform/profiles.ts';
import { PAGE_SIZE, type Pfn, hex, pfn } from '../../platform/types.ts';
import type { Dmesg } from '../include/linux/printk.ts';
import { findZeroArea } from '../lib/genalloc.ts';
import type { PageAllocator, ZoneType } from './page_alloc.ts';

/** `CONFIG_CMA_ALIGNMENT` (default 8): callers cap an allocation's alignment order here, 1 MiB with 4 KiB pages. */
export const CMA_ALIGNMENT = 8;

/** What the rest of the system keeps in a CMA page that no DMA buffer owns. */
const OCCUPANT = { none: 0, movable: 1, pinned: 2 } as const;

/** `-EBUSY` / `-ENOMEM`, as `cma_alloc` reports them. */
const EBUSY = 16;
const ENOMEM = 12;

/** Accounting of one area: pages allocated and the allocated runs (`pfn+count`), not counting memory held for good. */
export interface CmaAreaStats {
  readonly allocatedPages: number;
  readonly runs: readonly string[];
}

/** Boot-time occupants of every area, per seed and fault options (see {@link CmaAreas}). */
const bootOccupants = new Map<string, Uint8Array[]>();

/** `struct cma`. */
export class Cma {
  readonly basePfn: number;
  /** Pages. */
  readonly count: number;
  /** 1 per allocated page. */
  readonly bitmap: Uint8Array;
  /** {@link OCCUPANT} per page. */
  readonly occupant: Uint8Array;
  /** First bit → page count of each live allocation. */
  readonly allocs = new Map<number, number>();
  /** First bits of allocations held for good (atomic pools grown from CMA). */
  readonly persistent = new Set<number>();

  constructor(
    readonly config: CmaAreaConfig,
    /** Zone the area lies in. */
    readonly zone: ZoneType,
  ) {
    this.basePfn = config.basePhys / PAGE_SIZE;
    this.count = config.sizeBytes / PAGE_SIZE;
    this.bitmap = new Uint8Array(this.count);
    this.occupant = new Uint8Array(this.count);
  }

  get name(): string {
    return this.config.name;
  }

  /** True when `p` lies in the area. */
  contains(p: number): boolean {
    return p >= this.basePfn && p < this.basePfn + this.count;
  }

  stats(): CmaAreaStats {
    const runs: string[] = [];
    let pages = 0;
    for (const [bit, count] of [...this.allocs].sort((a, b) => a[0] - b[0])) {
      if (this.persistent.has(bit)) continue;
      runs.push(`${hex(this.basePfn + bit)}+${count}`);
      pages += count;
    }
    return { allocatedPages: pages, runs };
  }
}

/** Every CMA area of a platform, built from the profile. */
export class CmaAreas {
  readonly areas: readonly Cma[];

  constructor(
    private readonly platform: Platform,
    private readonly pages: PageAllocator,
    private readonly dmesg: Dmesg,
  ) {
    this.areas = platform.profile.cma.map((c) => new Cma(c, pages.zoneOf(pfn(c.basePhys / PAGE_SIZE))?.type ?? 'NORMAL'));
    const f = platform.faults.options;
    const prng = platform.faults.cmaPrng;
    // What the boot left in the areas depends only on the seed and the fault options: drawn once, copied after.
    const key = `${prng.seed}|${f.cmaPinned}|${f.cmaMovable}|${this.areas.map((a) => `${a.name}:${a.count}`).join(',')}`;
    let boot = bootOccupants.get(key);
    if (boot === undefined) {
      boot = this.areas.map((a) => {
        const occ = new Uint8Array(a.count);
        for (let i = 0; i < a.count; i++) {
          if (prng.chance(f.cmaPinned)) occ[i] = OCCUPANT.pinned;
          else if (prng.chance(f.cmaMovable)) occ[i] = OCCUPANT.movable;
        }
        return occ;
      });
      if (bootOccupants.size > 64) bootOccupants.clear();
      bootOccupants.set(key, boot);
    }
    this.areas.forEach((a, i) => a.occupant.set(boot[i] as Uint8Array));
  }

  /** The area named `name`, or undefined. */
  byName(name: string): Cma | undefined {
    return this.areas.find((a) => a.name === name);
  }

  /** The area a page frame lies in, or undefined (for the oracle and for frees). */
  areaOf(p: number): Cma | undefined {
    return this.areas.find((a) => a.contains(p));
  }

  /** The default area (`dma_contiguous_default_area`), or null. */
  get defaultArea(): Cma | null {
    return this.areas.find((a) => a.config.kind === 'default') ?? null;
  }

  /**
   * `cma_alloc`: `count` contiguous pages whose first pfn is a multiple of
   * `2^align`, migrating movable pages out of the range. A range holding a
   * pinned page fails with `-EBUSY` and the search goes on past it. May
   * sleep. Failure is logged ("alloc failed") unless `noWarn`.
   * @param align alignment order; callers cap it at {@link CMA_ALIGNMENT}
   * @param persistent the caller keeps the pages for good (pool growth): they are left out of leak accounting
   * @returns the first pfn, or null (area unchanged)
   */
  alloc(cma: Cma, count: number, align: number, noWarn: boolean, persistent = false): Pfn | null {
    this.platform.context.mightSleep(`cma_alloc(${cma.name}, ${count} pages)`);
    if (!Number.isInteger(count) || count <= 0 || count > cma.count) return null;
    const mask = 2 ** align - 1;
    const offset = cma.basePfn % (mask + 1);
    let ret = -ENOMEM;
    for (let start = 0; ; ) {
      const bits = cma.bitmap.subarray(start);
      const at = findZeroArea(bits, count, mask + 1, (offset + start) % (mask + 1));
      if (at < 0) break;
      const bit = start + at;
      const pinned = cma.occupant.subarray(bit, bit + count).some((o) => o === OCCUPANT.pinned);
      if (!pinned) {
        cma.bitmap.fill(1, bit, bit + count);
        cma.occupant.fill(OCCUPANT.none, bit, bit + count);
        cma.allocs.set(bit, count);
        if (persistent) cma.persistent.add(bit);
        return pfn(cma.basePfn + bit);
      }
      ret = -EBUSY;
      start = bit + mask + 1;
    }
    if (!noWarn) this.dmesg.err(`cma: cma_alloc: ${cma.name}: alloc failed, req-size: ${count} pages, ret: ${ret}`);
    return null;
  }

  /**
   * `cma_release`: give back `count` pages from `first`.
   * @returns false when `first` is not in the area (the caller tries the next
   *   allocator); true otherwise. A range that is not exactly one live
   *   allocation is refused with a `bad-page-free` violation, changing nothing.
   */
  release(cma: Cma, first: number, count: number): boolean {
    if (!cma.contains(first)) return false;
    const bit = first - cma.basePfn;
    if (cma.allocs.get(bit) !== count) {
      this.platform.violations.record({
        kind: 'bad-page-free',
        message: `BUG: cma_release of pages not allocated as one run [area=${cma.name}] [pfn=${hex(first)}] [count=${count}] [allocated_count=${cma.allocs.get(bit) ?? 'none'}]`,
      });
      return true;
    }
    this.pages.checkPrivate('cma_release', first, count);
    cma.allocs.delete(bit);
    cma.persistent.delete(bit);
    cma.bitmap.fill(0, bit, bit + count);
    return true;
  }

  /**
   * A long-term GUP pin lands on page `index` of area `name` (the harness's
   * "CMA pinning" event). Only a page no DMA buffer owns can be pinned.
   * @returns true when the page is now pinned
   */
  pin(name: string, index: number): boolean {
    const a = this.byName(name);
    if (a === undefined || !Number.isInteger(index) || index < 0 || index >= a.count || a.bitmap[index] !== 0) return false;
    a.occupant[index] = OCCUPANT.pinned;
    return true;
  }

  /** Accounting per area, for leak checks. */
  stats(): Readonly<Record<string, CmaAreaStats>> {
    return Object.fromEntries(this.areas.map((a) => [a.name, a.stats()]));
  }
}
