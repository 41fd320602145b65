/**
 * dma-debug (kernel/dma/debug.c, `CONFIG_DMA_API_DEBUG`): the kernel's
 * run-time checker of DMA-API use. Every mapping and allocation is recorded
 * as an entry; every unmap, free and sync is checked against the recorded
 * entries, and each misuse is reported with `err_printk` as one line of text
 * with bracketed evidence. The model exists so that a conformance run can
 * say what a real kernel with dma-debug on would have printed for a driver's
 * call sequence, check by check (D1–D23 of the project's catalog).
 *
 * Version followed: mainline from v6.18 on, read in the 2026 mainline
 * snapshot of kernel/dma/debug.c (where v6.6 and mainline differ, mainline
 * wins):
 * - v6.18 (`dma_map_phys`) types every `debug_dma_map_phys` entry "phy",
 *   whether the driver called `dma_map_page`, `dma_map_single` or
 *   `dma_map_resource` (the "single" and "resource" entry types are gone;
 *   "single" survives only as the type of a single-sync lookup key).
 *   {@link DmaDebugOptions.preV618EntryTypes} restores the older typing.
 * - The containing lookup of syncs walks back through at most
 *   `min(HASH_SIZE, (addr >> HASH_FN_SHIFT) + 1)` buckets (older kernels
 *   stopped after `dma_get_max_seg_size` bytes).
 * - `check_sg_segment` runs unconditionally (no `CONFIG_DMA_API_DEBUG_SG`).
 * - Cacheline overlaps are exempt from D21 when both mappings carry
 *   `DMA_ATTR_DEBUGGING_IGNORE_CACHELINES` or `DMA_ATTR_REQUIRE_COHERENT`
 *   (2026; before that `DMA_ATTR_CPU_CACHE_CLEAN`, before v6.19 nothing),
 *   and when small kmalloc buffers are bounced.
 * - A coherent or non-coherent (pages) free at a different CPU address is
 *   reported (older kernels checked coherent entries only).
 *
 * Mechanics modelled as the kernel has them: the hash of 16384 buckets
 * keyed by `dev_addr >> 13` shared by all devices, each bucket in insertion
 * order; the best-fit lookup (`__hash_bucket_find`), which returns a
 * perfect match on {size, type, direction, sg_call_ents} at once, the only
 * candidate when there is exactly one, and nothing when several candidates
 * match without a perfect one; the side effect of the `dma_mapping_error()`
 * calls inside the map and unmap hooks (they mark a pending entry at the
 * same address checked); cacheline tracking keyed by the first cache line
 * of each entry with a 3-bit overlap count; entries removed on unmap even
 * when errors were reported; entries kept on driver unbind.
 *
 * Reporting: every `err_printk` becomes one {@link DebugReport} (as with
 * debugfs `all_errors=1`, no driver filter); the message is the kernel's
 * text after the `DMA-API: <driver> <device>: ` prefix, without the trailing
 * newline. The overlap-count overflow (D22) is a one-shot `WARN_ONCE` in the
 * kernel and is reported once per {@link DmaDebug}. Pointers that the kernel
 * prints with `%p` (hashed) are printed unhashed, as `%px` would.
 *
 * Not modelled: dma-debug's own allocation failures (D24 "cacheline
 * tracking ENOMEM", D25 "debugging out of memory", D26 the pool-growth leak
 * hint), the driver filter, `num_errors`, the stack traces of the entries,
 * `dma_debug=off`, the debugfs dump, and the 2026 check that
 * `dma_map_resource` is not given RAM (`DMA_ATTR_MMIO` on a valid,
 * non-reserved pfn). Where a mapped kernel address lies (stack, rodata,
 * vmalloc, invalid) is decided by the platform and passed in
 * ({@link KernelAreaKind}); per-device coherent pool allocations are never
 * passed in (the core returns before the debug hook).
 *
 * @see kernel/dma/debug.c
 */
import { isPowerOfTwo } from '../../../platform/types.ts';
import {
  DMA_ATTR_DEBUGGING_IGNORE_CACHELINES,
  DMA_ATTR_REQUIRE_COHERENT,
  DMA_ATTR_SKIP_CPU_SYNC,
  DMA_BIDIRECTIONAL,
  DMA_FROM_DEVICE,
  DMA_MAPPING_ERROR,
  DMA_TO_DEVICE,
  type DmaDataDirection,
  dirToString,
} from '../../include/linux/dma-mapping.ts';

/* ------------------------------------------------------------------ */
/* Public types                                                         */
/* ------------------------------------------------------------------ */

/** A dma-debug check of the catalog (D24–D26, dma-debug's own failures, are not modelled). */
export type DebugCheck =
  | 'D1'
  | 'D2'
  | 'D3'
  | 'D4'
  | 'D5'
  | 'D6'
  | 'D7'
  | 'D8'
  | 'D9'
  | 'D10'
  | 'D11'
  | 'D12'
  | 'D13'
  | 'D14'
  | 'D15'
  | 'D16'
  | 'D17'
  | 'D18'
  | 'D19'
  | 'D20'
  | 'D21'
  | 'D22'
  | 'D23';

/** One err_printk: the check, the device, the kernel's message text with bracketed evidence. */
export interface DebugReport {
  readonly check: DebugCheck;
  /** Name of the device the kernel names in the prefix (for D22, the device of the mapping that overflowed). */
  readonly dev: string;
  /** The text after `DMA-API: <driver> <device>: `, without the trailing newline (D23 has two lines). */
  readonly message: string;
}

/**
 * What dma-debug types an entry as (debug.c `type2name`): `single`
 * (`dma_map_page`/`dma_map_single` before v6.18), `sg` ("scatter-gather"),
 * `coherent` (`dma_alloc_coherent`), `resource` (`dma_map_resource` before
 * v6.18), `noncoherent` (`dma_alloc_pages`), and `phy` (every
 * `debug_dma_map_phys` entry from v6.18 on).
 */
export type DebugEntryType = 'single' | 'sg' | 'coherent' | 'resource' | 'noncoherent' | 'phy';

/** Where a mapped kernel address lies, for D15–D18 (the platform classifies). */
export type KernelAreaKind = 'linear' | 'vmalloc' | 'stack' | 'rodata' | 'invalid';

/** The machine and device facts dma-debug consults. */
export interface DmaDebugOptions {
  /** L1_CACHE_BYTES of the machine: the granule of cacheline tracking (D21/D22). A power of two. */
  readonly cacheLineBytes: number;
  /**
   * True when small kmalloc buffers may share cache lines legitimately:
   * `dma_get_cache_alignment() < L1_CACHE_BYTES`, or
   * `CONFIG_DMA_BOUNCE_UNALIGNED_KMALLOC` with swiotlb active. D21 is then
   * never reported. Default false.
   */
  readonly bounceUnalignedKmalloc?: boolean;
  /**
   * The device's dma_parms, for D19/D20: `dma_get_max_seg_size` in bytes
   * and `dma_get_seg_boundary` as a mask (0, or 2^53 - 1 and above, mean
   * "no boundary": all 64 bits set).
   */
  readonly deviceParms: (dev: string) => { readonly maxSegmentSizeBytes: number; readonly segmentBoundaryMask: number };
  /**
   * Type entries as kernels before v6.18 did: `mapPhys`/`unmapPhys` use
   * their `type` argument (`single` or `resource`, so a page mapping
   * released with `dma_unmap_resource` is D4), and the sg type is printed
   * with its old spelling "scather-gather". Only the typing changes; other
   * pre-v6.18 differences are not modelled. Default false (mainline: "phy").
   */
  readonly preV618EntryTypes?: boolean;
}

/** One scatterlist entry as the driver passed it and the DMA layer filled it. Bytes and bus/physical addresses. */
export interface DebugSgEntry {
  /** `sg_phys`: CPU physical address of the segment. */
  readonly phys: number;
  /** CPU-side length (`sg->length`), bytes. */
  readonly lengthBytes: number;
  /** `sg_dma_address`. */
  readonly dmaAddress: number;
  /** `sg_dma_len`, bytes. */
  readonly dmaLengthBytes: number;
}

/** Whether `dma_mapping_error()` was called for an entry (debug.c `map_err_types`). */
export type MapErrState = 'not-applicable' | 'not-checked' | 'checked';

/** A read-only view of one live entry (`struct dma_debug_entry`), for tests and reports. */
export interface DebugEntryView {
  readonly dev: string;
  readonly type: DebugEntryType;
  readonly dmaAddr: number;
  readonly sizeBytes: number;
  readonly dir: DmaDataDirection;
  /** Physical address of the first byte (`paddr`). */
  readonly phys: number;
  /** `nents` the driver passed to `dma_map_sg` (0 for other types). */
  readonly sgCallEnts: number;
  /** What `dma_map_sg` returned (0 for other types). */
  readonly sgMappedEnts: number;
  readonly mapErr: MapErrState;
}

/**
 * The fixed part of each check's kernel message (the words before the
 * evidence), so that reports can be matched by text. Each is a substring of
 * every {@link DebugReport.message} of its check and of no other check's.
 */
export const DEBUG_CHECK_TEXT: Readonly<Record<DebugCheck, string>> = {
  D1: 'device driver tries to free an invalid DMA memory address',
  D2: 'device driver tries to free DMA memory it has not allocated',
  D3: 'device driver frees DMA memory with different size',
  D4: 'device driver frees DMA memory with wrong function',
  D5: 'device driver frees DMA memory with different CPU address',
  D6: 'device driver frees DMA sg list with different entry count',
  D7: 'device driver frees DMA memory with different direction',
  D8: 'device driver failed to check map error',
  D9: 'device driver tries to sync DMA memory it has not allocated',
  D10: 'device driver syncs DMA memory outside allocated range',
  D11: 'device driver syncs DMA memory with different direction',
  D12: 'device driver syncs device read-only DMA memory for cpu',
  D13: 'device driver syncs device write-only DMA memory to device',
  D14: 'device driver syncs DMA sg list with different entry count',
  D15: 'device driver maps memory from stack',
  D16: 'device driver maps memory from kernel text or rodata',
  D17: 'device driver maps memory from invalid area',
  D18: 'device driver maps memory from vmalloc area',
  D19: 'mapping sg segment longer than device claims to support',
  D20: 'mapping sg segment across boundary',
  D21: "cacheline tracking EEXIST, overlapping mappings aren't supported",
  D22: 'exceeded 7 overlapping mappings of cacheline',
  D23: 'device driver has pending DMA allocations while released from device',
};

const CHECKS = Object.keys(DEBUG_CHECK_TEXT) as DebugCheck[];

/**
 * The check a dma-debug message belongs to, by its fixed text.
 * @returns the check, or null when the text is none of D1–D23
 */
export function debugCheckOf(message: string): DebugCheck | null {
  return CHECKS.find((c) => message.includes(DEBUG_CHECK_TEXT[c])) ?? null;
}

/* ------------------------------------------------------------------ */
/* Constants and formatting                                             */
/* ------------------------------------------------------------------ */

/** Buckets of the entry hash (`HASH_SIZE`). */
export const DMA_DEBUG_HASH_SIZE = 16384;
/** log2 of the bytes of DMA address space one bucket covers (`HASH_FN_SHIFT`). */
export const DMA_DEBUG_HASH_FN_SHIFT = 13;
/** Largest overlap count one cache line records: 3 radix-tree tags (`ACTIVE_CACHELINE_MAX_OVERLAP`). */
export const ACTIVE_CACHELINE_MAX_OVERLAP = 7;

const BUCKET_BYTES = 2 ** DMA_DEBUG_HASH_FN_SHIFT;
const U64 = (1n << 64n) - 1n;

/** A value as a 64-bit unsigned: numbers at or above 2^53 - 1 (`DMA_MAPPING_ERROR`, "no limit") are all ones. */
function u64(n: number): bigint {
  if (n >= Number.MAX_SAFE_INTEGER) return U64;
  if (n <= 0) return 0n;
  return BigInt(Math.trunc(n));
}

/** `%016llx`: 16 zero-padded lower-case hex digits (the format supplies any `0x`). */
function x16(n: number | bigint): string {
  const v = typeof n === 'bigint' ? n & U64 : u64(n);
  return v.toString(16).padStart(16, '0');
}

/** `%pa` of a `phys_addr_t` on a 64-bit kernel: `0x` and 16 hex digits. */
function pa(n: number): string {
  return `0x${x16(n)}`;
}

/** `%p` printed unhashed (as `%px`): 16 hex digits; the kernel's placeholder when the model was not told the address. */
function ptr(n: number | undefined): string {
  return n === undefined ? '(____ptrval____)' : x16(n);
}

/* ------------------------------------------------------------------ */
/* The checker                                                          */
/* ------------------------------------------------------------------ */

/** One live entry: what {@link DebugEntryView} shows, and what only the checks need. */
interface Entry extends Omit<DebugEntryView, 'mapErr'> {
  /** Coherent: the CPU address handed out (the model's stand-in for the `virt_to_paddr` comparison when the free gives no physical address). */
  readonly cpuAddr: number | null;
  mapErr: MapErrState;
  /** `is_cache_clean`: mapped with DEBUGGING_IGNORE_CACHELINES or REQUIRE_COHERENT. */
  readonly cacheClean: boolean;
}

/** The on-stack reference entry of an unmap, free or sync. */
interface Ref {
  readonly dev: string;
  readonly type: DebugEntryType;
  readonly dmaAddr: number;
  readonly sizeBytes: number;
  readonly dir: DmaDataDirection;
  readonly sgCallEnts: number;
  /** Free of coherent or pages memory: the physical address freed, when known. */
  readonly phys: number | null;
  /** Free of coherent memory: the CPU address freed. */
  readonly cpuAddr: number | null;
}

/** One slot of the active-cacheline radix tree: the first entry's cleanliness and the overlap count (0–7). */
interface CachelineSlot {
  readonly ownerClean: boolean;
  overlap: number;
}

type Match = (ref: Ref, e: Entry) => boolean;

const exactMatch: Match = (ref, e) => e.dev === ref.dev && e.dmaAddr === ref.dmaAddr;
const containingMatch: Match = (ref, e) => e.dev === ref.dev && e.dmaAddr <= ref.dmaAddr && e.dmaAddr + e.sizeBytes >= ref.dmaAddr + ref.sizeBytes;

/**
 * The dma-debug state of one kernel: the entry hash, the active cachelines
 * and the reports so far. Each method is the `debug_dma_*` hook of the same
 * name, called by the DMA core with the arguments and result of the
 * driver's call; none of them throws or changes what the driver gets.
 * Sizes are bytes, addresses plain numbers (DMA addresses, physical
 * addresses, kernel virtual addresses as named).
 */
export class DmaDebug {
  private readonly buckets = new Map<number, Entry[]>();
  private readonly cachelines = new Map<number, CachelineSlot>();
  private readonly out: DebugReport[] = [];
  private live = 0;
  private errors = 0;
  private overlapWarned = false;

  /**
   * @param options the machine's cache line and the devices' dma_parms
   * @param sink called with each report as it is made (after it is recorded)
   * @throws RangeError when `cacheLineBytes` is not a power of two
   */
  constructor(
    private readonly options: DmaDebugOptions,
    private readonly sink?: (r: DebugReport) => void,
  ) {
    if (!isPowerOfTwo(options.cacheLineBytes)) throw new RangeError(`cacheLineBytes must be a power of two, not ${options.cacheLineBytes}`);
  }

  /** Every report so far, in order. */
  get reports(): readonly DebugReport[] {
    return this.out;
  }

  /** debugfs `error_count`: the err_printk calls so far (D22, a WARN_ONCE, is not counted). */
  get errorCount(): number {
    return this.errors;
  }

  /** Live entries, of one device or of all. */
  entryCount(dev?: string): number {
    if (dev === undefined) return this.live;
    let n = 0;
    for (const list of this.buckets.values()) for (const e of list) if (e.dev === dev) n++;
    return n;
  }

  /** Live entries in the kernel's walk order (bucket by bucket, each in insertion order), of one device or of all. */
  entries(dev?: string): DebugEntryView[] {
    const views: DebugEntryView[] = [];
    for (const idx of [...this.buckets.keys()].sort((a, b) => a - b)) {
      for (const e of this.buckets.get(idx) ?? []) {
        if (dev !== undefined && e.dev !== dev) continue;
        const { cpuAddr: _cpu, cacheClean: _clean, ...view } = e;
        views.push(view);
      }
    }
    return views;
  }

  /* ---------------------------- map side ---------------------------- */

  /**
   * `debug_dma_map_phys` (`dma_map_page`, `dma_map_single`,
   * `dma_map_resource`, `dma_map_phys`). First the `dma_mapping_error()`
   * test of the result, which as a side effect marks a pending entry at the
   * same address checked (see {@link mappingError}); a `DMA_MAPPING_ERROR`
   * result then adds nothing. Otherwise one entry, typed "phy" (or `type`
   * with {@link DmaDebugOptions.preV618EntryTypes}), waiting for
   * `dma_mapping_error()` (D8 at unmap otherwise), and its cache line
   * tracked (D21, D22). The stack and rodata checks are
   * {@link checkMappedArea}, called before this.
   * @see kernel/dma/debug.c debug_dma_map_phys
   */
  mapPhys(dev: string, phys: number, sizeBytes: number, dir: DmaDataDirection, dmaAddr: number, attrs: number, type: 'single' | 'resource' = 'single'): void {
    this.markChecked(dev, dmaAddr);
    if (dmaAddr === DMA_MAPPING_ERROR) return;
    this.add(this.entry(dev, this.phyType(type), dmaAddr, sizeBytes, dir, phys, null, 0, 0, 'not-checked', attrs), attrs);
  }

  /**
   * `debug_dma_map_single`: the virtual address handed to
   * `dma_map_single`. An address that is not in the linear map is D17; a
   * vmalloc address is also not in the linear map, so it is D17 and D18.
   * A vmapped stack is a vmalloc address: pass `vmalloc` for it. Note that
   * mainline `dma_map_single_attrs` refuses a vmalloc address (WARN once,
   * `DMA_MAPPING_ERROR`) before it calls this hook, so through
   * `dma_map_single` only D17 is reachable; the hook reports what
   * `debug_dma_map_single` itself would.
   * @param addr the kernel virtual address, for the evidence
   * @param lenBytes the length mapped, for the evidence (0 when not given)
   * @see kernel/dma/debug.c debug_dma_map_single
   */
  mapSingle(dev: string, area: KernelAreaKind, addr?: number, lenBytes = 0): void {
    if (area === 'invalid' || area === 'vmalloc') this.err('D17', dev, `${DEBUG_CHECK_TEXT.D17} [addr=${ptr(addr)}] [len=${lenBytes}]`);
    if (area === 'vmalloc') this.err('D18', dev, `${DEBUG_CHECK_TEXT.D18} [addr=${ptr(addr)}] [len=${lenBytes}]`);
  }

  /**
   * The address checks of `debug_dma_map_phys` and `debug_dma_map_sg` for
   * one non-MMIO range: on the current task's stack (D15), or intersecting
   * kernel text or rodata (D16, lowmem only: the caller passes `linear`
   * for highmem). Other areas are not checked on this path.
   * @param addr the kernel virtual address of the range, for the evidence
   * @param lenBytes its length, for the evidence of D16 (0 when not given)
   * @param vmappedStack the stack is vmapped: the kernel says "probable addr"
   * @see kernel/dma/debug.c check_for_stack, check_for_illegal_area
   */
  checkMappedArea(dev: string, area: KernelAreaKind, addr?: number, lenBytes = 0, vmappedStack = false): void {
    if (area === 'stack') this.err('D15', dev, `${DEBUG_CHECK_TEXT.D15} [${vmappedStack ? 'probable addr' : 'addr'}=${ptr(addr)}]`);
    else if (area === 'rodata') this.err('D16', dev, `${DEBUG_CHECK_TEXT.D16} [addr=${ptr(addr)}] [len=${lenBytes}]`);
  }

  /**
   * `debug_dma_mapping_error` (every `dma_mapping_error()` call): walks the
   * bucket of `dmaAddr` in insertion order and marks the first entry of
   * `dev` at exactly that address that is still waiting for the check;
   * nothing when there is none.
   * @see kernel/dma/debug.c debug_dma_mapping_error
   */
  mappingError(dev: string, dmaAddr: number): void {
    this.markChecked(dev, dmaAddr);
  }

  /**
   * `debug_dma_unmap_phys` (`dma_unmap_page`, `dma_unmap_single`,
   * `dma_unmap_resource`, `dma_unmap_phys`): `check_unmap` — D1, D2, D3,
   * D4, D7, D8 — then the entry is gone.
   * @param type which API released it; only used with {@link DmaDebugOptions.preV618EntryTypes}
   * @see kernel/dma/debug.c debug_dma_unmap_phys, check_unmap
   */
  unmapPhys(dev: string, dmaAddr: number, sizeBytes: number, dir: DmaDataDirection, type: 'single' | 'resource' = 'single'): void {
    this.checkUnmap({ dev, type: this.phyType(type), dmaAddr, sizeBytes, dir, sgCallEnts: 0, phys: null, cpuAddr: null });
  }

  /**
   * `debug_dma_map_sg`, called by the core only when `dma_map_sg`
   * succeeded (`mappedEnts > 0`; otherwise this does nothing). One entry
   * per mapped segment `i < mappedEnts`: at `sg[i]`'s DMA address and DMA
   * length, physical address `sg[i].phys`, with `sg_call_ents = nents` and
   * `sg_mapped_ents = mappedEnts`; for each, D19 (`sg[i].lengthBytes` over
   * the device's maximum segment) and D20 (the DMA segment crosses the
   * boundary mask), then its cache line (D21, D22). The stack and rodata
   * checks of all `nents` CPU entries are {@link checkMappedArea}.
   * @see kernel/dma/debug.c debug_dma_map_sg, check_sg_segment
   */
  mapSg(dev: string, sg: readonly DebugSgEntry[], nents: number, mappedEnts: number, dir: DmaDataDirection, attrs: number): void {
    const n = Math.min(mappedEnts, sg.length);
    for (let i = 0; i < n; i++) {
      const s = sg[i] as DebugSgEntry;
      const e = this.entry(dev, 'sg', s.dmaAddress, s.dmaLengthBytes, dir, s.phys, null, nents, mappedEnts, 'not-applicable', attrs);
      this.checkSgSegment(dev, s);
      this.add(e, attrs);
    }
  }

  /**
   * `debug_dma_unmap_sg`: the recorded mapped count is read from the
   * entry of `sg[0]` (0 when its lookup fails, and then every one of the
   * `nelems` entries is checked); `check_unmap` for each entry up to that
   * count, with `sg_call_ents = nelems` (D6 when it differs from the map's
   * `nents`). Entries beyond `sg.length` are not visited.
   * @see kernel/dma/debug.c debug_dma_unmap_sg
   */
  unmapSg(dev: string, sg: readonly DebugSgEntry[], nelems: number, dir: DmaDataDirection): void {
    let mapped = 0;
    const n = Math.min(nelems, sg.length);
    for (let i = 0; i < n; i++) {
      const ref = this.sgRef(dev, sg[i] as DebugSgEntry, nelems, dir);
      if (mapped !== 0 && i >= mapped) break;
      if (i === 0) mapped = this.nrMappedEntries(ref);
      this.checkUnmap(ref);
    }
  }

  /**
   * `debug_dma_alloc_coherent` after a successful `dma_alloc_coherent`:
   * one "coherent" entry, direction BIDIRECTIONAL, at physical address
   * `phys`, and its cache line tracked (D21, D22). A failed allocation
   * (`cpuAddr` null) adds nothing; so does one without a kernel mapping
   * (the kernel ignores CPU addresses that are neither linear nor vmalloc;
   * the caller passes null for those).
   * @see kernel/dma/debug.c debug_dma_alloc_coherent
   */
  allocCoherent(dev: string, sizeBytes: number, dmaAddr: number, cpuAddr: number | null, phys: number, attrs: number): void {
    if (cpuAddr === null) return;
    this.add(this.entry(dev, 'coherent', dmaAddr, sizeBytes, DMA_BIDIRECTIONAL, phys, cpuAddr, 0, 0, 'not-applicable', attrs), attrs);
  }

  /**
   * `debug_dma_free_coherent`: `check_unmap` with a coherent BIDIRECTIONAL
   * reference — D1–D4, D7 — and D5 when the CPU address differs from the
   * allocation's. The kernel compares the physical addresses behind the CPU
   * addresses; when `phys` is given that comparison is made, otherwise the
   * CPU addresses are compared. A null `cpuAddr` is not checked at all (the
   * kernel ignores addresses that are neither linear nor vmalloc).
   * @param phys `virt_to_paddr(cpuAddr)`, when the caller knows it
   * @see kernel/dma/debug.c debug_dma_free_coherent
   */
  freeCoherent(dev: string, sizeBytes: number, cpuAddr: number | null, dmaAddr: number, phys?: number): void {
    if (cpuAddr === null) return;
    this.checkUnmap({ dev, type: 'coherent', dmaAddr, sizeBytes, dir: DMA_BIDIRECTIONAL, sgCallEnts: 0, phys: phys ?? null, cpuAddr });
  }

  /**
   * `debug_dma_alloc_pages` after a successful `dma_alloc_pages` /
   * `dma_alloc_noncoherent`: one "noncoherent" entry with the caller's
   * direction, and its cache line tracked (D21, D22).
   * @param attrs the allocation's attributes (0 for these APIs)
   * @see kernel/dma/debug.c debug_dma_alloc_pages
   */
  allocPages(dev: string, phys: number, sizeBytes: number, dir: DmaDataDirection, dmaAddr: number, attrs = 0): void {
    this.add(this.entry(dev, 'noncoherent', dmaAddr, sizeBytes, dir, phys, null, 0, 0, 'not-applicable', attrs), attrs);
  }

  /**
   * `debug_dma_free_pages`: `check_unmap` — D1–D4, D7 — and D5 when `phys`
   * is not the allocation's.
   * @see kernel/dma/debug.c debug_dma_free_pages
   */
  freePages(dev: string, phys: number, sizeBytes: number, dir: DmaDataDirection, dmaAddr: number): void {
    this.checkUnmap({ dev, type: 'noncoherent', dmaAddr, sizeBytes, dir, sgCallEnts: 0, phys, cpuAddr: null });
  }

  /* ---------------------------- sync side --------------------------- */

  /**
   * `debug_dma_sync_single_for_cpu` (and `dma_sync_single_range_for_cpu`
   * with the offset added): `check_sync` towards the CPU — D9, D10, D11,
   * D12 — against the entry containing `[dmaAddr, dmaAddr + sizeBytes)`.
   * @see kernel/dma/debug.c debug_dma_sync_single_for_cpu, check_sync
   */
  syncSingleForCpu(dev: string, dmaAddr: number, sizeBytes: number, dir: DmaDataDirection): void {
    this.checkSync({ dev, type: 'single', dmaAddr, sizeBytes, dir, sgCallEnts: 0, phys: null, cpuAddr: null }, true);
  }

  /**
   * `debug_dma_sync_single_for_device`: `check_sync` towards the device —
   * D9, D10, D11, D13.
   * @see kernel/dma/debug.c debug_dma_sync_single_for_device, check_sync
   */
  syncSingleForDevice(dev: string, dmaAddr: number, sizeBytes: number, dir: DmaDataDirection): void {
    this.checkSync({ dev, type: 'single', dmaAddr, sizeBytes, dir, sgCallEnts: 0, phys: null, cpuAddr: null }, false);
  }

  /**
   * `debug_dma_sync_sg_for_cpu`: the mapped count is read from the entry
   * of `sg[0]` (when that lookup fails nothing at all is checked);
   * `check_sync` for each entry below it, with `sg_call_ents = nelems`
   * (D14 when it differs from the map's `nents`).
   * @see kernel/dma/debug.c debug_dma_sync_sg_for_cpu
   */
  syncSgForCpu(dev: string, sg: readonly DebugSgEntry[], nelems: number, dir: DmaDataDirection): void {
    this.syncSg(dev, sg, nelems, dir, true);
  }

  /**
   * `debug_dma_sync_sg_for_device`: as {@link syncSgForCpu}, towards the device.
   * @see kernel/dma/debug.c debug_dma_sync_sg_for_device
   */
  syncSgForDevice(dev: string, sg: readonly DebugSgEntry[], nelems: number, dir: DmaDataDirection): void {
    this.syncSg(dev, sg, nelems, dir, false);
  }

  /**
   * `dma_debug_device_change` on `BUS_NOTIFY_UNBOUND_DRIVER`: when `dev`
   * still has entries, one D23 naming their count and, as evidence, the
   * last of them in the kernel's walk (bucket by bucket in index order,
   * each bucket in insertion order). The entries stay.
   * @see kernel/dma/debug.c dma_debug_device_change, device_dma_allocations
   */
  driverUnbound(dev: string): void {
    let count = 0;
    let last: Entry | null = null;
    for (const idx of [...this.buckets.keys()].sort((a, b) => a - b)) {
      for (const e of this.buckets.get(idx) ?? []) {
        if (e.dev !== dev) continue;
        count++;
        last = e;
      }
    }
    if (last === null) return;
    this.err(
      'D23',
      dev,
      `${DEBUG_CHECK_TEXT.D23} [count=${count}]\nOne of leaked entries details: [device address=0x${x16(last.dmaAddr)}] [size=${last.sizeBytes} bytes] [mapped with ${dirToString(last.dir)}] [mapped as ${this.typeName(last.type)}]`,
    );
  }

  /* ---------------------------- internals --------------------------- */

  private phyType(type: 'single' | 'resource'): DebugEntryType {
    return this.options.preV618EntryTypes === true ? type : 'phy';
  }

  /** debug.c `type2name`. */
  private typeName(t: DebugEntryType): string {
    if (t === 'sg') return this.options.preV618EntryTypes === true ? 'scather-gather' : 'scatter-gather';
    return t;
  }

  private entry(
    dev: string,
    type: DebugEntryType,
    dmaAddr: number,
    sizeBytes: number,
    dir: DmaDataDirection,
    phys: number,
    cpuAddr: number | null,
    sgCallEnts: number,
    sgMappedEnts: number,
    mapErr: MapErrState,
    attrs: number,
  ): Entry {
    const cacheClean = (attrs & (DMA_ATTR_DEBUGGING_IGNORE_CACHELINES | DMA_ATTR_REQUIRE_COHERENT)) !== 0;
    return { dev, type, dmaAddr, sizeBytes, dir, phys, cpuAddr, sgCallEnts, sgMappedEnts, mapErr, cacheClean };
  }

  private sgRef(dev: string, s: DebugSgEntry, nelems: number, dir: DmaDataDirection): Ref {
    return { dev, type: 'sg', dmaAddr: s.dmaAddress, sizeBytes: s.dmaLengthBytes, dir, sgCallEnts: nelems, phys: s.phys, cpuAddr: null };
  }

  private err(check: DebugCheck, dev: string, message: string): void {
    if (check !== 'D22') this.errors++;
    const r: DebugReport = { check, dev, message };
    this.out.push(r);
    this.sink?.(r);
  }

  /** `hash_fn`: bits 13–26 of the DMA address. */
  private static bucketIndex(dmaAddr: number): number {
    return Math.floor(dmaAddr / BUCKET_BYTES) % DMA_DEBUG_HASH_SIZE;
  }

  private bucket(idx: number): Entry[] {
    return this.buckets.get(idx) ?? [];
  }

  /**
   * `__hash_bucket_find`: among the entries of one bucket that `match`,
   * a perfect fit on {size, type, direction, sg_call_ents} is returned at
   * once; otherwise the best fit when it is the only candidate; otherwise
   * (several candidates, none perfect) nothing.
   */
  private static bestFit(list: readonly Entry[], ref: Ref, match: Match): Entry | null {
    let best: Entry | null = null;
    let bestLevel = -1;
    let matches = 0;
    for (const e of list) {
      if (!match(ref, e)) continue;
      matches++;
      const level =
        (e.sizeBytes === ref.sizeBytes ? 1 : 0) + (e.type === ref.type ? 1 : 0) + (e.dir === ref.dir ? 1 : 0) + (e.sgCallEnts === ref.sgCallEnts ? 1 : 0);
      if (level === 4) return e;
      if (level > bestLevel) {
        bestLevel = level;
        best = e;
      }
    }
    return matches === 1 ? best : null;
  }

  /** `bucket_find_exact`. */
  private findExact(ref: Ref): Entry | null {
    return DmaDebug.bestFit(this.bucket(DmaDebug.bucketIndex(ref.dmaAddr)), ref, exactMatch);
  }

  /**
   * `bucket_find_contain`: the best fit among entries containing the
   * reference range, in the reference's bucket and then in each earlier
   * bucket, at most `min(HASH_SIZE, (addr >> 13) + 1)` buckets in all. A
   * bucket with several non-perfect candidates yields nothing and the walk
   * goes on to the previous one.
   */
  private findContaining(ref: Ref): Entry | null {
    const first = Math.floor(ref.dmaAddr / BUCKET_BYTES);
    const limit = Math.min(DMA_DEBUG_HASH_SIZE, first + 1);
    for (let i = 0; i < limit; i++) {
      const list = this.buckets.get((first - i) % DMA_DEBUG_HASH_SIZE);
      if (list === undefined) continue;
      const e = DmaDebug.bestFit(list, ref, containingMatch);
      if (e !== null) return e;
    }
    return null;
  }

  /** The walk of `debug_dma_mapping_error`. */
  private markChecked(dev: string, dmaAddr: number): void {
    for (const e of this.bucket(DmaDebug.bucketIndex(dmaAddr))) {
      if (e.dev !== dev || e.dmaAddr !== dmaAddr) continue;
      if (e.mapErr === 'not-checked') {
        e.mapErr = 'checked';
        return;
      }
    }
  }

  /** `get_nr_mapped_entries`. */
  private nrMappedEntries(ref: Ref): number {
    return this.findExact(ref)?.sgMappedEnts ?? 0;
  }

  /** `add_dma_entry`: into the hash, then the cache line (D22 from the count, D21 unless exempt). */
  private add(e: Entry, attrs: number): void {
    const idx = DmaDebug.bucketIndex(e.dmaAddr);
    const list = this.buckets.get(idx);
    if (list === undefined) this.buckets.set(idx, [e]);
    else list.push(e);
    this.live++;
    const existing = this.cachelineInsert(e);
    if (
      existing !== null &&
      (attrs & DMA_ATTR_SKIP_CPU_SYNC) === 0 &&
      !(e.cacheClean && existing.ownerClean) &&
      this.options.bounceUnalignedKmalloc !== true
    ) {
      this.err('D21', e.dev, DEBUG_CHECK_TEXT.D21);
    }
  }

  /** The entry leaves the hash and its cache line (`hash_bucket_del`, `dma_entry_free`). */
  private remove(e: Entry): void {
    const idx = DmaDebug.bucketIndex(e.dmaAddr);
    const list = this.buckets.get(idx);
    const i = list?.indexOf(e) ?? -1;
    if (list === undefined || i < 0) return;
    list.splice(i, 1);
    if (list.length === 0) this.buckets.delete(idx);
    this.live--;
    this.cachelineRemove(e);
  }

  /** `to_cacheline_number`: the index of the cache line holding the entry's first byte. */
  private cacheline(e: Entry): number {
    return Math.floor(e.phys / this.options.cacheLineBytes);
  }

  /**
   * `active_cacheline_insert`: TO_DEVICE entries are not tracked. A free
   * line takes the entry; an active one counts one more overlap (held in 3
   * bits: past 7 the count stays at 7 and, unless the new entry is clean,
   * the one-shot D22 fires).
   * @returns the slot already there (`-EEXIST`), or null
   */
  private cachelineInsert(e: Entry): CachelineSlot | null {
    if (e.dir === DMA_TO_DEVICE) return null;
    const cln = this.cacheline(e);
    const slot = this.cachelines.get(cln);
    if (slot === undefined) {
      this.cachelines.set(cln, { ownerClean: e.cacheClean, overlap: 0 });
      return null;
    }
    const overlap = slot.overlap + 1;
    if (overlap <= ACTIVE_CACHELINE_MAX_OVERLAP) slot.overlap = overlap;
    else if (!e.cacheClean && !this.overlapWarned) {
      this.overlapWarned = true;
      this.err('D22', e.dev, `exceeded ${ACTIVE_CACHELINE_MAX_OVERLAP} overlapping mappings of cacheline ${pa(cln)}`);
    }
    return slot;
  }

  /**
   * `active_cacheline_remove`: one overlap fewer; the line is freed when
   * the count would go below 0. The slot keeps the cleanliness of the entry
   * that created it even after that entry is gone, as the kernel's radix
   * tree keeps its pointer.
   */
  private cachelineRemove(e: Entry): void {
    if (e.dir === DMA_TO_DEVICE) return;
    const cln = this.cacheline(e);
    const slot = this.cachelines.get(cln);
    if (slot === undefined) return;
    if (slot.overlap === 0) this.cachelines.delete(cln);
    else slot.overlap--;
  }

  /** `check_unmap`: D1/D2 when no entry fits, else D3, D4 or D5, D6, D7, D8, and the entry is removed. */
  private checkUnmap(ref: Ref): void {
    const e = this.findExact(ref);
    const addr = `[device address=0x${x16(ref.dmaAddr)}]`;
    if (e === null) {
      // dma_mapping_error() on the handle, with its debug side effect.
      this.markChecked(ref.dev, ref.dmaAddr);
      if (ref.dmaAddr === DMA_MAPPING_ERROR) this.err('D1', ref.dev, DEBUG_CHECK_TEXT.D1);
      else this.err('D2', ref.dev, `${DEBUG_CHECK_TEXT.D2} ${addr} [size=${ref.sizeBytes} bytes]`);
      return;
    }
    if (ref.sizeBytes !== e.sizeBytes) {
      this.err('D3', ref.dev, `${DEBUG_CHECK_TEXT.D3} ${addr} [map size=${e.sizeBytes} bytes] [unmap size=${ref.sizeBytes} bytes]`);
    }
    if (ref.type !== e.type) {
      this.err('D4', ref.dev, `${DEBUG_CHECK_TEXT.D4} ${addr} [size=${ref.sizeBytes} bytes] [mapped as ${this.typeName(e.type)}] [unmapped as ${this.typeName(ref.type)}]`);
    } else if (e.type === 'coherent' || e.type === 'noncoherent') {
      // Physical addresses when the free names one, else the coherent buffer's CPU addresses.
      const [allocAt, freeAt] = ref.phys !== null || ref.cpuAddr === null ? [e.phys, ref.phys ?? 0] : [e.cpuAddr ?? e.phys, ref.cpuAddr];
      if (freeAt !== allocAt) {
        // The kernel's format puts a literal 0x before %pa, which prints its own.
        this.err('D5', ref.dev, `${DEBUG_CHECK_TEXT.D5} ${addr} [size=${ref.sizeBytes} bytes] [cpu alloc address=0x${pa(allocAt)}] [cpu free address=0x${pa(freeAt)}]`);
      }
    }
    if (ref.sgCallEnts !== 0 && ref.type === 'sg' && ref.sgCallEnts !== e.sgCallEnts) {
      this.err('D6', ref.dev, `${DEBUG_CHECK_TEXT.D6} [map count=${e.sgCallEnts}] [unmap count=${ref.sgCallEnts}]`);
    }
    if (ref.dir !== e.dir) {
      this.err('D7', ref.dev, `${DEBUG_CHECK_TEXT.D7} ${addr} [size=${ref.sizeBytes} bytes] [mapped with ${dirToString(e.dir)}] [unmapped with ${dirToString(ref.dir)}]`);
    }
    if (e.mapErr === 'not-checked') {
      // No space before the evidence: the kernel's format has none.
      this.err('D8', ref.dev, `${DEBUG_CHECK_TEXT.D8}${addr} [size=${ref.sizeBytes} bytes] [mapped as ${this.typeName(e.type)}]`);
    }
    this.remove(e);
  }

  /** `check_sync`: D9 when no entry contains the range, else D10, then (unless BIDIRECTIONAL) D11 and D12 or D13, and D14. */
  private checkSync(ref: Ref, toCpu: boolean): void {
    const e = this.findContaining(ref);
    const addr = `[device address=0x${x16(ref.dmaAddr)}]`;
    if (e === null) {
      this.err('D9', ref.dev, `${DEBUG_CHECK_TEXT.D9} ${addr} [size=${ref.sizeBytes} bytes]`);
      return;
    }
    if (ref.sizeBytes > e.sizeBytes) {
      this.err('D10', ref.dev, `${DEBUG_CHECK_TEXT.D10} [device address=0x${x16(e.dmaAddr)}] [allocation size=${e.sizeBytes} bytes] [sync offset+size=${ref.sizeBytes}]`);
    }
    if (e.dir === DMA_BIDIRECTIONAL) return;
    const dirs = `${addr} [size=${e.sizeBytes} bytes] [mapped with ${dirToString(e.dir)}] [synced with ${dirToString(ref.dir)}]`;
    if (ref.dir !== e.dir) this.err('D11', ref.dev, `${DEBUG_CHECK_TEXT.D11} ${dirs}`);
    if (toCpu && e.dir !== DMA_FROM_DEVICE && ref.dir !== DMA_TO_DEVICE) this.err('D12', ref.dev, `${DEBUG_CHECK_TEXT.D12} ${dirs}`);
    if (!toCpu && e.dir !== DMA_TO_DEVICE && ref.dir !== DMA_FROM_DEVICE) this.err('D13', ref.dev, `${DEBUG_CHECK_TEXT.D13} ${dirs}`);
    if (ref.sgCallEnts !== 0 && ref.type === 'sg' && ref.sgCallEnts !== e.sgCallEnts) {
      this.err('D14', ref.dev, `${DEBUG_CHECK_TEXT.D14} [map count=${e.sgCallEnts}] [sync count=${ref.sgCallEnts}]`);
    }
  }

  private syncSg(dev: string, sg: readonly DebugSgEntry[], nelems: number, dir: DmaDataDirection, toCpu: boolean): void {
    let mapped = 0;
    const n = Math.min(nelems, sg.length);
    for (let i = 0; i < n; i++) {
      const ref = this.sgRef(dev, sg[i] as DebugSgEntry, nelems, dir);
      if (i === 0) mapped = this.nrMappedEntries(ref);
      if (i >= mapped) break;
      this.checkSync(ref, toCpu);
    }
  }

  /** `check_sg_segment`: D19 on the CPU length, D20 on the DMA segment (64-bit arithmetic, as `u64`). */
  private checkSgSegment(dev: string, s: DebugSgEntry): void {
    const parms = this.options.deviceParms(dev);
    const maxSeg = parms.maxSegmentSizeBytes;
    if (s.lengthBytes > maxSeg) this.err('D19', dev, `${DEBUG_CHECK_TEXT.D19} [len=${s.lengthBytes}] [max=${maxSeg}]`);
    const boundary = parms.segmentBoundaryMask === 0 ? U64 : u64(parms.segmentBoundaryMask);
    const start = u64(s.dmaAddress);
    const end = (start + u64(s.dmaLengthBytes) - 1n) & U64;
    if (((start ^ end) & ~boundary & U64) !== 0n) {
      this.err('D20', dev, `${DEBUG_CHECK_TEXT.D20} [start=0x${x16(start)}] [end=0x${x16(end)}] [boundary=0x${x16(boundary)}]`);
    }
  }
}
