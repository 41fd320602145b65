/**
 * The IOVA allocator (drivers/iommu/iova.c, include/linux/iova.h): the I/O
 * virtual address space of one IOMMU DMA domain. dma-iommu
 * (drivers/iommu/dma-iommu.c) takes a range of IOVA page frames from here for
 * every mapping and returns it on unmap; the IOMMU page tables then map that
 * range onto the buffer's physical pages. This file exists so the dma-iommu
 * model can place mappings exactly where the kernel would, reuse them in the
 * kernel's order, and fail when and only when the kernel fails.
 *
 * Units: every `*Pfn` / `*Pfns` value counts IOVA page frames of the domain's
 * granule (`granuleBytes`, the IOMMU's smallest page size, a power of two of
 * at least 4 KiB and at most the kernel's `PAGE_SIZE`), not CPU pages.
 * `pfnLo`..`pfnHi` ranges are inclusive, as in `struct iova`.
 *
 * Version followed: the rbtree allocator of Linux v6.6 (retry from the
 * limit with `retry_pfn = pfn_hi` of the cached node, `max32_alloc_size`,
 * rounding of small `alloc_iova_fast` sizes, 127-entry magazines and a
 * list-shaped depot trimmed by delayed work), checked against a later
 * mainline text (v6.8 or after: magazines from their own kmem_cache,
 * NULL-tolerant frees), whose differences change nothing observable here.
 *
 * Model shape:
 * - The rbtree is a sorted array of nodes (keyed by `pfnLo`) ending in the
 *   anchor node; `rb_prev`/`rb_next` are the neighbours in the array. The two
 *   cached nodes (`cached_node`, `cached32_node`) are node references, so the
 *   next-fit behaviour they cause (a walk starts below the last allocation,
 *   and restarts from the limit only when that fails) is the kernel's.
 * - The per-CPU range caches are those of one CPU: for each order below
 *   {@link IOVA_RANGE_CACHE_MAX_SIZE}, a `loaded` and a `prev` magazine of
 *   {@link IOVA_MAG_SIZE} pfns and a LIFO depot of full magazines. The depot's
 *   delayed trimming work runs when the caller says so ({@link IovaDomain.runDepotWork}).
 *
 * Deviations, all on input the kernel never gets from a correct caller and
 * documented where they apply: the model refuses (and logs) what would
 * corrupt the kernel's tree or caches, where the kernel BUGs, WARNs, or
 * silently hands the same IOVA out twice. A refusal changes no state.
 *
 * Not modelled: `iova_cache_get`/`iova_cache_put` (the global kmem caches),
 * allocation failure of `struct iova` or of a magazine (`GFP_ATOMIC`), CPU
 * hotplug other than {@link IovaDomain.freeCpuCachedIovas}, and locking.
 */
import { type DmaAddr, PAGE_SIZE, hex, isPowerOfTwo } from '../../../platform/types.ts';
import { Dmesg } from '../../include/linux/printk.ts';

/** `IOVA_RANGE_CACHE_MAX_SIZE`: ranges of order (log2 of their size in pfns, rounded up) below this are cached; 6 caches up to 32 pfns. */
export const IOVA_RANGE_CACHE_MAX_SIZE = 6;
/** `IOVA_MAG_SIZE`: pfns per magazine (127, so a magazine with its header fills 1 KiB). */
export const IOVA_MAG_SIZE = 127;
/**
 * The anchor node's pfn (`IOVA_ANCHOR`, `~0UL` in the kernel): a node that
 * sits above every usable pfn so the tree is never empty. The model uses the
 * largest exact integer; `limitPfn` must stay below it.
 */
export const IOVA_ANCHOR_PFN = Number.MAX_SAFE_INTEGER;

/** An inclusive range of IOVA page frames (`struct iova`): `pfnLo`..`pfnHi`, in granules. */
export interface IovaRange {
  readonly pfnLo: number;
  readonly pfnHi: number;
}

/** A node of the domain's tree, for accounting. */
export interface IovaNodeInfo extends IovaRange {
  /** Made or grown by {@link IovaDomain.reserveIova} (the kernel does not tell reserved nodes apart; the model does, for accounting). */
  readonly reserved: boolean;
  /** Held by a range cache: freed by the caller, still in the tree, waiting to be handed out again. */
  readonly cached: boolean;
}

/** A range held by the range caches. */
export interface CachedIovaRange extends IovaRange {
  /** The cache bin: `order_base_2` of the size the caller freed it with. */
  readonly order: number;
  /** Which magazine holds it. */
  readonly where: 'loaded' | 'prev' | 'depot';
}

/** Options of {@link IovaDomain}. */
export interface IovaDomainOptions {
  /** The kernel's `PAGE_SIZE` in bytes (default: the platform's 4 KiB); a 64 KiB-page arm64 kernel passes 65536. */
  readonly pageSizeBytes?: number;
  /** Where WARNs and refusals are logged (default: a log of the domain's own). */
  readonly dmesg?: Dmesg;
}

/** `iova_rcache_range`: the largest size in bytes the range caches serve, `PAGE_SIZE << (IOVA_RANGE_CACHE_MAX_SIZE - 1)` (what `iommu_dma_opt_mapping_size` reports). It uses the kernel's page size, not a domain's granule. */
export function iovaRcacheRange(pageSizeBytes: number = PAGE_SIZE): number {
  return pageSizeBytes * 2 ** (IOVA_RANGE_CACHE_MAX_SIZE - 1);
}

/** `fls_long`: 1-based index of the highest set bit, 0 for 0. */
function flsLong(n: number): number {
  let bits = 0;
  while (bits < 64 && 2 ** bits <= n) bits++;
  return bits;
}

/** `order_base_2`: the smallest `k` with `2^k >= n` (0 for 0 and 1). */
function orderBase2(n: number): number {
  return n <= 1 ? 0 : flsLong(n - 1);
}

/** True for a non-negative integer the model can do exact arithmetic on. */
function isPfnValue(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

/** A tree node (`struct iova` with its `rb_node`). */
interface IovaNode {
  pfnLo: number;
  pfnHi: number;
  reserved: boolean;
}

/** A magazine: up to {@link IOVA_MAG_SIZE} start pfns of cached ranges, a stack whose top is the last element. */
interface Magazine {
  pfns: number[];
}

/** The caches of one order (`struct iova_rcache` with this CPU's `struct iova_cpu_rcache`). */
interface RangeCache {
  loaded: Magazine;
  prev: Magazine;
  /** Full magazines; the top (last element) is the list head. */
  depot: Magazine[];
  /** The delayed depot work is scheduled. */
  workPending: boolean;
}

/**
 * `struct iova_domain`: one IOVA space, from `startPfn` up, in page frames
 * of `granuleBytes`.
 *
 * @see drivers/iommu/iova.c init_iova_domain
 */
export class IovaDomain {
  /** `granule`: bytes per IOVA page frame. */
  readonly granuleBytes: number;
  /** `iova_shift`: log2 of the granule. */
  readonly shift: number;
  /** `start_pfn`: the lowest pfn an allocation may use. */
  readonly startPfn: number;
  /** `dma_32bit_pfn`: the first pfn at or above 4 GiB. */
  readonly dma32BitPfn: number;
  /** The kernel's `PAGE_SIZE`, in bytes. */
  readonly pageSizeBytes: number;
  /** WARNs the kernel would print and the model's refusals, with bracketed evidence. */
  readonly dmesg: Dmesg;

  /** Tree nodes sorted by `pfnLo`, the anchor last. */
  private nodes: IovaNode[];
  private readonly anchor: IovaNode = { pfnLo: IOVA_ANCHOR_PFN, pfnHi: IOVA_ANCHOR_PFN, reserved: false };
  /** `cached_node`: where a walk with a limit above 4 GiB starts. */
  private cachedNode: IovaNode;
  /** `cached32_node`: where a walk with a limit at or below 4 GiB starts. */
  private cached32Node: IovaNode;
  /** `max32_alloc_size`: a walk with a limit at or below 4 GiB for this many pfns or more fails at once. */
  private max32AllocSize: number;
  /** `rcaches`, one per order; null before {@link initRcaches}. */
  private rcaches: RangeCache[] | null = null;
  /** Start pfns in any magazine, for refusing double frees. */
  private readonly cachedPfns = new Set<number>();

  /**
   * `init_iova_domain`.
   *
   * The kernel BUGs when the granule is not a power of two or is larger than
   * `PAGE_SIZE` (IOVA pages must represent CPU pages exactly); the model
   * throws. `start_pfn` 0 is accepted by the kernel but no caller passes it
   * (dma-iommu uses 1): pfn 0 is `alloc_iova_fast`'s failure value, so the
   * model requires `startPfn >= 1` and IOVA 0 is never handed out.
   *
   * @param granuleBytes bytes per IOVA page frame: a power of two, >= 4096, <= the kernel's page size
   * @param startPfn lowest allocatable pfn, >= 1
   * @see drivers/iommu/iova.c init_iova_domain
   */
  constructor(granuleBytes: number, startPfn: number, options: IovaDomainOptions = {}) {
    const pageSizeBytes = options.pageSizeBytes ?? PAGE_SIZE;
    if (!isPowerOfTwo(pageSizeBytes) || pageSizeBytes < 4096) throw new RangeError(`IovaDomain: page size must be a power of two >= 4096 [page_size=${pageSizeBytes}]`);
    if (!isPowerOfTwo(granuleBytes) || granuleBytes < 4096 || granuleBytes > pageSizeBytes) {
      throw new RangeError(`kernel BUG at drivers/iommu/iova.c: init_iova_domain [granule=${granuleBytes}] [PAGE_SIZE=${pageSizeBytes}]`);
    }
    if (!Number.isSafeInteger(startPfn) || startPfn < 1) throw new RangeError(`IovaDomain: start_pfn must be >= 1 [start_pfn=${startPfn}]`);
    this.granuleBytes = granuleBytes;
    this.shift = Math.log2(granuleBytes);
    this.startPfn = startPfn;
    this.pageSizeBytes = pageSizeBytes;
    this.dma32BitPfn = 2 ** (32 - this.shift);
    this.max32AllocSize = this.dma32BitPfn;
    this.dmesg = options.dmesg ?? new Dmesg();
    this.nodes = [this.anchor];
    this.cachedNode = this.anchor;
    this.cached32Node = this.anchor;
  }

  /**
   * `iova_domain_init_rcaches`: set up the range caches (empty magazines, empty depots).
   * The kernel would leak the old caches if called twice; the model keeps them.
   * @returns 0
   * @see drivers/iommu/iova.c iova_domain_init_rcaches
   */
  initRcaches(): number {
    if (this.rcaches === null) {
      this.rcaches = Array.from({ length: IOVA_RANGE_CACHE_MAX_SIZE }, () => ({ loaded: { pfns: [] }, prev: { pfns: [] }, depot: [], workPending: false }));
    }
    return 0;
  }

  /** True once {@link initRcaches} ran (and {@link put} did not undo it). */
  get hasRcaches(): boolean {
    return this.rcaches !== null;
  }

  /** `max32_alloc_size`, in pfns: walks with a limit at or below 4 GiB for at least this many pfns fail without searching. Equals {@link dma32BitPfn} when nothing failed since the last free below 4 GiB. */
  get max32AllocSizePfns(): number {
    return this.max32AllocSize;
  }

  /** `iova_rcache_range` for this domain's kernel page size (see {@link iovaRcacheRange}); bytes. */
  iovaRcacheRangeBytes(): number {
    return iovaRcacheRange(this.pageSizeBytes);
  }

  // ---- include/linux/iova.h helpers ----

  /** `iova_size`: pfns in a range. */
  iovaSize(range: IovaRange): number {
    return range.pfnHi - range.pfnLo + 1;
  }

  /** `iova_offset`: the byte offset of `addr` inside its granule. */
  iovaOffset(addr: number): number {
    return addr % this.granuleBytes;
  }

  /** `iova_align`: `sizeBytes` rounded up to whole granules, in bytes. */
  iovaAlign(sizeBytes: number): number {
    return Math.ceil(sizeBytes / this.granuleBytes) * this.granuleBytes;
  }

  /** `iova_dma_addr`: the bus address of a range's first byte. */
  iovaDmaAddr(range: IovaRange): DmaAddr {
    return (range.pfnLo * this.granuleBytes) as DmaAddr;
  }

  /** `iova_pfn`: the pfn holding bus address `addr`. */
  iovaPfn(addr: number): number {
    return Math.floor(addr / this.granuleBytes);
  }

  // ---- the tree ----

  /** Index of the last node whose `pfnLo` is at most `pfn` (-1 when none). */
  private floorIndex(pfn: number): number {
    let lo = 0;
    let hi = this.nodes.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if ((this.nodes[mid] as IovaNode).pfnLo <= pfn) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  /** Index of a node in the tree. */
  private indexOfNode(node: IovaNode): number {
    const i = this.floorIndex(node.pfnLo);
    if (this.nodes[i] !== node) throw new Error(`iova: node not in tree [pfn_lo=${hex(node.pfnLo)}]`);
    return i;
  }

  /** `private_find_iova`: the node holding `pfn` (never the anchor), or undefined. */
  private nodeAt(pfn: number): IovaNode | undefined {
    if (!isPfnValue(pfn) || pfn >= IOVA_ANCHOR_PFN) return undefined;
    const n = this.nodes[this.floorIndex(pfn)];
    return n !== undefined && n !== this.anchor && pfn <= n.pfnHi ? n : undefined;
  }

  /** `__get_cached_rbnode`: where a walk below exclusive limit `limitExcl` starts. */
  private cachedNodeFor(limitExcl: number): IovaNode {
    return limitExcl <= this.dma32BitPfn ? this.cached32Node : this.cachedNode;
  }

  /** `__cached_rbnode_insert_update`. */
  private cachedInsertUpdate(node: IovaNode): void {
    if (node.pfnHi < this.dma32BitPfn) this.cached32Node = node;
    else this.cachedNode = node;
  }

  /** `__cached_rbnode_delete_update`: move the cached nodes off a node about to go (to the node after it) and reset `max32_alloc_size` for a free below 4 GiB. */
  private cachedDeleteUpdate(node: IovaNode, index: number): void {
    const next = this.nodes[index + 1] as IovaNode; // the anchor is never removed, so a next node exists
    const c32 = this.cached32Node;
    if (node === c32 || (node.pfnHi < this.dma32BitPfn && node.pfnLo >= c32.pfnLo)) this.cached32Node = next;
    if (node.pfnLo < this.dma32BitPfn) this.max32AllocSize = this.dma32BitPfn;
    if (node.pfnLo >= this.cachedNode.pfnLo) this.cachedNode = next;
  }

  /** `remove_iova`: take a node out of the tree. */
  private removeNode(node: IovaNode): void {
    const i = this.indexOfNode(node);
    this.cachedDeleteUpdate(node, i);
    this.nodes.splice(i, 1);
  }

  /**
   * `iova_find_limit`: where the retry walk starts. The kernel starts from
   * the anchor for a limit above 4 GiB and otherwise searches the tree for
   * a node at or just above the limit; any start at or above the first node
   * reaching the limit gives the same walk result, so the model takes that
   * first node (found by binary search).
   */
  private findLimitIndex(limitExcl: number): number {
    if (limitExcl > this.dma32BitPfn) return this.nodes.length - 1;
    let lo = 0;
    let hi = this.nodes.length - 1; // the anchor always qualifies
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.nodes[mid] as IovaNode).pfnHi >= limitExcl) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /**
   * `__alloc_and_insert_iova_range`: the top-down walk below exclusive limit
   * `limitExcl`, starting at the cached node and, if that finds nothing,
   * once more from the limit down to just above where the first walk began.
   * A failure records `max32_alloc_size = size` (for any limit, as the kernel does).
   */
  private allocAndInsert(size: number, limitExcl: number, sizeAligned: boolean): IovaNode | null {
    const align = sizeAligned ? 2 ** flsLong(size - 1) : 1;
    if (limitExcl <= this.dma32BitPfn && size >= this.max32AllocSize) return null;

    let currIdx = this.indexOfNode(this.cachedNodeFor(limitExcl));
    const retryPfn = (this.nodes[currIdx] as IovaNode).pfnHi;
    let highPfn = limitExcl;
    let lowPfn = this.startPfn;
    let newPfn = 0;
    let prevIdx = currIdx;
    for (let pass = 0; ; pass++) {
      // Walk down the gaps below each node until one fits (or the walk falls below lowPfn).
      for (;;) {
        highPfn = Math.min(highPfn, (this.nodes[currIdx] as IovaNode).pfnLo);
        // Below the size the kernel's unsigned subtraction wraps to a huge value: no node is above it, so the walk stops.
        newPfn = highPfn >= size ? Math.floor((highPfn - size) / align) * align : Number.POSITIVE_INFINITY;
        prevIdx = currIdx;
        currIdx--;
        const curr = this.nodes[currIdx];
        if (!(curr !== undefined && newPfn <= curr.pfnHi && newPfn >= lowPfn)) break;
      }
      if (highPfn >= size && newPfn >= lowPfn) break;
      // The kernel would retry again (forever) if retry_pfn + 1 were start_pfn; one retry is all that can succeed.
      if (pass === 0 && lowPfn === this.startPfn && retryPfn < limitExcl) {
        highPfn = limitExcl;
        lowPfn = retryPfn + 1;
        currIdx = this.findLimitIndex(limitExcl);
        continue;
      }
      this.max32AllocSize = size;
      return null;
    }
    const node: IovaNode = { pfnLo: newPfn, pfnHi: newPfn + size - 1, reserved: false };
    this.nodes.splice(prevIdx, 0, node);
    this.cachedInsertUpdate(node);
    return node;
  }

  /** Checks common to the allocators: a positive size, a limit at or above `startPfn` and below the anchor. Logs and returns false when bad. */
  private allocArgsOk(fn: string, sizePfns: number, limitPfn: number): boolean {
    if (Number.isSafeInteger(sizePfns) && sizePfns > 0 && isPfnValue(limitPfn) && limitPfn >= this.startPfn && limitPfn < IOVA_ANCHOR_PFN - 1) return true;
    this.dmesg.warn(`iova: ${fn} refused [size=${sizePfns}] [limit_pfn=${limitPfn}] [start_pfn=${hex(this.startPfn)}]`);
    return false;
  }

  /**
   * `alloc_iova`: take `sizePfns` pfns at the highest place at or below
   * `limitPfn` (inclusive) and at or above `startPfn`, walking down from the
   * cached node (the last allocation with a limit on the same side of 4 GiB)
   * and, when that finds nothing, once more from the limit. With
   * `sizeAligned` the start is a multiple of the size rounded up to a power
   * of two (`fls_long(size - 1)`); the range still has exactly `sizePfns`.
   *
   * A limit at or below 4 GiB fails without searching when an earlier walk
   * (with any limit) failed for `max32AllocSizePfns` pfns or fewer and
   * nothing below 4 GiB was freed since.
   *
   * Bad input, which the model refuses (null, nothing changes, a line in
   * {@link dmesg}): size 0 (the kernel inserts an inverted node, or shifts by
   * 64 when size-aligned), a limit below `startPfn` (the kernel walks, fails,
   * and records `max32_alloc_size = size`), a limit at or above
   * `IOVA_ANCHOR_PFN - 1` (in the kernel `~0UL + 1` wraps to 0 and fails).
   *
   * @param sizePfns pfns to allocate, >= 1
   * @param limitPfn highest pfn the range may use
   * @param sizeAligned align the start to the size rounded up to a power of two
   * @returns the range, or null when no room (or bad input)
   * @see drivers/iommu/iova.c alloc_iova
   */
  allocIova(sizePfns: number, limitPfn: number, sizeAligned: boolean): IovaRange | null {
    if (!this.allocArgsOk('alloc_iova', sizePfns, limitPfn)) return null;
    const node = this.allocAndInsert(sizePfns, limitPfn + 1, sizeAligned);
    return node === null ? null : { pfnLo: node.pfnLo, pfnHi: node.pfnHi };
  }

  /**
   * `find_iova`: the range in the tree holding `pfn` (allocated, reserved or
   * cached), or null.
   * @see drivers/iommu/iova.c find_iova
   */
  findIova(pfn: number): IovaRange | null {
    const n = this.nodeAt(pfn);
    return n === undefined ? null : { pfnLo: n.pfnLo, pfnHi: n.pfnHi };
  }

  /**
   * `__free_iova`: free the tree node that is exactly `range` (as returned
   * by {@link allocIova}, {@link findIova} or {@link reserveIova}).
   *
   * The kernel takes a `struct iova *` and trusts it: a stale pointer is a
   * use after free, and freeing a range a cache holds lets it be handed out
   * twice. The model refuses (false, logged) a range that is not a node of
   * the tree or that a range cache holds.
   * @returns true when freed
   * @see drivers/iommu/iova.c __free_iova
   */
  freeIovaRange(range: IovaRange): boolean {
    const n = this.nodeAt(range.pfnLo);
    if (n === undefined || n.pfnLo !== range.pfnLo || n.pfnHi !== range.pfnHi) {
      this.dmesg.warn(`iova: __free_iova of a range not in the tree refused [pfn_lo=${hex(range.pfnLo)}] [pfn_hi=${hex(range.pfnHi)}]`);
      return false;
    }
    return this.freeNode(n, '__free_iova');
  }

  /**
   * `free_iova`: free the tree node holding `pfn` (any pfn of it). A pfn in
   * no node does nothing, as in the kernel. The model refuses (false,
   * logged) a node a range cache holds: the kernel would free it while the
   * cache still hands it out, so the same IOVA could be allocated twice.
   * Freeing a reserved node releases the reservation, as in the kernel.
   * @returns true when freed
   * @see drivers/iommu/iova.c free_iova
   */
  freeIova(pfn: number): boolean {
    const n = this.nodeAt(pfn);
    if (n === undefined) return false;
    return this.freeNode(n, 'free_iova');
  }

  private freeNode(n: IovaNode, fn: string): boolean {
    if (this.cachedPfns.has(n.pfnLo)) {
      this.dmesg.warn(`iova: ${fn} of a range held by the range cache refused [pfn_lo=${hex(n.pfnLo)}] [pfn_hi=${hex(n.pfnHi)}]`);
      return false;
    }
    this.removeNode(n);
    return true;
  }

  /**
   * `reserve_iova`: keep `pfnLo`..`pfnHi` (inclusive) out of every
   * allocation, e.g. an MSI doorbell window or a gap between `dma-ranges`.
   * Overlaps merge as the kernel merges them: walking the nodes upwards,
   * the first node overlapping the request is stretched down to the
   * request's start; while the request reaches past a node, the rest of it
   * starts just above that node and the next overlapping node is stretched
   * down to there (filling the gap); what is left above the last
   * overlapping node becomes a new node. Stretched nodes may be
   * allocations: they then carry the reservation, and freeing them frees it.
   * Reserving does not move the cached nodes.
   *
   * The kernel WARNs and returns NULL when a pfn is beyond 64 bits of
   * address (`> ULLONG_MAX >> shift`); the model does the same. It also
   * refuses (null, logged, nothing changes) `pfnLo > pfnHi`, for which the
   * kernel inserts an inverted node, and a request overlapping a range a
   * cache holds, which the kernel stretches so that the cache's start pfn
   * is no longer the node's start (the model's caches are keyed by it).
   * dma-iommu reserves only while setting a domain up, before any mapping.
   *
   * @returns the node covering the top of the request (a new one, or the existing node it fell inside), or null
   * @see drivers/iommu/iova.c reserve_iova
   */
  reserveIova(pfnLo: number, pfnHi: number): IovaRange | null {
    const maxPfn = 2 ** (64 - this.shift) - 1;
    if (!isPfnValue(pfnLo) || !isPfnValue(pfnHi) || pfnLo > maxPfn || pfnHi > maxPfn) {
      this.dmesg.warn(`WARNING: drivers/iommu/iova.c: reserve_iova: nonsensical pfns [pfn_lo=${pfnLo}] [pfn_hi=${pfnHi}]`);
      return null;
    }
    if (pfnLo > pfnHi) {
      this.dmesg.warn(`iova: reserve_iova of an inverted range refused [pfn_lo=${hex(pfnLo)}] [pfn_hi=${hex(pfnHi)}]`);
      return null;
    }
    const cached = this.nodes.find((n) => pfnLo <= n.pfnHi && pfnHi >= n.pfnLo && this.cachedPfns.has(n.pfnLo));
    if (cached !== undefined) {
      this.dmesg.warn(`iova: reserve_iova over a range held by the range cache refused [pfn_lo=${hex(pfnLo)}] [pfn_hi=${hex(pfnHi)}] [cached=${hex(cached.pfnLo)}..${hex(cached.pfnHi)}]`);
      return null;
    }
    let lo = pfnLo;
    let overlap = false;
    let i = 0;
    for (; i < this.nodes.length; i++) {
      const n = this.nodes[i] as IovaNode;
      if (lo <= n.pfnHi && pfnHi >= n.pfnLo) {
        // `__adjust_overlap_range`
        if (lo < n.pfnLo) n.pfnLo = lo;
        n.reserved = true;
        if (pfnHi > n.pfnHi) lo = n.pfnHi + 1;
        if (lo >= n.pfnLo && pfnHi <= n.pfnHi) return { pfnLo: n.pfnLo, pfnHi: n.pfnHi };
        overlap = true;
      } else if (overlap) break;
    }
    // `__insert_new_range`: the part above every overlapping node (or all of it).
    const node: IovaNode = { pfnLo: lo, pfnHi, reserved: true };
    this.nodes.splice(this.floorIndex(lo) + 1, 0, node);
    return { pfnLo: node.pfnLo, pfnHi: node.pfnHi };
  }

  // ---- range caches ----

  /**
   * `alloc_iova_fast`: a size-aligned range of `sizePfns` pfns at or below
   * `limitPfn` (inclusive), from the range cache when it has one.
   *
   * A size below 32 pfns is first rounded up to a power of two (so any range
   * cached in a bin has its bin's size). For an order below
   * {@link IOVA_RANGE_CACHE_MAX_SIZE} the cache of that order is asked: the
   * loaded magazine, else the previous one (swapped in), else a full one from
   * the depot; in that magazine, the most recently freed start pfn whose
   * range ends at or below the limit is taken (LIFO). If the chosen magazine
   * has none that fits, the tree is used even when another magazine would
   * have one. When `limitPfn + 1 < size` the kernel's limit for the
   * magazine search wraps around and any cached range of the order is
   * taken, whatever the limit; the model does the same.
   *
   * Otherwise {@link allocIova} (size-aligned). When that fails and
   * `flushRcache` is set, every cached range goes back to the tree
   * ({@link flushRcaches}) and the tree is tried once more.
   *
   * The model refuses (null, logged) bad input as {@link allocIova} does, and
   * a call before {@link initRcaches} (the kernel dereferences NULL).
   *
   * @param sizePfns pfns, >= 1
   * @param limitPfn highest pfn the range may use
   * @param flushRcache flush the caches and retry once on failure (dma-iommu passes false only for its first, 32-bit, try for PCI devices)
   * @returns the start pfn, or null (the kernel's 0)
   * @see drivers/iommu/iova.c alloc_iova_fast
   */
  allocIovaFast(sizePfns: number, limitPfn: number, flushRcache = true): number | null {
    if (!this.allocArgsOk('alloc_iova_fast', sizePfns, limitPfn)) return null;
    if (this.rcaches === null) {
      this.dmesg.warn(`iova: alloc_iova_fast before iova_domain_init_rcaches refused [size=${sizePfns}]`);
      return null;
    }
    let size = sizePfns;
    if (size < 2 ** (IOVA_RANGE_CACHE_MAX_SIZE - 1)) size = 2 ** orderBase2(size);

    const fromCache = this.rcacheGet(size, limitPfn + 1);
    if (fromCache !== 0) return fromCache;

    let node = this.allocAndInsert(size, limitPfn + 1, true);
    if (node === null && flushRcache) {
      this.flushRcaches();
      node = this.allocAndInsert(size, limitPfn + 1, true);
    }
    return node === null ? null : node.pfnLo;
  }

  /**
   * `free_iova_fast`: give back a range from {@link allocIovaFast}, by its
   * start pfn and the size the caller asked for. A range of order (`order_base_2(sizePfns)`)
   * below {@link IOVA_RANGE_CACHE_MAX_SIZE} goes into that order's loaded
   * magazine (swapping in the previous one when loaded is full; when both
   * are full, loaded goes to the depot, the depot trimming work is
   * scheduled, and a fresh magazine is loaded); it stays in the tree. A
   * larger range is freed as by {@link freeIova}. Before
   * {@link initRcaches} the model refuses (false, logged) where the kernel
   * dereferences NULL.
   *
   * The kernel caches whatever pfn it is given; a pfn that is not the start
   * of a live allocation of that order, or that is already cached, is later
   * handed out over memory someone else holds (or WARNs when flushed). The
   * model refuses (false, logged, nothing changes) a cacheable free whose
   * pfn is not the start of a tree node of exactly `2^order` pfns, or is
   * already cached; an uncacheable free of a pfn held by a cache, as
   * {@link freeIova} does.
   *
   * @returns true when cached or freed
   * @see drivers/iommu/iova.c free_iova_fast
   */
  freeIovaFast(pfn: number, sizePfns: number): boolean {
    if (!Number.isSafeInteger(sizePfns) || sizePfns < 1) {
      this.dmesg.warn(`iova: free_iova_fast refused [pfn=${pfn}] [size=${sizePfns}]`);
      return false;
    }
    if (this.rcaches === null) {
      this.dmesg.warn(`iova: free_iova_fast before iova_domain_init_rcaches refused [pfn=${pfn}] [size=${sizePfns}]`);
      return false;
    }
    const order = orderBase2(sizePfns);
    if (order >= IOVA_RANGE_CACHE_MAX_SIZE) return this.freeIova(pfn);
    const n = this.nodeAt(pfn);
    if (n === undefined || n.pfnLo !== pfn || n.pfnHi - n.pfnLo + 1 !== 2 ** order || this.cachedPfns.has(pfn)) {
      const why = n === undefined ? 'not allocated' : this.cachedPfns.has(pfn) ? 'already cached' : `node is ${hex(n.pfnLo)}..${hex(n.pfnHi)}`;
      this.dmesg.warn(`iova: free_iova_fast refused (${why}) [pfn=${hex(pfn)}] [size=${sizePfns}]`);
      return false;
    }
    this.rcacheInsert(this.rcaches[order] as RangeCache, pfn);
    return true;
  }

  /** `__iova_rcache_insert` for one CPU; never fails (magazine allocation is not modelled). */
  private rcacheInsert(rc: RangeCache, pfn: number): void {
    if (rc.loaded.pfns.length === IOVA_MAG_SIZE) {
      if (rc.prev.pfns.length !== IOVA_MAG_SIZE) {
        [rc.loaded, rc.prev] = [rc.prev, rc.loaded];
      } else {
        rc.depot.push(rc.loaded);
        rc.workPending = true;
        rc.loaded = { pfns: [] };
      }
    }
    rc.loaded.pfns.push(pfn);
    this.cachedPfns.add(pfn);
  }

  /** `iova_rcache_get`: a cached start pfn for `size` below exclusive limit `limitExcl`, or 0. */
  private rcacheGet(size: number, limitExcl: number): number {
    const order = orderBase2(size);
    if (this.rcaches === null || order >= IOVA_RANGE_CACHE_MAX_SIZE) return 0;
    const rc = this.rcaches[order] as RangeCache;
    // `__iova_rcache_get`
    if (rc.loaded.pfns.length === 0) {
      if (rc.prev.pfns.length !== 0) [rc.loaded, rc.prev] = [rc.prev, rc.loaded];
      else {
        const full = rc.depot.pop();
        if (full === undefined) return 0;
        rc.loaded = full; // the empty loaded magazine is freed
      }
    }
    // `iova_magazine_pop`: the highest slot whose pfn fits, swapped out with the last.
    const highestStart = limitExcl >= size ? limitExcl - size : Number.POSITIVE_INFINITY;
    const pfns = rc.loaded.pfns;
    for (let i = pfns.length - 1; i >= 0; i--) {
      const p = pfns[i] as number;
      if (p <= highestStart) {
        const last = pfns.pop() as number;
        if (i < pfns.length) pfns[i] = last;
        this.cachedPfns.delete(p);
        return p;
      }
    }
    return 0;
  }

  /** `iova_magazine_free_pfns`: free every range of a magazine to the tree, in slot order, and empty it. */
  private magazineFreePfns(mag: Magazine): void {
    for (const p of mag.pfns) {
      this.cachedPfns.delete(p);
      const n = this.nodeAt(p);
      if (n === undefined) {
        this.dmesg.warn(`WARNING: drivers/iommu/iova.c: iova_magazine_free_pfns: cached pfn not in tree [pfn=${hex(p)}]`);
        continue;
      }
      this.removeNode(n);
    }
    mag.pfns = [];
  }

  /**
   * `free_cpu_cached_iovas` (this CPU): free the ranges of every order's
   * loaded and previous magazines to the tree.
   * @see drivers/iommu/iova.c free_cpu_cached_iovas
   */
  freeCpuCachedIovas(): void {
    for (const rc of this.rcaches ?? []) {
      this.magazineFreePfns(rc.loaded);
      this.magazineFreePfns(rc.prev);
    }
  }

  /**
   * `free_global_cached_iovas`: free the ranges of every depot magazine to
   * the tree, head first, and drop the magazines.
   * @see drivers/iommu/iova.c free_global_cached_iovas
   */
  freeGlobalCachedIovas(): void {
    for (const rc of this.rcaches ?? []) {
      for (let mag = rc.depot.pop(); mag !== undefined; mag = rc.depot.pop()) this.magazineFreePfns(mag);
    }
  }

  /** What `alloc_iova_fast` does before its retry: {@link freeCpuCachedIovas} then {@link freeGlobalCachedIovas}. Every cached range is back in the tree afterwards. */
  flushRcaches(): void {
    this.freeCpuCachedIovas();
    this.freeGlobalCachedIovas();
  }

  /**
   * Run the pending depot-trimming work once per order
   * (`iova_depot_work_func`, scheduled `IOVA_DEPOT_DELAY` = 100 ms after a
   * magazine enters the depot): when the depot holds more magazines than
   * there are online CPUs, free the ranges of its head magazine to the tree
   * and reschedule. The model has no clock: the caller decides when the
   * delay has passed.
   * @param onlineCpus `num_online_cpus()`
   * @returns magazines trimmed
   * @see drivers/iommu/iova.c iova_depot_work_func
   */
  runDepotWork(onlineCpus = 1): number {
    let trimmed = 0;
    for (const rc of this.rcaches ?? []) {
      if (!rc.workPending) continue;
      rc.workPending = false;
      if (rc.depot.length > onlineCpus) {
        this.magazineFreePfns(rc.depot.pop() as Magazine);
        rc.workPending = true;
        trimmed++;
      }
    }
    return trimmed;
  }

  /** True while some order's depot work is scheduled. */
  get depotWorkPending(): boolean {
    return (this.rcaches ?? []).some((rc) => rc.workPending);
  }

  /**
   * `put_iova_domain`: drop the range caches (their ranges are not freed
   * one by one) and every node. The model leaves the domain as freshly
   * initialised, without range caches.
   * @see drivers/iommu/iova.c put_iova_domain
   */
  put(): void {
    this.rcaches = null;
    this.cachedPfns.clear();
    this.nodes = [this.anchor];
    this.cachedNode = this.anchor;
    this.cached32Node = this.anchor;
    this.max32AllocSize = this.dma32BitPfn;
  }

  // ---- accounting (not kernel functions) ----

  /** Every node of the tree but the anchor, sorted by `pfnLo`: live allocations, reservations, and cached ranges. */
  allocatedRanges(): IovaNodeInfo[] {
    return this.nodes.filter((n) => n !== this.anchor).map((n) => ({ pfnLo: n.pfnLo, pfnHi: n.pfnHi, reserved: n.reserved, cached: this.cachedPfns.has(n.pfnLo) }));
  }

  /** The nodes made or grown by {@link reserveIova}, sorted. */
  reservedRanges(): IovaRange[] {
    return this.nodes.filter((n) => n.reserved).map((n) => ({ pfnLo: n.pfnLo, pfnHi: n.pfnHi }));
  }

  /** The ranges the range caches hold, sorted by `pfnLo`. */
  cachedRanges(): CachedIovaRange[] {
    const out: CachedIovaRange[] = [];
    (this.rcaches ?? []).forEach((rc, order) => {
      const add = (mag: Magazine, where: CachedIovaRange['where']): void => {
        for (const p of mag.pfns) {
          const n = this.nodeAt(p);
          out.push({ pfnLo: p, pfnHi: n === undefined ? p : n.pfnHi, order, where });
        }
      };
      add(rc.loaded, 'loaded');
      add(rc.prev, 'prev');
      for (const m of rc.depot) add(m, 'depot');
    });
    return out.sort((a, b) => a.pfnLo - b.pfnLo);
  }

  /** Pfns handed out to callers and not given back: tree nodes that are neither reserved nor cached. Zero once every mapping is unmapped (the leak check). */
  totalAllocatedPfns(): number {
    let total = 0;
    for (const n of this.nodes) if (n !== this.anchor && !n.reserved && !this.cachedPfns.has(n.pfnLo)) total += n.pfnHi - n.pfnLo + 1;
    return total;
  }
}
