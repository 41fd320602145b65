/**
 * The buddy page allocator over zones DMA / DMA32 / NORMAL / HIGHMEM, with
 * orders, gfp zone modifiers and zonelist fallback, `__GFP_ZERO`, free-page
 * accounting per zone and order, and fault injection. Models mm/page_alloc.c.
 *
 * Trusted substrate: every backend allocates pages here, and the oracle reads
 * its accounting to find leaks. Blocks are naturally aligned to their order
 * (which kernel/dma/direct.c `__dma_direct_alloc_pages` relies on), so a DMA
 * allocation's alignment comes from here. A free with the wrong order or of a
 * page that is not allocated is refused and recorded as a violation (the
 * kernel's `bad_page`), leaving the allocator unchanged. Boot-time
 * reservations of the profile (CMA areas, coherent pools) never reach the
 * free lists: CMA lends its pages only to movable allocations, which the
 * model keeps inside `cma.ts`. Blocks a caller keeps for good (atomic-pool
 * growth) are marked persistent and counted as free in
 * {@link PageAllocator.stats}, so growing a pool is not a leak.
 */
import { checkRange } from '../../platform/check.ts';
import type { Platform } from '../../platform/platform.ts';
import { type PlatformProfile, reservedRegions } from '../../platform/profiles.ts';
import { PAGE_SIZE, type CpuAddr, type Pfn, hex, pfn, pfnToPhys } from '../../platform/types.ts';
import type { Dmesg } from '../include/linux/printk.ts';
import {
  __GFP_DMA,
  __GFP_NOWARN,
  __GFP_DMA32,
  __GFP_HIGHMEM,
  __GFP_ZERO,
  type Gfp,
  gfpToString,
  gfpflagsAllowBlocking,
} from '../include/linux/gfp.ts';

/** Zone names, lowest first (`enum zone_type`). */
export type ZoneType = 'DMA' | 'DMA32' | 'NORMAL' | 'HIGHMEM';
const ZONE_ORDER: readonly ZoneType[] = ['DMA', 'DMA32', 'NORMAL', 'HIGHMEM'];

/** One zone: a physical range with per-order free lists. */
export interface Zone {
  readonly type: ZoneType;
  /** First pfn of the zone span. */
  readonly startPfn: number;
  /** Pfn one past the end of the zone span. */
  readonly endPfn: number;
  /**
   * Free block start pfns per order (`free_area[order]`). A list may still be
   * shared with the boot template (`shared[order]`): read it freely, but
   * mutate only through {@link PageAllocator}'s copy-on-write access.
   */
  readonly free: Set<number>[];
  /** Per order: the list is the boot template's, not yet copied. */
  readonly shared: boolean[];
  /** Free pages in the zone. */
  freePages: number;
  /** RAM pages in the zone (`managed_pages`). */
  readonly managedPages: number;
}

/** Accounting snapshot: free pages and free blocks per order, per zone. */
export interface PageAllocStats {
  readonly zones: Readonly<Record<string, { readonly freePages: number; readonly freeBlocks: readonly number[] }>>;
  /** Allocated blocks not counting boot-time pinned pages. */
  readonly allocatedBlocks: number;
}

const GiB4 = 2 ** 32;

/** Per profile and zone: the free lists right after boot (before fragmentation), carved once. */
const bootFreeLists = new WeakMap<PlatformProfile, Map<string, Zone>>();

/** The buddy allocator of one platform. */
export class PageAllocator {
  readonly zones: Zone[] = [];
  readonly maxOrder: number;
  /** Allocated block start pfn → order; `boot` marks pages pinned by fragmentation. */
  private readonly allocated = new Map<number, { order: number; zone: Zone; boot: boolean; persistent?: boolean }>();

  /** @param dmesg where `warn_alloc` reports failures not marked `__GFP_NOWARN` */
  constructor(
    private readonly platform: Platform,
    private readonly dmesg: Dmesg,
  ) {
    const p = platform.profile;
    this.maxOrder = p.maxOrder;
    const ramStart = p.ram[0]?.startPhys ?? 0;
    const lastBank = p.ram[p.ram.length - 1];
    const ramEnd = lastBank === undefined ? 0 : lastBank.startPhys + lastBank.sizeBytes;
    const reserved = reservedRegions(p).map((r) => [r.basePhys / PAGE_SIZE, (r.basePhys + r.sizeBytes) / PAGE_SIZE] as const);
    // The free lists a profile boots with depend on the profile alone: carve them once, copy them after.
    let boot = bootFreeLists.get(p);
    if (boot === undefined) bootFreeLists.set(p, (boot = new Map()));
    const bounds: [ZoneType, number, number][] = [];
    let cursor = ramStart;
    if (p.zones.dmaEndPhys !== null) {
      bounds.push(['DMA', cursor, p.zones.dmaEndPhys]);
      cursor = p.zones.dmaEndPhys;
    }
    if (p.zones.dma32) {
      bounds.push(['DMA32', cursor, Math.max(cursor, GiB4)]);
      cursor = Math.max(cursor, GiB4);
    }
    const lowEnd = Math.min(ramEnd, p.va.lowmemEndPhys);
    if (lowEnd > cursor) bounds.push(['NORMAL', cursor, lowEnd]);
    if (ramEnd > p.va.lowmemEndPhys) bounds.push(['HIGHMEM', Math.max(cursor, p.va.lowmemEndPhys), ramEnd]);
    for (const [type, start, end] of bounds) {
      const zone: Zone = {
        type,
        startPfn: start / PAGE_SIZE,
        endPfn: end / PAGE_SIZE,
        free: Array.from({ length: this.maxOrder + 1 }, () => new Set<number>()),
        shared: new Array<boolean>(this.maxOrder + 1).fill(false),
        freePages: 0,
        managedPages: 0,
      };
      const key = `${type}`;
      const cached = boot?.get(key);
      if (cached !== undefined) {
        cached.free.forEach((set, o) => {
          zone.free[o] = set;
          zone.shared[o] = true;
        });
        if (cached.managedPages > 0) this.zones.push({ ...zone, freePages: cached.freePages, managedPages: cached.managedPages });
        continue;
      }
      let managed = 0;
      for (const b of p.ram) {
        const lo = Math.max(zone.startPfn, b.startPhys / PAGE_SIZE);
        const hi = Math.min(zone.endPfn, (b.startPhys + b.sizeBytes) / PAGE_SIZE);
        if (hi > lo) {
          for (const [a, z] of withoutReserved(lo, hi, reserved)) this.carve(zone, a, z);
          managed += hi - lo;
        }
      }
      const done = { ...zone, managedPages: managed };
      boot?.set(key, { ...done, free: done.free.map((set) => new Set(set)), shared: [] });
      if (managed > 0) this.zones.push(done);
    }
    this.fragment(platform.faults.options.fragmentation);
  }

  /** Put `[lo, hi)` on the free lists as the largest naturally aligned blocks. */
  private carve(zone: Zone, lo: number, hi: number): void {
    let p = lo;
    while (p < hi) {
      let order = this.maxOrder;
      while (order > 0 && (p % 2 ** order !== 0 || p + 2 ** order > hi)) order--;
      zone.free[order]?.add(p);
      zone.freePages += 2 ** order;
      p += 2 ** order;
    }
  }

  /** Boot-time fragmentation: pin one random page in a fraction of the max-order blocks. */
  private fragment(fraction: number): void {
    if (fraction <= 0) return;
    const prng = this.platform.faults.fragmentationPrng;
    for (const zone of this.zones) {
      for (const block of [...(zone.free[this.maxOrder] ?? [])]) {
        if (!prng.chance(fraction)) continue;
        const pinned = block + prng.below(2 ** this.maxOrder);
        this.own(zone, this.maxOrder).delete(block);
        let start = block;
        for (let o = this.maxOrder - 1; o >= 0; o--) {
          const half = 2 ** o;
          const other = pinned < start + half ? start + half : start;
          this.own(zone, o).add(other);
          if (pinned >= start + half) start += half;
        }
        zone.freePages -= 1;
        this.allocated.set(pinned, { order: 0, zone, boot: true });
      }
    }
  }

  /** The zone a pfn belongs to, or undefined for non-RAM. */
  zoneOf(p: Pfn): Zone | undefined {
    return this.zones.find((z) => p >= z.startPfn && p < z.endPfn);
  }

  /** True when the page has no permanent kernel mapping (`PageHighMem`). */
  isHighmem(p: Pfn): boolean {
    return this.zoneOf(p)?.type === 'HIGHMEM';
  }

  /** `page_address`: the linear-map address of a lowmem page; null for highmem. */
  pageAddress(p: Pfn): CpuAddr | null {
    return this.platform.pt.linearAddress(pfnToPhys(p));
  }

  /** The zonelist a gfp value allows, highest zone first (`gfp_zone` + fallback). */
  zonelist(gfp: Gfp): Zone[] {
    let top: ZoneType = 'NORMAL';
    if (gfp & __GFP_DMA) top = this.has('DMA') ? 'DMA' : 'NORMAL';
    else if (gfp & __GFP_DMA32) {
      // Without a DMA32 zone, the zones wholly below 4 GiB serve GFP_DMA32.
      if (this.has('DMA32')) top = 'DMA32';
      else return this.zones.filter((z) => z.endPfn * PAGE_SIZE <= GiB4 && z.type !== 'HIGHMEM').reverse();
    } else if (gfp & __GFP_HIGHMEM) top = 'HIGHMEM';
    const limit = ZONE_ORDER.indexOf(top);
    return this.zones.filter((z) => ZONE_ORDER.indexOf(z.type) <= limit).reverse();
  }

  private has(t: ZoneType): boolean {
    return this.zones.some((z) => z.type === t);
  }

  /**
   * `alloc_pages`: a naturally aligned block of `2^order` pages.
   * Blocking gfp calls `might_sleep()`. `__GFP_ZERO` clears the pages through
   * the CPU (linear map, or kmap for highmem), leaving dirty cache lines as
   * the kernel's `clear_page` does.
   * A failure is reported by `warn_alloc` ("page allocation failure")
   * unless the gfp has `__GFP_NOWARN`.
   * @returns the first pfn, or null when no zone of the zonelist can serve
   *   (or fault injection fails the request)
   */
  allocPages(gfp: Gfp, order: number): Pfn | null {
    if (gfpflagsAllowBlocking(gfp)) this.platform.context.mightSleep(`alloc_pages(${gfpToString(gfp)}, order=${order})`);
    if (Number.isInteger(order) && order >= 0 && order <= this.maxOrder && !this.platform.faults.failPageAlloc(order)) {
      for (const zone of this.zonelist(gfp)) {
        const got = this.takeFrom(zone, order);
        if (got !== null) {
          this.allocated.set(got, { order, zone, boot: false });
          if (gfp & __GFP_ZERO) this.clearPages(pfn(got), 2 ** order);
          return pfn(got);
        }
      }
    }
    if ((gfp & __GFP_NOWARN) === 0) this.dmesg.warn(`page allocation failure: order:${order}, mode:${gfpToString(gfp)}`);
    return null;
  }

  /**
   * A boot-time allocation the way memblock makes it: top-down, the highest
   * naturally aligned block of `order` that ends at or below `limitPhys`
   * (`memblock_alloc_low` and friends allocate from the top of the allowed
   * range, so early reservations such as the swiotlb pool sit at the top of
   * low memory). The block is carved out of whatever free block holds it.
   * @returns the first pfn, or null when no free block fits
   * @see mm/memblock.c memblock_find_in_range_node (top-down)
   */
  allocTopDown(order: number, limitPhys: number): Pfn | null {
    if (!Number.isInteger(order) || order < 0 || order > this.maxOrder) return null;
    const n = 2 ** order;
    const limitPfn = Math.floor((limitPhys + 1) / PAGE_SIZE);
    let best: { zone: Zone; block: number; o: number; at: number } | null = null;
    for (const zone of this.zones) {
      for (let o = order; o <= this.maxOrder; o++) {
        for (const block of zone.free[o] as Set<number>) {
          // The highest aligned sub-block of `order` inside this free block, under the limit.
          const top = Math.min(block + 2 ** o, limitPfn) - n;
          const at = Math.floor(top / n) * n;
          if (at < block) continue;
          if (best === null || at > best.at) best = { zone, block, o, at };
        }
      }
    }
    if (best === null) return null;
    const { zone, block, at } = best;
    let o = best.o;
    let start = block;
    this.own(zone, o).delete(start);
    // Split down to `order`, keeping the half that holds `at` and freeing the other.
    while (o > order) {
      o--;
      const half = 2 ** o;
      const keep = at >= start + half ? start + half : start;
      this.own(zone, o).add(keep === start ? start + half : start);
      start = keep;
    }
    zone.freePages -= n;
    this.allocated.set(start, { order, zone, boot: false });
    return pfn(start);
  }

  private takeFrom(zone: Zone, order: number): number | null {
    for (let o = order; o <= this.maxOrder; o++) {
      const first = (zone.free[o] as Set<number>).values().next();
      if (first.done === true) continue;
      const block = first.value;
      this.own(zone, o).delete(block);
      for (let s = o - 1; s >= order; s--) this.own(zone, s).add(block + 2 ** s);
      zone.freePages -= 2 ** order;
      return block;
    }
    return null;
  }

  /** `clear_highpage` over `nrPages` pages from `first`. */
  clearPages(first: Pfn, nrPages: number): void {
    checkRange('clear_page', first * PAGE_SIZE, nrPages * PAGE_SIZE);
    for (let i = 0; i < nrPages; i++) {
      const p = pfn(first + i);
      const va = this.pageAddress(p);
      if (va !== null) {
        this.platform.cpu.memset(va, 0, PAGE_SIZE, 'mm:clear_page');
      } else {
        const tmp = this.platform.pt.kmapLocal(p) as CpuAddr;
        this.platform.cpu.memset(tmp, 0, PAGE_SIZE, 'mm:clear_highpage');
        this.platform.pt.kunmapLocal(tmp);
      }
    }
  }

  /**
   * `__free_pages`: return a block. A pfn that is not the start of an
   * allocated block, or an order that differs from the allocation's, is
   * refused: a `bad-page-free` violation is recorded and nothing changes.
   * @returns true when the block was freed
   */
  freePages(first: Pfn, order: number): boolean {
    const a = this.allocated.get(first);
    if (a === undefined || a.order !== order) {
      this.platform.violations.record({
        kind: 'bad-page-free',
        message:
          `BUG: Bad page state: freeing pages not allocated as one block ` +
          `[pfn=${hex(first)}] [order=${order}] [allocated_order=${a === undefined ? 'none' : a.order}]`,
      });
      return false;
    }
    this.checkPrivate('__free_pages', first, 2 ** order);
    this.allocated.delete(first);
    const zone = a.zone;
    zone.freePages += 2 ** order;
    let block: number = first;
    let o = order;
    while (o < this.maxOrder) {
      const buddy = block ^ (2 ** o);
      if (!(zone.free[o] as Set<number>).has(buddy)) break;
      this.own(zone, o).delete(buddy);
      block = Math.min(block, buddy);
      o++;
    }
    this.own(zone, o).add(block);
    return true;
  }

  /**
   * On an encrypted guest, a page must be private again before it returns to
   * the allocator: a shared page handed to the next user exposes its data
   * to the host. Records a `shared-page-freed` violation (the free goes on,
   * as the kernel's would).
   */
  checkPrivate(by: string, first: number, nrPages: number): void {
    const shared = this.platform.encryption?.firstShared(first, nrPages) ?? null;
    if (shared === null) return;
    this.platform.violations.record({ kind: 'shared-page-freed', message: `${by}: a shared (decrypted) page goes back to the page allocator [pfn=${hex(shared)}] [block=${hex(first)}+${nrPages}]` });
  }

  /** The free list of `zone` at `order`, copied from the boot template before its first change. */
  private own(zone: Zone, order: number): Set<number> {
    if (zone.shared[order] === true) {
      zone.free[order] = new Set(zone.free[order]);
      zone.shared[order] = false;
    }
    return zone.free[order] as Set<number>;
  }

  /**
   * `split_page`: turn an allocated block of `order` into `2^order`
   * independently freeable order-0 pages. @returns false (nothing changed)
   * when `first` is not an allocated block of that order
   */
  splitPage(first: Pfn, order: number): boolean {
    const a = this.allocated.get(first);
    if (a === undefined || a.order !== order) return false;
    for (let i = 0; i < 2 ** order; i++) this.allocated.set(first + i, { order: 0, zone: a.zone, boot: a.boot });
    return true;
  }

  /** Keep the allocated block at `first` out of leak accounting: its owner holds it for good (pool growth). @returns false when not allocated */
  markPersistent(first: Pfn): boolean {
    const a = this.allocated.get(first);
    if (a === undefined) return false;
    a.persistent = true;
    return true;
  }

  /** True when page `p` lies in a free block of the buddy allocator. */
  isFree(p: Pfn): boolean {
    const zone = this.zoneOf(p);
    if (zone === undefined) return false;
    for (let o = 0; o <= this.maxOrder; o++) if (zone.free[o]?.has(p - (p % 2 ** o))) return true;
    return false;
  }

  /** True when `p` is the first page of an allocated block (any order). */
  isAllocated(p: Pfn): boolean {
    return this.allocated.has(p);
  }

  /** The order of the allocated block starting at `p`, or null. */
  allocatedOrder(p: Pfn): number | null {
    return this.allocated.get(p)?.order ?? null;
  }

  /** Free pages of one zone type (0 when the zone does not exist). */
  freeCount(t: ZoneType): number {
    return this.zones.find((z) => z.type === t)?.freePages ?? 0;
  }

  /** Accounting snapshot for leak checks; persistent blocks count as free (merged with their buddies as if freed). */
  stats(): PageAllocStats {
    // Free lists are copied only where a persistent block merges into them (copy on write).
    const copies = new Map<Set<number>, Set<number>>();
    const own = (set: Set<number>): Set<number> => {
      let c = copies.get(set);
      if (c === undefined) copies.set(set, (c = new Set(set)));
      return c;
    };
    const view = (z: Zone, o: number): Set<number> => {
      const set = z.free[o] as Set<number>;
      return copies.get(set) ?? set;
    };
    const freePages = new Map(this.zones.map((z) => [z, z.freePages]));
    let allocatedBlocks = 0;
    for (const [first, a] of this.allocated) {
      if (a.persistent === true) {
        freePages.set(a.zone, (freePages.get(a.zone) as number) + 2 ** a.order);
        let block = first;
        let o = a.order;
        while (o < this.maxOrder && view(a.zone, o).has(block ^ (2 ** o))) {
          own(a.zone.free[o] as Set<number>).delete(block ^ (2 ** o));
          block = Math.min(block, block ^ (2 ** o));
          o++;
        }
        own(a.zone.free[o] as Set<number>).add(block);
      } else if (!a.boot) allocatedBlocks++;
    }
    const zones: Record<string, { freePages: number; freeBlocks: number[] }> = {};
    for (const z of this.zones) zones[z.type] = { freePages: freePages.get(z) as number, freeBlocks: z.free.map((_, o) => view(z, o).size) };
    return { zones, allocatedBlocks };
  }
}

/** `[lo, hi)` minus the reserved ranges, as sorted sub-ranges (page frame numbers). */
function withoutReserved(lo: number, hi: number, reserved: readonly (readonly [number, number])[]): [number, number][] {
  let parts: [number, number][] = [[lo, hi]];
  for (const [r0, r1] of reserved) {
    parts = parts.flatMap(([a, z]): [number, number][] => (r1 <= a || r0 >= z ? [[a, z]] : ([[a, Math.max(a, r0)], [Math.min(z, r1), z]] as [number, number][]).filter(([x, y]) => y > x)));
  }
  return parts;
}
