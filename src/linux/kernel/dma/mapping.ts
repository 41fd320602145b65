/**
 * The DMA-mapping core (kernel/dma/mapping.c and the inline wrappers of
 * include/linux/dma-mapping.h): every public entry point, each in the same
 * three steps — validate, direct-or-ops, debug hook. See kernel/dma/mapping.c
 * `dma_go_direct`, `dma_alloc_attrs`, `dma_free_attrs`, `dma_mmap_attrs`,
 * `dma_get_sgtable_attrs`, `dma_map_phys`, `__dma_sync_single_for_cpu`,
 * `dma_set_mask`, and the wrappers in include/linux/dma-mapping.h.
 *
 * Dispatch is decided separately for allocation (coherent mask,
 * `dma_alloc_direct`) and streaming (streaming mask, `dma_map_direct`), so a
 * device can allocate through one path and map through another
 * (kernel/dma/mapping.c `dma_go_direct`).
 *
 * Validation. The kernel's own checks are kept with the kernel's failure
 * values: `__GFP_COMP` (NULL), no `dma_mask` (`DMA_MAPPING_ERROR`, 0),
 * `DMA_ATTR_MMIO` on `dma_map_page_attrs`, a bad direction (a `BUG()` in the
 * kernel; here `DMA_MAPPING_ERROR` / 0 / no-op with the BUG text logged).
 * Beyond the kernel, the model keeps the table of live allocations and
 * mappings that dma-debug keeps ({@link LiveDmaTable}) and refuses calls the
 * kernel could only answer by corrupting memory: zero sizes, unmaps, frees and
 * syncs of handles it did not hand out or with a different size (R22, R40),
 * syncs outside the mapping (D9), mmap / get_sgtable of unknown buffers
 * (`-ENXIO`). A refused call logs one line with bracketed evidence and
 * changes nothing. Misuse the kernel lets through with a real effect — a
 * wrong direction on a live mapping, the CPU touching a device-owned buffer —
 * goes through, so the oracle can see what it does.
 */
import type { VmArea } from '../../../platform/user.ts';
import { type CpuAddr, type DmaAddr, type Pfn, type PhysAddr, getOrder, hex, maskLimit, minNotZero, pageAlign, pagesFor, pfnToPhys, physToPfn } from '../../../platform/types.ts';
import type { Device } from '../../include/linux/device.ts';
import { DMA_ALLOC_FAILED, type DmaAllocation } from '../../include/linux/dma-map-ops.ts';
import { DMA_ATTR_ALLOC_SINGLE_PAGES, DMA_ATTR_MMIO, DMA_ATTR_NON_CONSISTENT, DMA_ATTR_REQUIRE_COHERENT, DMA_MAPPING_ERROR, SIZE_MAX, type DmaDataDirection, dirToString, validDmaDirection } from '../../include/linux/dma-mapping.ts';
import { devIsDmaCoherent } from '../../include/linux/dma-map-ops.ts';
import { EINVAL, EIO, ENOMEM, ENXIO, EOPNOTSUPP, EREMOTEIO } from '../../include/linux/errno.ts';
import { __GFP_COMP, __GFP_DMA, __GFP_DMA32, __GFP_HIGHMEM, type Gfp } from '../../include/linux/gfp.ts';
import { type Scatterlist, type SgTable, sgEntry, sgTable } from '../../include/linux/scatterlist.ts';
import { dmaAllocFromDevCoherent, dmaDevCoherentOwns, dmaReleaseFromDevCoherent } from './coherent.ts';
import * as direct from './direct.ts';
import { dmaToPhys } from '../../include/linux/dma-direct.ts';

/* ------------------------------------------------------------------ */
/* Live allocations and mappings                                        */
/* ------------------------------------------------------------------ */

/**
 * Kind of a live entry, as dma-debug types them: `pages` is memory from
 * `dma_alloc_pages` / `dma_alloc_noncoherent` (dma-debug's "noncoherent"
 * type), owned like a streaming mapping and synced like one.
 */
export type LiveKind = 'coherent' | 'single' | 'sg' | 'pages';

/** One live allocation or mapping. Sizes in bytes. */
export interface LiveEntry {
  readonly dev: Device;
  readonly kind: LiveKind;
  /** DMA handle (coherent), DMA address (single), or first entry's DMA address (sg). */
  readonly dmaAddr: DmaAddr;
  readonly sizeBytes: number;
  readonly dir: DmaDataDirection;
  readonly attrs: number;
  /** Coherent: the CPU address (or cookie) handed out. */
  readonly cpuAddr: CpuAddr | null;
  /** Single: the physical address mapped. */
  readonly phys: PhysAddr | null;
  /** sg: the caller's list and the counts. */
  readonly sgl: Scatterlist[] | null;
  readonly nents: number;
  readonly mappedEnts: number;
}

/**
 * The table of live allocations and mappings of one kernel (dma-debug's
 * hash, without the checks). Exact lookups are keyed by (device, kind, DMA
 * address), so unmap and free cost no scan; a containing-range lookup for
 * partial syncs scans only the device's streaming mappings.
 */
export class LiveDmaTable {
  private readonly exact = new Map<string, LiveEntry[]>();
  private readonly singles = new Map<Device, Set<LiveEntry>>();
  private readonly sgs = new Map<Scatterlist[], LiveEntry>();
  private count = 0;

  private static key(dev: Device, kind: LiveKind, dmaAddr: number): string {
    return `${dev.name}|${kind}|${dmaAddr}`;
  }

  add(e: LiveEntry): void {
    const k = LiveDmaTable.key(e.dev, e.kind, e.dmaAddr);
    const same = this.exact.get(k);
    if (same === undefined) this.exact.set(k, [e]);
    else same.push(e);
    if (e.kind === 'single' || e.kind === 'pages') {
      let set = this.singles.get(e.dev);
      if (set === undefined) this.singles.set(e.dev, (set = new Set()));
      set.add(e);
    }
    if (e.sgl !== null) this.sgs.set(e.sgl, e);
    this.count++;
  }

  remove(e: LiveEntry): void {
    const k = LiveDmaTable.key(e.dev, e.kind, e.dmaAddr);
    const same = this.exact.get(k);
    const i = same?.indexOf(e) ?? -1;
    if (same === undefined || i < 0) return;
    same.splice(i, 1);
    if (same.length === 0) this.exact.delete(k);
    this.singles.get(e.dev)?.delete(e);
    if (e.sgl !== null) this.sgs.delete(e.sgl);
    this.count--;
  }

  /** The oldest entry of `kind` for `dev` at exactly `dmaAddr`, or undefined. */
  find(dev: Device, kind: LiveKind, dmaAddr: number): LiveEntry | undefined {
    return this.exact.get(LiveDmaTable.key(dev, kind, dmaAddr))?.[0];
  }

  /** The streaming (single) or non-coherent (pages) entry of `dev` containing `[addr, addr+size)`, or undefined (`bucket_find_contain`). */
  findContaining(dev: Device, addr: number, size: number): LiveEntry | undefined {
    for (const e of this.singles.get(dev) ?? []) {
      if (addr >= e.dmaAddr && addr + size <= e.dmaAddr + e.sizeBytes) return e;
    }
    return undefined;
  }

  /** The sg entry whose list is `sgl`, if it belongs to `dev`. */
  findSg(dev: Device, sgl: Scatterlist[]): LiveEntry | undefined {
    const e = this.sgs.get(sgl);
    return e?.dev === dev ? e : undefined;
  }

  /** Live entries, optionally of one device, oldest first per address. */
  list(dev?: Device): LiveEntry[] {
    return [...this.exact.values()].flat().filter((e) => dev === undefined || e.dev === dev);
  }

  get size(): number {
    return this.count;
  }
}

/**
 * Observer at the API boundary, called after each successful operation with
 * its arguments and result (the `debug_dma_*` calls of mapping.c). The
 * dma-debug model implements it.
 */
export interface DmaDebugHooks {
  allocCoherent?(dev: Device, size: number, handle: DmaAddr, cpuAddr: CpuAddr, attrs: number): void;
  freeCoherent?(dev: Device, size: number, cpuAddr: CpuAddr, handle: DmaAddr): void;
  mapPhys?(dev: Device, phys: PhysAddr, size: number, dir: DmaDataDirection, addr: DmaAddr, attrs: number): void;
  unmapPhys?(dev: Device, addr: DmaAddr, size: number, dir: DmaDataDirection): void;
  mapSg?(dev: Device, sgl: Scatterlist[], nents: number, mapped: number, dir: DmaDataDirection, attrs: number): void;
  unmapSg?(dev: Device, sgl: Scatterlist[], nents: number, dir: DmaDataDirection): void;
  syncSingleForCpu?(dev: Device, addr: DmaAddr, size: number, dir: DmaDataDirection): void;
  syncSingleForDevice?(dev: Device, addr: DmaAddr, size: number, dir: DmaDataDirection): void;
  syncSgForCpu?(dev: Device, sgl: Scatterlist[], nents: number, dir: DmaDataDirection): void;
  syncSgForDevice?(dev: Device, sgl: Scatterlist[], nents: number, dir: DmaDataDirection): void;
  mappingError?(dev: Device, addr: DmaAddr): void;
}

/* ------------------------------------------------------------------ */
/* Dispatch policy                                                      */
/* ------------------------------------------------------------------ */

/**
 * `dma_go_direct`: dma-iommu devices never; no ops ⇒ direct; ops with
 * `dma_ops_bypass` ⇒ direct when `min_not_zero(mask, bus limit)` covers all RAM.
 * @param maskBits the mask the caller tests (coherent or streaming)
 */
export function dmaGoDirect(dev: Device, maskBits: number | null): boolean {
  if (dev.dmaIommu) return false;
  if (dev.dmaOps === null) return true;
  if (!dev.dmaOpsBypass || maskBits === null) return false;
  return minNotZero(maskLimit(maskBits), dev.busDmaLimit) >= direct.dmaDirectGetRequiredMask(dev);
}

/** `dma_alloc_direct`: allocation dispatch, tested with the coherent mask. */
export function dmaAllocDirect(dev: Device): boolean {
  return dmaGoDirect(dev, dev.coherentDmaMask);
}

/** `dma_map_direct`: streaming dispatch, tested with the streaming mask. */
export function dmaMapDirect(dev: Device): boolean {
  return dmaGoDirect(dev, dev.dmaMask);
}

function refuse(dev: Device, call: string, why: string, evidence: Record<string, string | number>): void {
  const ev = Object.entries(evidence)
    .map(([k, v]) => `[${k}=${v}]`)
    .join(' ');
  dev.kernel.dmesg.err(`${call}: refused: ${why} [dev=${dev.name}] ${ev}`);
}

function validSize(size: number): boolean {
  return Number.isInteger(size) && size > 0;
}

/* ------------------------------------------------------------------ */
/* Coherent allocations                                                 */
/* ------------------------------------------------------------------ */

/**
 * `dma_alloc_attrs`: a coherent buffer of `size` bytes.
 * Zone modifiers in `gfp` are stripped (zone choice belongs to the
 * implementation, R24); `__GFP_COMP` is refused with a WARN.
 * @returns `{ cpuAddr, dmaHandle }`; `cpuAddr` null on failure (also for
 *   size 0). With `DMA_ATTR_NO_KERNEL_MAPPING` `cpuAddr` is an opaque cookie.
 * @see kernel/dma/mapping.c dma_alloc_attrs
 */
export function dmaAllocAttrs(dev: Device, size: number, gfpIn: Gfp, attrs: number): DmaAllocation {
  const k = dev.kernel;
  if (dev.coherentDmaMask === 0) k.dmesg.warnOnce(`dma_alloc_attrs:mask:${dev.name}`, `WARNING: coherent_dma_mask is 0 [dev=${dev.name}]`);
  if ((gfpIn & __GFP_COMP) !== 0) {
    k.dmesg.warn(`WARNING: dma_alloc_attrs with __GFP_COMP [dev=${dev.name}]`);
    return DMA_ALLOC_FAILED;
  }
  if (!validSize(size)) {
    refuse(dev, 'dma_alloc_attrs', 'size must be a positive whole number of bytes', { size });
    return DMA_ALLOC_FAILED;
  }
  // The device's own pool answers for good (kernel/dma/coherent.c dma_alloc_from_dev_coherent), and dma-debug never sees its buffers.
  const pooled = dmaAllocFromDevCoherent(dev, size);
  const gfp = gfpIn & ~(__GFP_DMA | __GFP_DMA32 | __GFP_HIGHMEM);
  let r: DmaAllocation;
  if (pooled !== null) r = pooled;
  else if (dmaAllocDirect(dev)) r = direct.dmaDirectAlloc(dev, size, gfp, attrs);
  else if (dev.dmaOps?.alloc !== undefined) r = dev.dmaOps.alloc(dev, size, gfp, attrs);
  else return DMA_ALLOC_FAILED;
  if (r.cpuAddr === null) return DMA_ALLOC_FAILED;
  k.live.add({ dev, kind: 'coherent', dmaAddr: r.dmaHandle, sizeBytes: size, dir: 0, attrs, cpuAddr: r.cpuAddr, phys: null, sgl: null, nents: 0, mappedEnts: 0 });
  if (pooled === null) k.debug?.allocCoherent?.(dev, size, r.dmaHandle, r.cpuAddr, attrs);
  return r;
}

/** The live coherent entry for (dev, handle, cpuAddr), or undefined. */
function findCoherent(dev: Device, cpuAddr: CpuAddr, handle: DmaAddr): LiveEntry | undefined {
  const e = dev.kernel.live.find(dev, 'coherent', handle);
  return e !== undefined && e.cpuAddr === cpuAddr ? e : undefined;
}

/** True when `size` bytes of a live coherent buffer may be shared (mmap, get_sgtable); logs the refusal otherwise. */
function shareable(dev: Device, call: string, cpuAddr: CpuAddr, handle: DmaAddr, size: number): boolean {
  const e = findCoherent(dev, cpuAddr, handle);
  if (e !== undefined && validSize(size) && size <= e.sizeBytes) return true;
  refuse(dev, call, 'not a live coherent allocation of at least this size', {
    cpu_addr: hex(cpuAddr),
    handle: hex(handle),
    size,
    allocated_size: e?.sizeBytes ?? 'none',
  });
  return false;
}

/**
 * `dma_free_attrs`: free a coherent buffer. Must not be called with IRQs
 * disabled (R20; recorded as a violation, the free proceeds as the kernel's
 * WARN lets it). A NULL `cpuAddr` is a no-op. A buffer this kernel did not
 * hand out, or a different size, is refused (R22).
 * @see kernel/dma/mapping.c dma_free_attrs
 */
export function dmaFreeAttrs(dev: Device, size: number, cpuAddr: CpuAddr | null, handle: DmaAddr, attrs: number): void {
  const k = dev.kernel;
  // The per-device pool goes first, before the IRQ check: freeing pool memory with IRQs off is fine (v6.18 order).
  const live = cpuAddr === null ? undefined : findCoherent(dev, cpuAddr, handle);
  if (cpuAddr !== null && live !== undefined && live.sizeBytes === size && dmaDevCoherentOwns(dev, cpuAddr)) {
    k.live.remove(live);
    dmaReleaseFromDevCoherent(dev, getOrder(size), cpuAddr);
    return;
  }
  if (k.platform.context.atomic) {
    k.platform.violations.record({
      kind: 'free-with-irqs-disabled',
      message: `WARNING: dma_free_attrs called with IRQs disabled [dev=${dev.name}] [handle=${hex(handle)}]`,
    });
  }
  if (cpuAddr === null) return;
  const e = findCoherent(dev, cpuAddr, handle);
  if (e === undefined || e.sizeBytes !== size) {
    refuse(dev, 'dma_free_attrs', e === undefined ? 'not a live coherent allocation' : 'size differs from the allocation', {
      cpu_addr: hex(cpuAddr),
      handle: hex(handle),
      size,
      allocated_size: e?.sizeBytes ?? 'none',
    });
    return;
  }
  k.live.remove(e);
  k.debug?.freeCoherent?.(dev, size, cpuAddr, handle);
  if (dmaAllocDirect(dev)) direct.dmaDirectFree(dev, size, cpuAddr, handle, attrs);
  else dev.dmaOps?.free?.(dev, size, cpuAddr, handle, attrs);
}

/**
 * `dma_mmap_attrs`: map a coherent buffer into a user VMA.
 * @returns 0, or `-ENXIO` when the buffer is unknown, the bounds do not fit, or the path cannot mmap
 * @see kernel/dma/mapping.c dma_mmap_attrs
 */
export function dmaMmapAttrs(dev: Device, vma: VmArea, cpuAddr: CpuAddr, handle: DmaAddr, size: number, attrs: number): number {
  if (!shareable(dev, 'dma_mmap_attrs', cpuAddr, handle, size)) return -ENXIO;
  if (dmaAllocDirect(dev)) return direct.dmaDirectMmap(dev, vma, cpuAddr, handle, size, attrs);
  if (dev.dmaOps?.mmap !== undefined) return dev.dmaOps.mmap(dev, vma, cpuAddr, handle, size, attrs);
  return -ENXIO;
}

/** `dma_can_mmap`: can buffers of this device be mapped to user space? */
export function dmaCanMmap(dev: Device): boolean {
  if (dmaAllocDirect(dev)) return direct.dmaDirectCanMmap(dev);
  return dev.dmaOps?.mmap !== undefined;
}

/**
 * `dma_get_sgtable_attrs`: describe a coherent buffer as an sg table, to share
 * it with another device (seed 004).
 * @returns `{ ret: 0, sgt }` or `{ ret: -ENXIO, sgt: null }`
 * @see kernel/dma/mapping.c dma_get_sgtable_attrs
 */
export function dmaGetSgtableAttrs(dev: Device, cpuAddr: CpuAddr, handle: DmaAddr, size: number, attrs: number): { ret: number; sgt: SgTable | null } {
  if (!shareable(dev, 'dma_get_sgtable_attrs', cpuAddr, handle, size)) return { ret: -ENXIO, sgt: null };
  if (dmaAllocDirect(dev)) return direct.dmaDirectGetSgtable(dev, cpuAddr, handle, size);
  if (dev.dmaOps?.getSgtable !== undefined) return dev.dmaOps.getSgtable(dev, cpuAddr, handle, size, attrs);
  return { ret: -ENXIO, sgt: null };
}

/* ------------------------------------------------------------------ */
/* Non-coherent allocations                                             */
/* ------------------------------------------------------------------ */

/** What `dma_alloc_pages` hands out: the first page and the DMA handle; `page` null on failure. */
export interface DmaPages {
  readonly page: Pfn | null;
  readonly dmaHandle: DmaAddr;
}

const PAGES_FAILED: DmaPages = Object.freeze({ page: null, dmaHandle: DMA_MAPPING_ERROR });

/**
 * `__dma_alloc_pages`: the checks of the core (a WARN and NULL without a
 * coherent mask, for a zone modifier — refused, not stripped as
 * `dma_alloc_attrs` does — and for `__GFP_COMP`), then dma-direct or the ops.
 * Beyond the kernel, a size of 0 and a bad direction are refused.
 */
function allocPages(dev: Device, call: string, size: number, dir: DmaDataDirection, gfp: Gfp): DmaPages {
  const k = dev.kernel;
  if (dev.coherentDmaMask === 0) {
    k.dmesg.warnOnce(`${call}:mask:${dev.name}`, `WARNING: ${call}: coherent_dma_mask is 0 [dev=${dev.name}]`);
    return PAGES_FAILED;
  }
  if ((gfp & (__GFP_DMA | __GFP_DMA32 | __GFP_HIGHMEM)) !== 0) {
    k.dmesg.warn(`WARNING: ${call} with a zone modifier [dev=${dev.name}] [gfp=${hex(gfp)}]`);
    return PAGES_FAILED;
  }
  if ((gfp & __GFP_COMP) !== 0) {
    k.dmesg.warn(`WARNING: ${call} with __GFP_COMP [dev=${dev.name}]`);
    return PAGES_FAILED;
  }
  if (!validSize(size)) {
    refuse(dev, call, 'size must be a positive whole number of bytes', { size });
    return PAGES_FAILED;
  }
  if (!validDmaDirection(dir)) {
    refuse(dev, call, 'not a DMA direction', { dir: dirToString(dir) });
    return PAGES_FAILED;
  }
  const aligned = pageAlign(size);
  let r: { page: Pfn; dmaHandle: DmaAddr } | null = null;
  if (dmaAllocDirect(dev)) r = direct.dmaDirectAllocPagesApi(dev, aligned, gfp);
  else if (dev.dmaOps?.allocPages !== undefined) r = dev.dmaOps.allocPages(dev, aligned, dir, gfp);
  return r === null ? PAGES_FAILED : r;
}

/**
 * `dma_alloc_pages`: pages the device reaches, cacheable, owned by the CPU
 * until `dma_sync_single_for_device` (Documentation/core-api/dma-api.rst,
 * "Part II - Non-coherent DMA allocations").
 * @param size bytes (rounded up to whole pages)
 * @returns the first pfn and the handle; `page` null on failure
 * @see kernel/dma/mapping.c dma_alloc_pages (v6.18)
 */
export function dmaAllocPages(dev: Device, size: number, dir: DmaDataDirection, gfp: Gfp): DmaPages {
  const r = allocPages(dev, 'dma_alloc_pages', size, dir, gfp);
  if (r.page === null) return r;
  const cpuAddr = dev.kernel.mm.pages.pageAddress(r.page);
  dev.kernel.live.add({ dev, kind: 'pages', dmaAddr: r.dmaHandle, sizeBytes: size, dir, attrs: 0, cpuAddr, phys: pfnToPhys(r.page) as PhysAddr, sgl: null, nents: 0, mappedEnts: 0 });
  return r;
}

/** The live non-coherent allocation (dev, handle) of `size` bytes, or a logged refusal (R22). */
function findPages(dev: Device, call: string, handle: DmaAddr, size: number): LiveEntry | null {
  const e = dev.kernel.live.find(dev, 'pages', handle);
  if (e !== undefined && e.sizeBytes === size) return e;
  refuse(dev, call, e === undefined ? 'not a live non-coherent allocation' : 'size differs from the allocation', { handle: hex(handle), size, allocated_size: e?.sizeBytes ?? 'none' });
  return null;
}

function freePages(dev: Device, e: LiveEntry, page: Pfn): void {
  const k = dev.kernel;
  k.live.remove(e);
  if ((e.attrs & DMA_ATTR_NON_CONSISTENT) !== 0) {
    // The pre-v5.10 fallback: the buffer came from the coherent allocator.
    direct.dmaDirectFree(dev, pageAlign(e.sizeBytes), e.cpuAddr as CpuAddr, e.dmaAddr, 0);
    return;
  }
  if (dmaAllocDirect(dev)) direct.dmaDirectFreePagesApi(dev, pageAlign(e.sizeBytes), page);
  else dev.dmaOps?.freePages?.(dev, pageAlign(e.sizeBytes), page, e.dmaAddr, e.dir);
}

/**
 * `dma_free_pages`: free what `dma_alloc_pages` returned. Refused unless
 * (handle, size) is a live allocation of this device and `page` its first page.
 * @see kernel/dma/mapping.c dma_free_pages
 */
export function dmaFreePages(dev: Device, size: number, page: Pfn, handle: DmaAddr, dir: DmaDataDirection): void {
  const e = findPages(dev, 'dma_free_pages', handle, size);
  if (e === null) return;
  if (e.phys !== pfnToPhys(page)) {
    refuse(dev, 'dma_free_pages', 'page is not the allocation\'s first page', { page: hex(page), handle: hex(handle) });
    return;
  }
  void dir;
  freePages(dev, e, page);
}

/**
 * `dma_mmap_pages`: map pages from `dma_alloc_pages` into a user VMA with
 * the VMA's own (cacheable) protection; `-ENXIO` when `vm_pgoff` and the
 * VMA's length do not fit the allocation.
 * @see kernel/dma/mapping.c dma_mmap_pages
 */
export function dmaMmapPages(dev: Device, vma: VmArea, size: number, page: Pfn): number {
  const count = pagesFor(size);
  if (!validSize(size) || vma.pgoff >= count || vma.nrPages > count - vma.pgoff) return -ENXIO;
  return dev.kernel.platform.user.remapPfnRange(vma, 0, (page + vma.pgoff) as Pfn, vma.nrPages, 'cacheable');
}

/**
 * `dma_alloc_noncoherent`: `page_address(dma_alloc_pages(...))`. Before
 * v5.10 (the {@link DmaQuirks.nonConsistentFallback} knob) it was
 * `dma_alloc_attrs(..., DMA_ATTR_NON_CONSISTENT)`, and on an arch that did
 * not implement the attribute a non-coherent device got the uncached
 * coherent buffer instead.
 * @returns the kernel virtual address and handle; `cpuAddr` null on failure
 * @see include/linux/dma-mapping.h dma_alloc_noncoherent
 */
export function dmaAllocNoncoherent(dev: Device, size: number, dir: DmaDataDirection, gfp: Gfp): DmaAllocation {
  const k = dev.kernel;
  if (k.quirks.nonConsistentFallback && !devIsDmaCoherent(dev) && validSize(size)) {
    const r = dmaAllocDirect(dev) ? direct.dmaDirectAlloc(dev, size, gfp & ~(__GFP_DMA | __GFP_DMA32 | __GFP_HIGHMEM), 0) : DMA_ALLOC_FAILED;
    if (r.cpuAddr === null) return DMA_ALLOC_FAILED;
    k.live.add({ dev, kind: 'pages', dmaAddr: r.dmaHandle, sizeBytes: size, dir, attrs: DMA_ATTR_NON_CONSISTENT, cpuAddr: r.cpuAddr, phys: dmaToPhys(dev, r.dmaHandle), sgl: null, nents: 0, mappedEnts: 0 });
    return r;
  }
  const r = dmaAllocPages(dev, size, dir, gfp);
  if (r.page === null) return DMA_ALLOC_FAILED;
  return { cpuAddr: k.mm.pages.pageAddress(r.page), dmaHandle: r.dmaHandle };
}

/**
 * `dma_free_noncoherent`: `dma_free_pages(virt_to_page(vaddr))`.
 * @see include/linux/dma-mapping.h dma_free_noncoherent
 */
export function dmaFreeNoncoherent(dev: Device, size: number, vaddr: CpuAddr, handle: DmaAddr, dir: DmaDataDirection): void {
  const e = findPages(dev, 'dma_free_noncoherent', handle, size);
  if (e === null) return;
  if (e.cpuAddr !== vaddr) {
    refuse(dev, 'dma_free_noncoherent', 'vaddr is not the allocation\'s address', { vaddr: hex(vaddr), handle: hex(handle) });
    return;
  }
  void dir;
  freePages(dev, e, physToPfn(e.phys as PhysAddr));
}

/**
 * `dma_alloc_noncontiguous`: on dma-direct a one-entry `sg_table` over
 * `dma_alloc_pages` memory (the entry `PAGE_ALIGN(size)` long), with
 * `nents = 1`; recorded like an sg mapping, so `dma_sync_sgtable_*` move its
 * ownership. Attributes other than `DMA_ATTR_ALLOC_SINGLE_PAGES` and
 * `__GFP_COMP` are refused with a WARN.
 * @returns the table, or null
 * @see kernel/dma/mapping.c dma_alloc_noncontiguous, alloc_single_sgt
 */
export function dmaAllocNoncontiguous(dev: Device, size: number, dir: DmaDataDirection, gfp: Gfp, attrs: number): SgTable | null {
  const k = dev.kernel;
  if ((attrs & ~DMA_ATTR_ALLOC_SINGLE_PAGES) !== 0) {
    k.dmesg.warn(`WARNING: dma_alloc_noncontiguous with attrs ${hex(attrs)} [dev=${dev.name}]`);
    return null;
  }
  if ((gfp & __GFP_COMP) !== 0) {
    k.dmesg.warn(`WARNING: dma_alloc_noncontiguous with __GFP_COMP [dev=${dev.name}]`);
    return null;
  }
  const r = allocPages(dev, 'dma_alloc_noncontiguous', size, dir, gfp);
  if (r.page === null) return null;
  const sg = sgEntry(r.page, 0, pageAlign(size));
  sg.dmaAddress = r.dmaHandle;
  sg.dmaLength = sg.length;
  const sgt = sgTable([sg]);
  sgt.nents = 1;
  k.live.add({ dev, kind: 'sg', dmaAddr: r.dmaHandle, sizeBytes: size, dir, attrs, cpuAddr: null, phys: pfnToPhys(r.page) as PhysAddr, sgl: sgt.sgl, nents: sgt.origNents, mappedEnts: 1 });
  return sgt;
}

/**
 * `dma_free_noncontiguous`: free a table from `dma_alloc_noncontiguous`.
 * Refused unless it is a live one of this device, of this size.
 * @see kernel/dma/mapping.c dma_free_noncontiguous
 */
export function dmaFreeNoncontiguous(dev: Device, size: number, sgt: SgTable, dir: DmaDataDirection): void {
  const e = dev.kernel.live.findSg(dev, sgt.sgl);
  if (e === undefined || e.cpuAddr !== null || e.sizeBytes !== size || e.phys === null) {
    refuse(dev, 'dma_free_noncontiguous', e === undefined ? 'not a live non-contiguous allocation' : 'size differs from the allocation', { size, allocated_size: e?.sizeBytes ?? 'none' });
    return;
  }
  void dir;
  dev.kernel.live.remove(e);
  const page = physToPfn(e.phys);
  if (dmaAllocDirect(dev)) direct.dmaDirectFreePagesApi(dev, pageAlign(size), page);
  else dev.dmaOps?.freePages?.(dev, pageAlign(size), page, e.dmaAddr, e.dir);
}

/**
 * `dma_vmap_noncontiguous`: a kernel address for the whole buffer. On
 * dma-direct the buffer is one lowmem run: its linear address (no vmap).
 * @returns the address, or null for a table that is not live
 * @see kernel/dma/mapping.c dma_vmap_noncontiguous
 */
export function dmaVmapNoncontiguous(dev: Device, size: number, sgt: SgTable): CpuAddr | null {
  void size;
  const e = dev.kernel.live.findSg(dev, sgt.sgl);
  const first = sgt.sgl[0];
  if (e === undefined || first === undefined) return null;
  return dev.kernel.mm.pages.pageAddress(first.page);
}

/** `dma_vunmap_noncontiguous`: nothing to undo on dma-direct. @see kernel/dma/mapping.c dma_vunmap_noncontiguous */
export function dmaVunmapNoncontiguous(dev: Device, vaddr: CpuAddr): void {
  void dev;
  void vaddr;
}

/**
 * `dma_mmap_noncontiguous`: on dma-direct, `dma_mmap_pages` of the table's page.
 * @see kernel/dma/mapping.c dma_mmap_noncontiguous
 */
export function dmaMmapNoncontiguous(dev: Device, vma: VmArea, size: number, sgt: SgTable): number {
  const first = sgt.sgl[0];
  if (dev.kernel.live.findSg(dev, sgt.sgl) === undefined || first === undefined) return -ENXIO;
  return dmaMmapPages(dev, vma, size, first.page);
}

/* ------------------------------------------------------------------ */
/* Streaming mappings                                                   */
/* ------------------------------------------------------------------ */

function badDirection(dev: Device, call: string, dir: number): boolean {
  if (validDmaDirection(dir)) return false;
  dev.kernel.dmesg.err(`kernel BUG at kernel/dma/mapping.c: ${call}: invalid direction [dev=${dev.name}] [dir=${dirToString(dir)}]`);
  return true;
}

/**
 * `dma_map_phys`: map `size` bytes at a physical address for streaming DMA.
 * @returns the DMA address, or `DMA_MAPPING_ERROR` (bad direction, no
 *   `dma_mask`, size 0, REQUIRE_COHERENT on a non-coherent device, the device
 *   cannot reach the buffer, no map method)
 * @see kernel/dma/mapping.c dma_map_phys
 */
export function dmaMapPhys(dev: Device, phys: PhysAddr, size: number, dir: DmaDataDirection, attrs: number): DmaAddr {
  const k = dev.kernel;
  if (badDirection(dev, 'dma_map_phys', dir)) return DMA_MAPPING_ERROR;
  if (dev.dmaMask === null) {
    k.dmesg.warnOnce(`dma_map_phys:nomask:${dev.name}`, `WARNING: dma_map_phys on a device without dma_mask [dev=${dev.name}]`);
    return DMA_MAPPING_ERROR;
  }
  if (!validSize(size)) {
    refuse(dev, 'dma_map_phys', 'size must be a positive whole number of bytes', { phys: hex(phys), size });
    return DMA_MAPPING_ERROR;
  }
  if ((attrs & DMA_ATTR_REQUIRE_COHERENT) !== 0 && !devIsDmaCoherent(dev)) return DMA_MAPPING_ERROR;
  let addr: DmaAddr;
  if (dmaMapDirect(dev)) addr = direct.dmaDirectMapPhys(dev, phys, size, dir, attrs);
  else if (dev.dmaOps?.mapPhys !== undefined) addr = dev.dmaOps.mapPhys(dev, phys, size, dir, attrs);
  else addr = DMA_MAPPING_ERROR;
  if (addr === DMA_MAPPING_ERROR) return addr;
  k.live.add({ dev, kind: 'single', dmaAddr: addr, sizeBytes: size, dir, attrs, cpuAddr: null, phys, sgl: null, nents: 0, mappedEnts: 0 });
  k.debug?.mapPhys?.(dev, phys, size, dir, addr, attrs);
  return addr;
}

/**
 * `dma_map_page_attrs`: map part of a page (or pages) starting at `offset`.
 * `DMA_ATTR_MMIO` is refused here (use `dma_map_resource`).
 * @see kernel/dma/mapping.c dma_map_page_attrs
 */
export function dmaMapPageAttrs(dev: Device, page: Pfn, offset: number, size: number, dir: DmaDataDirection, attrs: number): DmaAddr {
  if ((attrs & DMA_ATTR_MMIO) !== 0) return DMA_MAPPING_ERROR;
  if (!Number.isInteger(offset) || offset < 0) {
    refuse(dev, 'dma_map_page_attrs', 'offset must be a whole number of bytes ≥ 0', { offset });
    return DMA_MAPPING_ERROR;
  }
  return dmaMapPhys(dev, (pfnToPhys(page) + offset) as PhysAddr, size, dir, attrs);
}

/**
 * `dma_map_single_attrs`: map a kernel virtual address. A vmalloc address
 * is refused (WARN, R3); so is anything outside the linear map (R5: highmem
 * and cookies have no `virt_to_page`).
 * @see include/linux/dma-mapping.h dma_map_single_attrs
 */
export function dmaMapSingleAttrs(dev: Device, ptr: CpuAddr, size: number, dir: DmaDataDirection, attrs: number): DmaAddr {
  const pt = dev.kernel.platform.pt;
  if (pt.isVmallocAddr(ptr)) {
    dev.kernel.dmesg.warnOnce(`dma_map_single:vmalloc:${dev.name}`, `WARNING: rejecting DMA map of vmalloc memory [dev=${dev.name}] [ptr=${hex(ptr)}]`);
    return DMA_MAPPING_ERROR;
  }
  if (!pt.isLinearAddr(ptr) || !pt.isLinearAddr(ptr + Math.max(size, 1) - 1)) {
    refuse(dev, 'dma_map_single_attrs', 'not a linear-map address (virt_addr_valid)', { ptr: hex(ptr), size });
    return DMA_MAPPING_ERROR;
  }
  const phys = pt.translate(ptr, 'read', 'dma_map_single').phys;
  // Through dma_map_page_attrs, which refuses DMA_ATTR_MMIO.
  if ((attrs & DMA_ATTR_MMIO) !== 0) return DMA_MAPPING_ERROR;
  return dmaMapPhys(dev, phys, size, dir, attrs);
}

/**
 * `dma_unmap_phys` / `dma_unmap_page_attrs` / `dma_unmap_single_attrs`:
 * end a streaming mapping. Refused (nothing happens) unless `addr` and
 * `size` are those of a live mapping (R40).
 * @see kernel/dma/mapping.c dma_unmap_phys
 */
export function dmaUnmapPhys(dev: Device, addr: DmaAddr, size: number, dir: DmaDataDirection, attrs: number): void {
  const k = dev.kernel;
  if (badDirection(dev, 'dma_unmap_phys', dir)) return;
  const e = k.live.find(dev, 'single', addr);
  if (e === undefined || e.sizeBytes !== size) {
    refuse(dev, 'dma_unmap_phys', e === undefined ? 'not a live streaming mapping' : 'size differs from the mapping', {
      addr: hex(addr),
      size,
      mapped_size: e?.sizeBytes ?? 'none',
    });
    return;
  }
  if (dmaMapDirect(dev)) direct.dmaDirectUnmapPhys(dev, addr, size, dir, attrs);
  else dev.dmaOps?.unmapPhys?.(dev, addr, size, dir, attrs);
  k.live.remove(e);
  k.debug?.unmapPhys?.(dev, addr, size, dir);
}

/**
 * `dma_map_resource`: map device MMIO (a FIFO, another device's BAR) for a
 * DMA engine: `dma_map_phys` with `DMA_ATTR_MMIO`, so never bounced and
 * never cache-maintained; on dma-direct the DMA address is the physical
 * address, checked against the mask only (not translated through
 * `dma_range_map`, and not refused for RAM: dma-debug reports that).
 * @returns the DMA address or `DMA_MAPPING_ERROR`
 * @see kernel/dma/mapping.c dma_map_resource (v6.18), kernel/dma/direct.h dma_direct_map_phys
 */
export function dmaMapResource(dev: Device, phys: PhysAddr, size: number, dir: DmaDataDirection, attrs: number): DmaAddr {
  return dmaMapPhys(dev, phys, size, dir, attrs | DMA_ATTR_MMIO);
}

/** `dma_unmap_resource`: `dma_unmap_phys` with `DMA_ATTR_MMIO`. @see kernel/dma/mapping.c dma_unmap_resource */
export function dmaUnmapResource(dev: Device, addr: DmaAddr, size: number, dir: DmaDataDirection, attrs: number): void {
  dmaUnmapPhys(dev, addr, size, dir, attrs | DMA_ATTR_MMIO);
}

/**
 * `dma_map_sg_attrs`: map the first `nents` entries of `sgl`.
 * @returns the number of DMA segments (≤ nents), or 0 on any failure
 * @see kernel/dma/mapping.c dma_map_sg_attrs
 */
export function dmaMapSgAttrs(dev: Device, sgl: Scatterlist[], nents: number, dir: DmaDataDirection, attrs: number): number {
  const r = mapSg(dev, sgl, nents, dir, attrs);
  return r < 0 ? 0 : r;
}

/**
 * `dma_map_sgtable`: map `sgt.origNents` entries, storing the count in `sgt.nents`.
 * @returns 0, or a negative errno (`-EINVAL`, `-ENOMEM`, `-EIO`, `-EOPNOTSUPP`)
 * @see kernel/dma/mapping.c dma_map_sgtable
 */
export function dmaMapSgtable(dev: Device, sgt: SgTable, dir: DmaDataDirection, attrs: number): number {
  const r = mapSg(dev, sgt.sgl, sgt.origNents, dir, attrs);
  if (r < 0) return r;
  sgt.nents = r;
  return 0;
}

function mapSg(dev: Device, sgl: Scatterlist[], nents: number, dir: DmaDataDirection, attrs: number): number {
  const k = dev.kernel;
  if (badDirection(dev, 'dma_map_sg', dir)) return -EIO;
  if ((attrs & DMA_ATTR_REQUIRE_COHERENT) !== 0 && !devIsDmaCoherent(dev)) return -EOPNOTSUPP;
  if (dev.dmaMask === null) {
    k.dmesg.warnOnce(`dma_map_sg:nomask:${dev.name}`, `WARNING: dma_map_sg on a device without dma_mask [dev=${dev.name}]`);
    return -EIO;
  }
  if (!Number.isInteger(nents) || nents < 1 || nents > sgl.length || sgl.slice(0, nents).some((s) => !validSize(s.length))) {
    refuse(dev, 'dma_map_sg', 'nents must be 1..length of the list, every entry non-empty', { nents, entries: sgl.length });
    return -EINVAL;
  }
  if (k.live.findSg(dev, sgl) !== undefined) {
    refuse(dev, 'dma_map_sg', 'list is already mapped (R46)', { nents });
    return -EINVAL;
  }
  let r: number;
  if (dmaMapDirect(dev)) r = direct.dmaDirectMapSg(dev, sgl, nents, dir, attrs);
  else if (dev.dmaOps?.mapSg !== undefined) r = dev.dmaOps.mapSg(dev, sgl, nents, dir, attrs);
  else r = -EIO;
  if (r > 0) {
    const first = sgl[0] as Scatterlist;
    k.live.add({ dev, kind: 'sg', dmaAddr: first.dmaAddress, sizeBytes: 0, dir, attrs, cpuAddr: null, phys: null, sgl, nents, mappedEnts: r });
    k.debug?.mapSg?.(dev, sgl, nents, r, dir, attrs);
  } else if (r < 0 && ![-EINVAL, -ENOMEM, -EIO, -EREMOTEIO].includes(r)) {
    k.dmesg.warn(`WARNING: dma_map_sg: unexpected error ${r}, coerced to -EIO [dev=${dev.name}]`);
    r = -EIO;
  }
  return r;
}

/**
 * `dma_unmap_sg_attrs`: unmap with the original `nents` (R45). Refused
 * unless the list is live with that count. The debug hook runs before the
 * backend, as in the kernel.
 * @see kernel/dma/mapping.c dma_unmap_sg_attrs
 */
export function dmaUnmapSgAttrs(dev: Device, sgl: Scatterlist[], nents: number, dir: DmaDataDirection, attrs: number): void {
  const k = dev.kernel;
  if (badDirection(dev, 'dma_unmap_sg', dir)) return;
  const e = k.live.findSg(dev, sgl);
  if (e === undefined || e.nents !== nents) {
    refuse(dev, 'dma_unmap_sg', e === undefined ? 'list is not mapped' : 'nents differs from dma_map_sg (R45)', { nents, mapped_nents: e?.nents ?? 'none' });
    return;
  }
  k.debug?.unmapSg?.(dev, sgl, nents, dir);
  if (dmaMapDirect(dev)) direct.dmaDirectUnmapSg(dev, sgl, nents, dir, attrs);
  else dev.dmaOps?.unmapSg?.(dev, sgl, nents, dir, attrs);
  k.live.remove(e);
}

/* ------------------------------------------------------------------ */
/* Syncs                                                                */
/* ------------------------------------------------------------------ */

function checkSync(dev: Device, call: string, addr: DmaAddr, size: number, dir: number): boolean {
  if (badDirection(dev, call, dir)) return false;
  if (!validSize(size) || dev.kernel.live.findContaining(dev, addr, size) === undefined) {
    refuse(dev, call, 'range is not inside a live streaming mapping', { addr: hex(addr), size });
    return false;
  }
  return true;
}

/**
 * `dma_sync_single_for_cpu` (and `dma_sync_single_range_for_cpu` at
 * `addr + offset`): give `[addr, addr+size)` back to the CPU (R35). Partial
 * ranges are allowed (R41). Skipped when `dev->dma_skip_sync`, unless dma-debug is on.
 * @see kernel/dma/mapping.c __dma_sync_single_for_cpu
 */
export function dmaSyncSingleForCpu(dev: Device, addr: DmaAddr, size: number, dir: DmaDataDirection): void {
  if (dev.dmaSkipSync && dev.kernel.debug === null) return;
  if (!checkSync(dev, 'dma_sync_single_for_cpu', addr, size, dir)) return;
  // Before v5.10 non-coherent memory had dma_cache_sync() before the transfer and no call after it.
  if (dev.kernel.quirks.cacheSyncNoOwnership && dev.kernel.live.findContaining(dev, addr, size)?.kind === 'pages') return;
  if (dmaMapDirect(dev)) direct.dmaDirectSyncSingleForCpu(dev, addr, size, dir);
  else dev.dmaOps?.syncSingleForCpu?.(dev, addr, size, dir);
  dev.kernel.debug?.syncSingleForCpu?.(dev, addr, size, dir);
}

/**
 * `dma_sync_single_for_device`: hand `[addr, addr+size)` back to the device after CPU access (R36).
 * @see kernel/dma/mapping.c __dma_sync_single_for_device
 */
export function dmaSyncSingleForDevice(dev: Device, addr: DmaAddr, size: number, dir: DmaDataDirection): void {
  if (dev.dmaSkipSync && dev.kernel.debug === null) return;
  if (!checkSync(dev, 'dma_sync_single_for_device', addr, size, dir)) return;
  if (dmaMapDirect(dev)) direct.dmaDirectSyncSingleForDevice(dev, addr, size, dir);
  else dev.dmaOps?.syncSingleForDevice?.(dev, addr, size, dir);
  dev.kernel.debug?.syncSingleForDevice?.(dev, addr, size, dir);
}

function checkSyncSg(dev: Device, call: string, sgl: Scatterlist[], nents: number, dir: number): boolean {
  if (badDirection(dev, call, dir)) return false;
  const e = dev.kernel.live.findSg(dev, sgl);
  if (e === undefined || e.nents !== nents) {
    refuse(dev, call, e === undefined ? 'list is not mapped' : 'nents differs from dma_map_sg (R45)', { nents, mapped_nents: e?.nents ?? 'none' });
    return false;
  }
  return true;
}

/** `dma_sync_sg_for_cpu`, with the original `nents` (R45). @see kernel/dma/mapping.c __dma_sync_sg_for_cpu */
export function dmaSyncSgForCpu(dev: Device, sgl: Scatterlist[], nents: number, dir: DmaDataDirection): void {
  if (dev.dmaSkipSync && dev.kernel.debug === null) return;
  if (!checkSyncSg(dev, 'dma_sync_sg_for_cpu', sgl, nents, dir)) return;
  if (dmaMapDirect(dev)) direct.dmaDirectSyncSgForCpu(dev, sgl, nents, dir);
  else dev.dmaOps?.syncSgForCpu?.(dev, sgl, nents, dir);
  dev.kernel.debug?.syncSgForCpu?.(dev, sgl, nents, dir);
}

/** `dma_sync_sg_for_device`, with the original `nents` (R45). @see kernel/dma/mapping.c __dma_sync_sg_for_device */
export function dmaSyncSgForDevice(dev: Device, sgl: Scatterlist[], nents: number, dir: DmaDataDirection): void {
  if (dev.dmaSkipSync && dev.kernel.debug === null) return;
  if (!checkSyncSg(dev, 'dma_sync_sg_for_device', sgl, nents, dir)) return;
  if (dmaMapDirect(dev)) direct.dmaDirectSyncSgForDevice(dev, sgl, nents, dir);
  else dev.dmaOps?.syncSgForDevice?.(dev, sgl, nents, dir);
  dev.kernel.debug?.syncSgForDevice?.(dev, sgl, nents, dir);
}

/* ------------------------------------------------------------------ */
/* Queries and masks                                                    */
/* ------------------------------------------------------------------ */

/**
 * `dma_mapping_error`: `-ENOMEM` for `DMA_MAPPING_ERROR`, else 0; tells
 * dma-debug the result was checked (R33).
 * @see include/linux/dma-mapping.h dma_mapping_error
 */
export function dmaMappingError(dev: Device, addr: DmaAddr): number {
  dev.kernel.debug?.mappingError?.(dev, addr);
  return addr === DMA_MAPPING_ERROR ? -ENOMEM : 0;
}

/** `dma_supported`: can the device use a mask of this width? @see kernel/dma/mapping.c dma_supported */
export function dmaSupported(dev: Device, maskBits: number): boolean {
  if (dmaGoDirect(dev, maskBits)) return direct.dmaDirectSupported(dev, maskBits);
  return dev.dmaOps?.dmaSupported?.(dev, maskBits) ?? true;
}

function validMask(bits: number): boolean {
  return Number.isInteger(bits) && bits >= 1 && bits <= 64;
}

/**
 * `dma_set_mask`: set the streaming mask (truncated to the width of
 * `dma_addr_t`). Masks ≥ 32 bits always succeed on dma-direct (R14).
 * @returns 0, or `-EIO` (no `dma_mask`, unsupported or malformed width; nothing changed)
 * @see kernel/dma/mapping.c dma_set_mask
 */
export function dmaSetMask(dev: Device, bits: number): number {
  if (!validMask(bits) || dev.dmaMask === null) return -EIO;
  const b = Math.min(bits, dev.kernel.platform.profile.wordBits);
  if (!dmaSupported(dev, b)) return -EIO;
  dev.dmaMask = b;
  dmaSetupNeedSync(dev);
  return 0;
}

/**
 * `dma_setup_need_sync`, run by every successful `dma_set_mask`: a
 * dma-direct or dma-iommu device skips its syncs when it is coherent (the
 * first swiotlb mapping turns that off again, `dma_reset_need_sync`); an ops
 * device without sync methods always skips; any other never does. A device
 * whose mask is set again after it bounced skips its syncs again, live
 * bounce buffers or not: the kernel's behaviour, kept.
 * @see kernel/dma/mapping.c dma_setup_need_sync (v6.18)
 */
function dmaSetupNeedSync(dev: Device): void {
  const ops = dev.dmaOps;
  if (dmaMapDirect(dev) || dev.dmaIommu) dev.dmaSkipSync = devIsDmaCoherent(dev);
  else dev.dmaSkipSync = ops !== null && ops.syncSingleForDevice === undefined && ops.syncSingleForCpu === undefined && ops.syncSgForDevice === undefined && ops.syncSgForCpu === undefined;
}

/**
 * `dma_set_coherent_mask`: set the coherent mask.
 * @returns 0, or `-EIO` (unsupported or malformed width; nothing changed)
 * @see kernel/dma/mapping.c dma_set_coherent_mask
 */
export function dmaSetCoherentMask(dev: Device, bits: number): number {
  if (!validMask(bits)) return -EIO;
  const b = Math.min(bits, dev.kernel.platform.profile.wordBits);
  if (!dmaSupported(dev, b)) return -EIO;
  dev.coherentDmaMask = b;
  return 0;
}

/**
 * `dma_set_mask_and_coherent`: both masks; the coherent one only if the streaming one was accepted.
 * @see include/linux/dma-mapping.h dma_set_mask_and_coherent
 */
export function dmaSetMaskAndCoherent(dev: Device, bits: number): number {
  const r = dmaSetMask(dev, bits);
  return r === 0 ? dmaSetCoherentMask(dev, bits) : r;
}

/**
 * `dma_get_cache_alignment`: minimum alignment and width of mappings and
 * partial syncs (R9): `ARCH_DMA_MINALIGN`, or 1 where the arch has none.
 */
export function dmaGetCacheAlignment(dev: Device): number {
  return dev.kernel.platform.profile.archDmaMinalignBytes ?? 1;
}

/** `dma_get_mask`: the streaming mask, or 32 bits when there is none, as a limit in bytes. @see include/linux/dma-mapping.h dma_get_mask */
export function dmaGetMask(dev: Device): number {
  return maskLimit(dev.dmaMask ?? 32);
}

/**
 * `dma_get_required_mask`: the mask a device needs to reach all RAM
 * without bouncing. dma-direct (by the coherent mask's dispatch): a power
 * of two covering the top of RAM; dma-iommu: 32 bits; ops: theirs, else 32 bits.
 * @returns the mask as a limit in bytes
 * @see kernel/dma/mapping.c dma_get_required_mask (v6.18)
 */
export function dmaGetRequiredMask(dev: Device): number {
  if (dmaAllocDirect(dev)) return direct.dmaDirectGetRequiredMask(dev);
  if (dev.dmaIommu) return maskLimit(32);
  return dev.dmaOps?.getRequiredMask?.(dev) ?? maskLimit(32);
}

/**
 * `dma_addressing_limited`: the streaming mask (or bus limit) is below the
 * required mask; or, on dma-direct without ops, some RAM lies outside the
 * `dma_range_map`. Lack of addressing bits is the main reason to bounce,
 * not the only one.
 * @see kernel/dma/mapping.c dma_addressing_limited (v6.18)
 */
export function dmaAddressingLimited(dev: Device): boolean {
  if (minNotZero(dmaGetMask(dev), dev.busDmaLimit) < dmaGetRequiredMask(dev)) return true;
  if (dev.dmaOps !== null || dev.dmaIommu) return false;
  return !direct.dmaDirectAllRamMapped(dev);
}

/** `dma_max_mapping_size`, bytes (`SIZE_MAX` when unlimited). @see kernel/dma/mapping.c dma_max_mapping_size */
export function dmaMaxMappingSize(dev: Device): number {
  if (dmaMapDirect(dev)) return direct.dmaDirectMaxMappingSize(dev, dmaAddressingLimited(dev));
  return dev.dmaOps?.maxMappingSize?.(dev) ?? SIZE_MAX;
}

/** `dma_need_sync`: must the driver call the sync functions for `addr`? @see kernel/dma/mapping.c dma_need_sync */
export function dmaNeedSync(dev: Device, addr: DmaAddr): boolean {
  // dma_dev_need_sync: CONFIG_DMA_API_DEBUG always syncs.
  if (dev.dmaSkipSync && dev.kernel.debug === null) return false;
  if (dmaMapDirect(dev)) return direct.dmaDirectNeedSync(dev, addr);
  return true;
}

/**
 * `dma_opt_mapping_size`: the largest mapping that stays fast, bytes:
 * `min(dma_max_mapping_size, the ops' optimum)`; dma-direct has no optimum.
 * @see kernel/dma/mapping.c dma_opt_mapping_size
 */
export function dmaOptMappingSize(dev: Device): number {
  const opt = dmaMapDirect(dev) ? SIZE_MAX : (dev.dmaOps?.optMappingSize?.(dev) ?? SIZE_MAX);
  return Math.min(dmaMaxMappingSize(dev), opt);
}

/**
 * `dma_need_unmap`: must the driver keep the DMA address to unmap? False
 * only for a dma-direct device that skips syncs (coherent and never
 * bounced so far) without dma-debug.
 * @see kernel/dma/mapping.c dma_need_unmap
 */
export function dmaNeedUnmap(dev: Device): boolean {
  if (!dmaMapDirect(dev)) return true;
  if (!dev.dmaSkipSync) return true;
  return dev.kernel.debug !== null;
}

/**
 * `dma_get_merge_boundary`: the boundary below which `dma_map_sg` may merge
 * segments, as a mask; 0 when it never merges (dma-direct).
 * @see kernel/dma/mapping.c dma_get_merge_boundary
 */
export function dmaGetMergeBoundary(dev: Device): number {
  if (dmaMapDirect(dev)) return 0;
  return dev.dmaOps?.getMergeBoundary?.(dev) ?? 0;
}

