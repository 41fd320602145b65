/**
 * dma-iommu (drivers/iommu/dma-iommu.c): the DMA API for a device behind an
 * IOMMU. Every DMA address is an IOVA taken from the device's IOVA domain
 * (`iova.ts`) and mapped in the IOMMU's page tables onto the buffer's pages,
 * with the permission the direction allows; unmapping clears the entries,
 * invalidates the IOTLB (at once when strict, at the next flush of the flush
 * queue when lazy) and only then gives the IOVA back.
 *
 * Version followed: the `iommu_dma_ops` structure of Linux v6.6 (torvalds
 * copy), with the streaming entry point of mainline v6.18 (gregkh mirror:
 * `iommu_dma_map_phys` and `iommu_dma_map_swiotlb`: swiotlb copies the
 * buffer in, the padding on both sides is zeroed for untrusted devices) —
 * the same version as the rest of `kernel/dma`. Reviewed against both.
 *
 * Paths:
 * - allocation (`iommu_dma_alloc`): blocking without
 *   `DMA_ATTR_FORCE_CONTIGUOUS` → a page array (`__iommu_dma_alloc_pages`,
 *   largest order the domain maps first, smaller orders after a failure)
 *   mapped at one IOVA and vmapped (`iommu_dma_alloc_remap`); non-blocking
 *   for a non-coherent device → the atomic pools, any page (the IOMMU
 *   reaches everything); otherwise contiguous pages, CMA then buddy
 *   (`iommu_dma_alloc_pages`), remapped when non-coherent. The IOVA is below
 *   the coherent mask.
 * - streaming: IOVA below the streaming mask, the in-granule offset kept;
 *   TO_DEVICE maps read-only, FROM_DEVICE write-only, BIDIRECTIONAL both.
 *   An untrusted device (external PCIe), or a small kmalloc buffer of a
 *   non-coherent device, bounces through swiotlb with the granule as the
 *   allocation alignment, the rest of the granules zeroed, so the device
 *   sees nothing but the buffer.
 * - scatter-gather: one IOVA range for the whole list, each entry at its
 *   in-granule offset, padding inserted so no entry crosses the segment
 *   boundary, and entries merged by `__finalise_sg` up to `max_segment_size`.
 *
 * Not modelled: the PCI "SAC" first try below 4 GiB, MSI cookies, PCI P2P,
 * the per-CPU queues (one CPU), IOMMU page-table memory.
 */
import type { VmArea } from '../../../platform/user.ts';
import { type CpuAddr, type DmaAddr, PAGE_SIZE, type Pfn, type PhysAddr, getOrder, hex, maskLimit, minNotZero, pageAlign, pagesFor, pfn, pfnToPhys, physToPfn } from '../../../platform/types.ts';
import { IOMMU_READ, IOMMU_WRITE, type IommuDomainHw } from '../../../platform/iommu.ts';
import { archDmaPrepCoherent, archSyncDmaForCpu, archSyncDmaForDevice } from '../../arch/dma-sync-policy.ts';
import type { Device } from '../../include/linux/device.ts';
import { DMA_ALLOC_FAILED, type DmaAllocation, type DmaMapOps, devIsDmaCoherent, dmaKmallocNeedsBounce } from '../../include/linux/dma-map-ops.ts';
import { DMA_ATTR_ALLOC_SINGLE_PAGES, DMA_ATTR_FORCE_CONTIGUOUS, DMA_ATTR_MMIO, DMA_ATTR_SKIP_CPU_SYNC, DMA_BIDIRECTIONAL, DMA_FROM_DEVICE, DMA_MAPPING_ERROR, DMA_TO_DEVICE, type DmaDataDirection, SIZE_MAX } from '../../include/linux/dma-mapping.ts';
import { EINVAL, ENOMEM, ENXIO } from '../../include/linux/errno.ts';
import { __GFP_COMP, __GFP_DMA, __GFP_DMA32, __GFP_HIGHMEM, __GFP_NORETRY, __GFP_NOWARN, __GFP_ZERO, type Gfp, gfpflagsAllowBlocking } from '../../include/linux/gfp.ts';
import { type Scatterlist, type SgTable, sgAllocTableFromPages, sgEntry, sgPhys, sgTable } from '../../include/linux/scatterlist.ts';
import { dmaAllocContiguous, dmaFreeContiguous } from '../../kernel/dma/contiguous.ts';
import { vmMapPages } from '../../mm/memory.ts';
import { dmaPgprot } from '../../kernel/dma/direct.ts';
import { dmaAllocFromPool, dmaFreeFromPool } from '../../kernel/dma/pool.ts';
import { dmaCommonContiguousRemap, dmaCommonFreeRemap, dmaCommonPagesRemap } from '../../kernel/dma/remap.ts';
import { isSwiotlbActive, isSwiotlbBuffer, swiotlbMaxMappingSize, swiotlbSyncSingleForCpu, swiotlbSyncSingleForDevice, swiotlbTblMapSingle, swiotlbTblUnmapSingle } from '../../kernel/dma/swiotlb.ts';
import { IovaDomain, iovaRcacheRange } from './iova.ts';

/** `IOVA_FQ_TIMEOUT`: the flush queue's timer, milliseconds (the model's timer fires when time passes: the `runWork` event). */
export const IOVA_FQ_TIMEOUT_MS = 10;

/** One flush-queue entry: an IOVA range waiting for the IOTLB invalidation before it may be reused. */
interface FqEntry {
  readonly iovaPfn: number;
  readonly pages: number;
  /** `fq_flush_start_cnt` when queued: freed once `fq_flush_finish_cnt` passes it. */
  readonly counter: number;
}

/** `struct iova_fq` of the one CPU, with the cookie's counters and timer. */
interface FlushQueue {
  readonly size: number;
  entries: FqEntry[];
  flushStartCnt: number;
  flushFinishCnt: number;
  timerOn: boolean;
}

/** `struct iommu_dma_cookie`: the device's domain, its IOVA space and, when lazy, its flush queue. */
export interface IommuDmaCookie {
  readonly domain: IommuDomainHw;
  readonly iovad: IovaDomain;
  /** `cookie->fq_domain` with its queue; null in strict mode. */
  readonly fq: FlushQueue | null;
  /** CPU addresses of remapped contiguous allocations (`dma_common_find_pages` finds no page array for them). */
  readonly contiguousRemaps: Set<number>;
}

const cookies = new WeakMap<Device, IommuDmaCookie>();

/** The cookie of a device attached to dma-iommu; throws for any other (a harness bug). */
export function iommuDmaCookie(dev: Device): IommuDmaCookie {
  const c = cookies.get(dev);
  if (c === undefined) throw new Error(`${dev.name} is not attached to dma-iommu`);
  return c;
}

/**
 * `iommu_setup_dma_ops` → `iommu_dma_init_domain`: an IOVA domain with the
 * IOMMU's granule starting at IOVA pfn 1 (IOVA 0 is never handed out), the
 * range caches, the holes between the device's `dma-ranges` windows (and
 * above the last one) reserved (`iova_reserve_pci_windows`), a flush queue
 * when the domain is lazy; the device then uses {@link iommuDmaOps}.
 * @returns 0, or -ENODEV (-19) when the device has no IOMMU
 * @see drivers/iommu/dma-iommu.c iommu_dma_init_domain, iova_reserve_iommu_regions
 */
export function iommuSetupDmaOps(dev: Device): number {
  const domain = dev.hw.iommu;
  if (domain === null) return -19;
  const g = domain.granuleBytes;
  const iovad = new IovaDomain(g, 1, { pageSizeBytes: Math.max(g, PAGE_SIZE), dmesg: dev.kernel.dmesg });
  iovad.initRcaches();
  const ranges = dev.dmaRangeMap;
  if (ranges !== null) {
    const windows = [...ranges].sort((a, b) => a.dmaStart - b.dmaStart);
    let start = 0;
    for (const w of windows) {
      const end = w.dmaStart;
      // The kernel reserves through the granule holding the next window's first byte.
      if (end > start) iovad.reserveIova(iovad.iovaPfn(start), iovad.iovaPfn(end));
      start = w.dmaStart + w.sizeBytes;
    }
    if (start - 1 < domain.apertureEnd) iovad.reserveIova(iovad.iovaPfn(start), iovad.iovaPfn(domain.apertureEnd));
  }
  const fq = domain.config.strict || !dev.hw.config.trusted ? null : { size: domain.config.flushQueueSize, entries: [], flushStartCnt: 0, flushFinishCnt: 0, timerOn: false };
  cookies.set(dev, { domain, iovad, fq, contiguousRemaps: new Set() });
  dev.dmaOps = iommuDmaOps;
  dev.dmaIommu = true;
  return 0;
}

/** `dev_is_untrusted`: an external-facing PCIe device. */
function devIsUntrusted(dev: Device): boolean {
  return !dev.hw.config.trusted && !dev.kernel.quirks.iommuUntrustedNotBounced;
}

/** `dev_use_swiotlb`: bounce an untrusted device's mappings, and small kmalloc buffers of non-coherent devices (whether or not a swiotlb is there to do it). */
function devUseSwiotlb(dev: Device, size: number, dir: DmaDataDirection): boolean {
  return devIsUntrusted(dev) || dmaKmallocNeedsBounce(dev, size, dir);
}

/** `dma_info_to_prot`: the IOMMU permission of a direction (MMIO and cache attributes do not change what the device may do). */
export function dmaInfoToProt(dir: DmaDataDirection): number {
  if (dir === DMA_TO_DEVICE) return IOMMU_READ;
  if (dir === DMA_FROM_DEVICE) return IOMMU_WRITE;
  if (dir === DMA_BIDIRECTIONAL) return IOMMU_READ | IOMMU_WRITE;
  return 0;
}

/** The permission dma-iommu asks for (the {@link DmaQuirks.iommuWriteOnToDevice} mutant widens TO_DEVICE). */
function protFor(dev: Device, dir: DmaDataDirection): number {
  if (dev.kernel.quirks.iommuWriteOnToDevice && dir === DMA_TO_DEVICE) return IOMMU_READ | IOMMU_WRITE;
  return dmaInfoToProt(dir);
}

/* ---- flush queue (lazy invalidation) ---- */

/** `fq_ring_free`: entries already covered by a finished flush go back to the IOVA allocator. */
function fqRingFree(c: IommuDmaCookie, fq: FlushQueue): void {
  while (fq.entries.length > 0 && (fq.entries[0] as FqEntry).counter < fq.flushFinishCnt) {
    const e = fq.entries.shift() as FqEntry;
    c.iovad.freeIovaFast(e.iovaPfn, e.pages);
  }
}

/** `fq_flush_iotlb`: invalidate the whole IOTLB, counted. */
function fqFlushIotlb(c: IommuDmaCookie, fq: FlushQueue): void {
  fq.flushStartCnt++;
  c.domain.invalidateAll();
  fq.flushFinishCnt++;
}

/** `fq_flush_timeout`: the timer expired: flush, then free what the flush covers. */
function fqFlushTimeout(c: IommuDmaCookie, fq: FlushQueue): void {
  fq.timerOn = false;
  fqFlushIotlb(c, fq);
  fqRingFree(c, fq);
}

/** `queue_iova`: hold an unmapped IOVA range until the IOTLB is flushed; flush at once when the queue is full; arm the timer. */
function queueIova(dev: Device, c: IommuDmaCookie, fq: FlushQueue, iovaPfn: number, pages: number): void {
  fqRingFree(c, fq);
  // `fq_full`: the ring holds one entry less than its size.
  if (fq.entries.length >= fq.size - 1) {
    fqFlushIotlb(c, fq);
    fqRingFree(c, fq);
  }
  fq.entries.push({ iovaPfn, pages, counter: fq.flushStartCnt });
  armFqTimer(dev, c, fq);
}

/** `mod_timer(&cookie->fq_timer)` unless armed: the flush runs when time passes (the harness's `runWork` event). */
function armFqTimer(dev: Device, c: IommuDmaCookie, fq: FlushQueue): void {
  if (fq.timerOn) return;
  fq.timerOn = true;
  dev.kernel.mm.workqueue.schedule({ name: `iommu-dma:fq_flush_timeout:${dev.name}`, func: () => fqFlushTimeout(c, fq) });
}

/**
 * IOVA space the device's mappings and allocations hold, bytes: tree nodes
 * neither reserved nor in a range cache, less what waits in the flush queue.
 * Not a kernel function (the kernel has no such count; the leak check needs one).
 */
export function iommuDmaIovaInUse(dev: Device): number {
  const c = iommuDmaCookie(dev);
  // A queued range holds its whole tree node (small sizes are rounded up to a power of two).
  const queued = (c.fq?.entries ?? []).reduce((n, e) => {
    const node = c.iovad.findIova(e.iovaPfn);
    return n + (node === null ? e.pages : node.pfnHi - node.pfnLo + 1);
  }, 0);
  return (c.iovad.totalAllocatedPfns() - queued) * c.iovad.granuleBytes;
}

/** IOVA ranges of the device still waiting in its flush queue (for tests and diagnostics). */
export function iommuDmaQueuedIovas(dev: Device): { iova: number; sizeBytes: number }[] {
  const c = iommuDmaCookie(dev);
  return (c.fq?.entries ?? []).map((e) => ({ iova: e.iovaPfn * c.iovad.granuleBytes, sizeBytes: e.pages * c.iovad.granuleBytes }));
}

/* ---- IOVA allocation and the map/unmap primitives ---- */

/**
 * `iommu_dma_alloc_iova`: `size` bytes (whole granules) of IOVA at or below
 * `min_not_zero(dmaLimit, bus_dma_limit)` and the aperture.
 * @returns the IOVA, or 0 on failure
 */
function iommuDmaAllocIova(dev: Device, c: IommuDmaCookie, size: number, dmaLimit: number): number {
  const shift = c.iovad.shift;
  const len = size / c.iovad.granuleBytes;
  let limit = minNotZero(dmaLimit, dev.busDmaLimit);
  limit = Math.min(limit, c.domain.apertureEnd);
  const p = c.iovad.allocIovaFast(len, Math.floor(limit / 2 ** shift), true);
  return p === null ? 0 : p * c.iovad.granuleBytes;
}

/** `iommu_dma_free_iova`: back to the allocator, or into the flush queue when the unmap was gathered for it. */
function iommuDmaFreeIova(dev: Device, c: IommuDmaCookie, iova: number, size: number, queued: boolean): void {
  const pfnIova = c.iovad.iovaPfn(iova);
  const pages = size / c.iovad.granuleBytes;
  // Mutant: a strict domain never gives an IOVA back.
  if (!queued && dev.kernel.quirks.iommuIovaNotFreed) return;
  if (queued && c.fq !== null && dev.kernel.quirks.iommuFqReuseEarly) {
    // Mutant: the IOVA is reusable at once; only the IOTLB flush waits for the timer.
    c.iovad.freeIovaFast(pfnIova, pages);
    armFqTimer(dev, c, c.fq);
  } else if (queued && c.fq !== null) queueIova(dev, c, c.fq, pfnIova, pages);
  else c.iovad.freeIovaFast(pfnIova, pages);
}

/**
 * `__iommu_dma_unmap`: clear the entries of the granules `[addr, addr+size)`
 * touches, invalidate them now (strict) or leave that to the flush queue
 * (lazy), give the IOVA back.
 * @see drivers/iommu/dma-iommu.c __iommu_dma_unmap
 */
function iommuDmaUnmapRange(dev: Device, addr: number, size: number): void {
  const c = iommuDmaCookie(dev);
  // Mutant: a strict domain keeps the entries (and the IOVA) of what was unmapped.
  if (dev.kernel.quirks.iommuStrictUnmapLeavesMapping && c.fq === null) return;
  const off = c.iovad.iovaOffset(addr);
  const iova = addr - off;
  const len = c.iovad.iovaAlign(size + off);
  const unmapped = c.domain.unmap(iova, len);
  if (unmapped !== len) dev.kernel.dmesg.warn(`WARNING: drivers/iommu/dma-iommu.c: __iommu_dma_unmap: unmapped ${unmapped} of ${len} bytes [dev=${dev.name}] [iova=${hex(iova)}]`);
  const queued = c.fq !== null;
  if (!queued) c.domain.invalidateRange(iova, len);
  iommuDmaFreeIova(dev, c, iova, len, queued);
}

/**
 * `__iommu_dma_map`: IOVA for the granules of `[phys, phys+size)` below
 * `dmaMask`, mapped with `prot`; the result keeps `phys`'s in-granule offset.
 * @returns the DMA address, or `DMA_MAPPING_ERROR`
 * @see drivers/iommu/dma-iommu.c __iommu_dma_map
 */
function iommuDmaMapRange(dev: Device, phys: number, size: number, prot: number, dmaMask: number): DmaAddr {
  const c = iommuDmaCookie(dev);
  const off = c.iovad.iovaOffset(phys);
  const len = c.iovad.iovaAlign(size + off);
  const iova = iommuDmaAllocIova(dev, c, len, dmaMask);
  if (iova === 0) return DMA_MAPPING_ERROR;
  if (c.domain.map(iova, phys - off, len, prot) !== 0) {
    iommuDmaFreeIova(dev, c, iova, len, false);
    return DMA_MAPPING_ERROR;
  }
  return (iova + off) as DmaAddr;
}

/* ---- coherent allocations ---- */

/**
 * `__iommu_dma_alloc_pages`: `count` pages as an array, each run taken at
 * the largest order in `orderMask` that still fits (with `__GFP_NORETRY`
 * while smaller orders remain), split into single pages; highmem allowed.
 * Whatever was taken is freed on failure.
 */
function iommuDmaAllocPageArray(dev: Device, count: number, orderMaskIn: number, gfpIn: Gfp): Pfn[] | null {
  const pages = dev.kernel.mm.pages;
  const maxOrder = dev.kernel.platform.profile.maxOrder;
  let orderMask = orderMaskIn & (2 ** (maxOrder + 1) - 1);
  if (orderMask === 0) return null;
  const gfp = gfpIn | __GFP_NOWARN | __GFP_HIGHMEM;
  const out: Pfn[] = [];
  let left = count;
  while (left > 0) {
    let page: Pfn | null = null;
    let orderSize = 0;
    orderMask &= 2 ** (Math.floor(Math.log2(left)) + 1) - 1;
    for (; orderMask !== 0; orderMask &= ~orderSize) {
      const order = Math.floor(Math.log2(orderMask));
      orderSize = 2 ** order;
      const flags = orderMask > orderSize ? gfp | __GFP_NORETRY : gfp;
      // __GFP_ZERO (iommu_dma_alloc adds it) clears each block as it is allocated.
      page = pages.allocPages(flags, order);
      if (page === null) continue;
      if (order > 0) pages.splitPage(page, order);
      break;
    }
    if (page === null) {
      for (const p of out) pages.freePages(p, 0);
      return null;
    }
    left -= orderSize;
    for (let i = 0; i < orderSize; i++) out.push(pfn(page + i));
  }
  return out;
}

/**
 * `__iommu_dma_alloc_noncontiguous` + `iommu_dma_alloc_remap`: a page array
 * in the domain's page sizes (single pages with `DMA_ATTR_ALLOC_SINGLE_PAGES`),
 * one IOVA below the coherent mask, written back for a non-coherent device,
 * mapped read/write, vmapped with `dma_pgprot`.
 */
function iommuDmaAllocRemap(dev: Device, size: number, gfp: Gfp, attrs: number): DmaAllocation {
  const k = dev.kernel;
  const c = iommuDmaCookie(dev);
  const coherent = devIsDmaCoherent(dev);
  const g = c.iovad.granuleBytes;
  // pgsize_bitmap: the granule, its 512-entry block and the next level.
  const granuleOrder = Math.log2(g / PAGE_SIZE);
  const blockOrder = granuleOrder + Math.log2(g / 8);
  let orderMask = 2 ** granuleOrder | 2 ** blockOrder;
  const alignedSize = Math.ceil(size / g) * g;
  if ((attrs & DMA_ATTR_ALLOC_SINGLE_PAGES) !== 0) orderMask = 2 ** granuleOrder;
  const count = pagesFor(alignedSize);
  const list = iommuDmaAllocPageArray(dev, count, orderMask, gfp);
  if (list === null) return DMA_ALLOC_FAILED;
  const iovaLen = c.iovad.iovaAlign(alignedSize);
  const iova = iommuDmaAllocIova(dev, c, iovaLen, maskLimit(dev.coherentDmaMask));
  const freeList = () => list.forEach((p) => k.mm.pages.freePages(p, 0));
  if (iova === 0) {
    freeList();
    return DMA_ALLOC_FAILED;
  }
  if (!coherent) for (const p of list) archDmaPrepCoherent(k.arch, p, PAGE_SIZE);
  // iommu_map_sg: one granule at a time (pages of one granule are contiguous: they come from one run of at least the granule's order).
  let mapped = 0;
  for (let o = 0; o < iovaLen; o += g) {
    if (c.domain.map(iova + o, pfnToPhys(list[o / PAGE_SIZE] as Pfn), g, IOMMU_READ | IOMMU_WRITE) !== 0) break;
    mapped += g;
  }
  if (mapped < iovaLen) {
    if (mapped > 0) c.domain.unmap(iova, mapped);
    c.domain.invalidateRange(iova, iovaLen);
    iommuDmaFreeIova(dev, c, iova, iovaLen, false);
    freeList();
    return DMA_ALLOC_FAILED;
  }
  const vaddr = dmaCommonPagesRemap(dev, list, dmaPgprot(dev, 'cacheable', attrs));
  if (vaddr === null) {
    iommuDmaUnmapRange(dev, iova, iovaLen);
    freeList();
    return DMA_ALLOC_FAILED;
  }
  return { cpuAddr: vaddr, dmaHandle: iova as DmaAddr };
}

/**
 * `iommu_dma_alloc_pages`: contiguous pages, CMA first then the buddy
 * allocator at the order of the size (split, tail kept as the kernel does);
 * remapped with `dma_pgprot` and written back when non-coherent; zeroed.
 * @returns the first page and the CPU address, or null
 */
function iommuDmaAllocContiguous(dev: Device, size: number, gfp: Gfp, attrs: number): { page: Pfn; cpuAddr: CpuAddr } | null {
  const k = dev.kernel;
  const allocSize = pageAlign(size);
  let page = dmaAllocContiguous(dev, allocSize, gfp);
  page ??= k.mm.pages.allocPages(gfp & ~__GFP_ZERO, getOrder(allocSize));
  if (page === null) return null;
  let cpuAddr: CpuAddr | null;
  const coherent = devIsDmaCoherent(dev);
  if (!coherent || k.mm.pages.isHighmem(page)) {
    cpuAddr = dmaCommonContiguousRemap(dev, page, allocSize, dmaPgprot(dev, 'cacheable', attrs));
    if (cpuAddr === null) {
      dmaFreeContiguous(dev, page, allocSize);
      return null;
    }
    if (!coherent) archDmaPrepCoherent(k.arch, page, size);
  } else cpuAddr = k.mm.pages.pageAddress(page) as CpuAddr;
  k.platform.cpu.memset(cpuAddr, 0, allocSize, 'iommu-dma:memset');
  return { page, cpuAddr };
}

/**
 * `__iommu_dma_free`: the CPU side of a coherent buffer: back to the atomic
 * pool, or unmap the remap and free its page array, or free contiguous pages.
 */
function iommuDmaFreeCpu(dev: Device, size: number, cpuAddr: CpuAddr): void {
  const k = dev.kernel;
  const allocSize = pageAlign(size);
  if (dmaFreeFromPool(dev, cpuAddr, allocSize)) return;
  const area = k.mm.vmalloc.findVmArea(cpuAddr);
  if (area !== undefined) {
    const pages = [...area.pages];
    const remaps = iommuDmaCookie(dev).contiguousRemaps;
    dmaCommonFreeRemap(dev, cpuAddr);
    if (remaps.delete(cpuAddr)) dmaFreeContiguous(dev, pages[0] as Pfn, allocSize);
    else for (const p of pages) k.mm.pages.freePages(p, 0);
    return;
  }
  dmaFreeContiguous(dev, physToPfn(k.platform.pt.translate(cpuAddr, 'read', 'virt_to_page').phys), allocSize);
}


/**
 * `iommu_dma_alloc`: see the file header for the path order.
 * @returns the CPU address and the IOVA; `cpuAddr` null on failure
 * @see drivers/iommu/dma-iommu.c iommu_dma_alloc
 */
function iommuDmaAlloc(dev: Device, size: number, gfpIn: Gfp, attrs: number): DmaAllocation {
  const k = dev.kernel;
  const coherent = devIsDmaCoherent(dev);
  const gfp = gfpIn | __GFP_ZERO;
  if (gfpflagsAllowBlocking(gfp) && ((attrs & DMA_ATTR_FORCE_CONTIGUOUS) === 0 || k.quirks.iommuForceContiguousIgnored)) return iommuDmaAllocRemap(dev, size, gfp, attrs);
  let page: Pfn;
  let cpuAddr: CpuAddr;
  if (!gfpflagsAllowBlocking(gfp) && !coherent) {
    const r = dmaAllocFromPool(dev, pageAlign(size), gfp, () => true);
    if (r === null) return DMA_ALLOC_FAILED;
    page = r.page;
    cpuAddr = r.cpuAddr;
  } else {
    const r = iommuDmaAllocContiguous(dev, size, gfp, attrs);
    if (r === null) return DMA_ALLOC_FAILED;
    page = r.page;
    cpuAddr = r.cpuAddr;
    if (k.mm.vmalloc.findVmArea(cpuAddr) !== undefined) iommuDmaCookie(dev).contiguousRemaps.add(cpuAddr);
  }
  const handle = iommuDmaMapRange(dev, pfnToPhys(page), size, IOMMU_READ | IOMMU_WRITE, maskLimit(dev.coherentDmaMask));
  if (handle === DMA_MAPPING_ERROR) {
    iommuDmaFreeCpu(dev, size, cpuAddr);
    return DMA_ALLOC_FAILED;
  }
  return { cpuAddr, dmaHandle: handle };
}

/** `iommu_dma_free`: unmap the IOVA, then free the CPU side. @see drivers/iommu/dma-iommu.c iommu_dma_free */
function iommuDmaFree(dev: Device, size: number, cpuAddr: CpuAddr, handle: DmaAddr): void {
  iommuDmaUnmapRange(dev, handle, size);
  iommuDmaFreeCpu(dev, size, cpuAddr);
}

/**
 * The pages behind a coherent buffer's CPU address: a page array's pages
 * (`dma_common_find_pages`), else the contiguous run from the page behind
 * the address (`vmalloc_to_page` or `virt_to_page`: a contiguous remap, an
 * atomic-pool chunk, the linear map). Null when the address has no page.
 */
function bufferPages(dev: Device, cpuAddr: CpuAddr, size: number): { pages: Pfn[]; array: boolean } | null {
  const k = dev.kernel;
  const area = k.mm.vmalloc.findVmArea(cpuAddr);
  if (area !== undefined && area.addr === cpuAddr && !iommuDmaCookie(dev).contiguousRemaps.has(cpuAddr) && area.pages.length >= pagesFor(size)) return { pages: [...area.pages], array: true };
  try {
    const first = physToPfn(k.platform.pt.translate(cpuAddr, 'read', 'vmalloc_to_page').phys);
    return { pages: Array.from({ length: pagesFor(size) }, (_, i) => pfn(first + i)), array: false };
  } catch {
    return null;
  }
}

/**
 * `iommu_dma_mmap`: the buffer's pages into the VMA (a page array through
 * `vm_map_pages`, else `remap_pfn_range` of the contiguous run), with `dma_pgprot`.
 * @returns 0, or -ENXIO when the VMA does not fit
 */
function iommuDmaMmap(dev: Device, vma: VmArea, cpuAddr: CpuAddr, _handle: DmaAddr, size: number, attrs: number): number {
  const nr = pagesFor(size);
  if (vma.pgoff >= nr || vma.nrPages > nr - vma.pgoff) return -ENXIO;
  const pages = bufferPages(dev, cpuAddr, size)?.pages ?? null;
  if (pages === null) return -ENXIO;
  return vmMapPages(dev.kernel.platform.user, vma, pages, dmaPgprot(dev, vma.attr, attrs));
}

/**
 * `iommu_dma_get_sgtable`: a page array becomes a table of its contiguous
 * runs (`sg_alloc_table_from_pages`, the last entry ending at `size`); a
 * contiguous buffer one entry of `PAGE_ALIGN(size)`.
 */
function iommuDmaGetSgtable(dev: Device, cpuAddr: CpuAddr, _handle: DmaAddr, size: number): { ret: number; sgt: SgTable | null } {
  const b = bufferPages(dev, cpuAddr, size);
  if (b === null) return { ret: -ENXIO, sgt: null };
  if (!b.array) return { ret: 0, sgt: sgTable([sgEntry(b.pages[0] as Pfn, 0, pageAlign(size))]) };
  return { ret: 0, sgt: sgAllocTableFromPages(b.pages, size) };
}

/* ---- streaming ---- */

/**
 * `iommu_dma_map_swiotlb`: bounce through swiotlb with the granule as the
 * allocation alignment (swiotlb copies the original into the slots); for an
 * untrusted device the rest of the granules, before and after the buffer,
 * is zeroed so it sees no leftover kernel data.
 * @returns the bounce buffer's physical address, or null (no active swiotlb: "DMA bounce buffers are inactive"; or full)
 * @see drivers/iommu/dma-iommu.c iommu_dma_map_swiotlb (v6.18)
 */
function iommuDmaMapSwiotlb(dev: Device, c: IommuDmaCookie, physIn: PhysAddr, size: number, dir: DmaDataDirection, attrs: number): number | null {
  const k = dev.kernel;
  if (!isSwiotlbActive(dev)) {
    k.dmesg.warnOnce(`iommu-dma:inactive:${dev.name}`, `${dev.name}: DMA bounce buffers are inactive, unable to map unaligned transaction.`);
    return null;
  }
  const tlb = swiotlbTblMapSingle(dev, physIn, size, c.iovad.granuleBytes - 1, dir, attrs);
  if ((tlb as number) === (DMA_MAPPING_ERROR as number)) return null;
  if (!devIsUntrusted(dev)) return tlb;
  const g = c.iovad.granuleBytes;
  const start = tlb - (tlb % g);
  const end = Math.ceil((tlb + size) / g) * g;
  const lin = (pa: number) => ((k.mm.pages.pageAddress(physToPfn(pa as PhysAddr)) as number) + (pa % PAGE_SIZE)) as CpuAddr;
  const fill = (from: number, n: number) => {
    for (let done = 0; done < n; ) {
      const at = from + done;
      const chunk = Math.min(n - done, PAGE_SIZE - (at % PAGE_SIZE));
      if (k.quirks.iommuBouncePaddingNotCleared) {
        // Mutant: the padding is filled from the bytes around the original, granule for granule.
        const src = physIn - (physIn % g) + (at - start);
        const n2 = Math.min(chunk, PAGE_SIZE - (src % PAGE_SIZE));
        if (k.platform.mem.isRam(src, n2)) k.platform.cpu.write(lin(at), k.platform.cpu.read(lin(src), n2, 'iommu-dma:bounce'), 'iommu-dma:bounce');
        done += n2;
        continue;
      }
      k.platform.cpu.memset(lin(at), 0, chunk, 'iommu-dma:bounce padding');
      done += chunk;
    }
  };
  fill(start, tlb - start);
  fill(tlb + size, end - tlb - size);
  return tlb;
}

/**
 * `iommu_dma_map_phys`: bounce when needed (untrusted or small kmalloc
 * buffer, and the buffer does not fill whole granules), clean the cache of
 * what the device will read for a non-coherent device, then map. MMIO
 * (`dma_map_resource`) is mapped as it is.
 * @see drivers/iommu/dma-iommu.c iommu_dma_map_phys (v6.18), iommu_dma_map_page (v6.6)
 */
function iommuDmaMapPhys(dev: Device, physIn: PhysAddr, size: number, dir: DmaDataDirection, attrs: number): DmaAddr {
  const k = dev.kernel;
  const c = iommuDmaCookie(dev);
  const coherent = devIsDmaCoherent(dev);
  const prot = protFor(dev, dir);
  let phys: number = physIn;
  const mmio = (attrs & DMA_ATTR_MMIO) !== 0;
  if (devUseSwiotlb(dev, size, dir) && c.iovad.iovaOffset(phys | size) !== 0) {
    // An unaligned MMIO range cannot be bounced.
    if (mmio) return DMA_MAPPING_ERROR;
    const tlb = iommuDmaMapSwiotlb(dev, c, physIn, size, dir, attrs);
    if (tlb === null) return DMA_MAPPING_ERROR;
    phys = tlb;
  }
  if (mmio) return iommuDmaMapRange(dev, phys, size, prot, maskLimit(dev.dmaMask ?? 32));
  if (!coherent && (attrs & DMA_ATTR_SKIP_CPU_SYNC) === 0) archSyncDmaForDevice(k.arch, phys, size, dir);
  const iova = iommuDmaMapRange(dev, phys, size, prot, maskLimit(dev.dmaMask ?? 32));
  if (iova === DMA_MAPPING_ERROR && isSwiotlbBuffer(dev, phys)) swiotlbTblUnmapSingle(dev, phys as PhysAddr, size, dir, attrs);
  return iova;
}

/**
 * `iommu_dma_unmap_phys`: the physical address from the page tables, the
 * CPU's view made current for a non-coherent device, the IOVA unmapped, the
 * bounce buffer (if any) copied back and released.
 */
function iommuDmaUnmapPhys(dev: Device, handle: DmaAddr, size: number, dir: DmaDataDirection, attrs: number): void {
  const k = dev.kernel;
  const phys = iommuDmaCookie(dev).domain.iovaToPhys(handle);
  if (phys === null) {
    k.dmesg.warn(`WARNING: drivers/iommu/dma-iommu.c: iommu_dma_unmap_phys: IOVA not mapped [dev=${dev.name}] [handle=${hex(handle)}]`);
    return;
  }
  if ((attrs & DMA_ATTR_MMIO) !== 0) {
    iommuDmaUnmapRange(dev, handle, size);
    return;
  }
  if ((attrs & DMA_ATTR_SKIP_CPU_SYNC) === 0 && !devIsDmaCoherent(dev)) archSyncDmaForCpu(k.arch, phys, size, dir);
  iommuDmaUnmapRange(dev, handle, size);
  if (isSwiotlbBuffer(dev, phys)) swiotlbTblUnmapSingle(dev, phys as PhysAddr, size, dir, attrs);
}

/** `iommu_dma_sync_single_for_cpu`. */
function iommuDmaSyncSingleForCpu(dev: Device, handle: DmaAddr, size: number, dir: DmaDataDirection): void {
  if (devIsDmaCoherent(dev) && !devUseSwiotlb(dev, size, dir)) return;
  const phys = iommuDmaCookie(dev).domain.iovaToPhys(handle);
  if (phys === null) return;
  if (!devIsDmaCoherent(dev)) archSyncDmaForCpu(dev.kernel.arch, phys, size, dir);
  if (isSwiotlbBuffer(dev, phys)) swiotlbSyncSingleForCpu(dev, phys as PhysAddr, size, dir);
}

/** `iommu_dma_sync_single_for_device`. */
function iommuDmaSyncSingleForDevice(dev: Device, handle: DmaAddr, size: number, dir: DmaDataDirection): void {
  if (devIsDmaCoherent(dev) && !devUseSwiotlb(dev, size, dir)) return;
  const phys = iommuDmaCookie(dev).domain.iovaToPhys(handle);
  if (phys === null) return;
  if (isSwiotlbBuffer(dev, phys)) swiotlbSyncSingleForDevice(dev, phys as PhysAddr, size, dir);
  if (!devIsDmaCoherent(dev)) archSyncDmaForDevice(dev.kernel.arch, phys, size, dir);
}

/** sg lists mapped entry by entry through swiotlb (`sg_dma_mark_swiotlb`). */
const swiotlbSgLists = new WeakSet<Scatterlist>();

/** `dev_use_sg_swiotlb`: untrusted, or any entry a small kmalloc buffer of a non-coherent device. */
function devUseSgSwiotlb(dev: Device, sgl: readonly Scatterlist[], nents: number, dir: DmaDataDirection): boolean {
  if (devIsUntrusted(dev)) return true;
  return sgl.slice(0, nents).some((s) => dmaKmallocNeedsBounce(dev, s.length, dir));
}

/** `iommu_dma_sync_sg_for_cpu`. */
function iommuDmaSyncSgForCpu(dev: Device, sgl: Scatterlist[], nents: number, dir: DmaDataDirection): void {
  const first = sgl[0];
  if (first !== undefined && swiotlbSgLists.has(first)) {
    for (const s of sgl.slice(0, nents)) iommuDmaSyncSingleForCpu(dev, s.dmaAddress, s.length, dir);
  } else if (!devIsDmaCoherent(dev)) for (const s of sgl.slice(0, nents)) archSyncDmaForCpu(dev.kernel.arch, sgPhys(s), s.length, dir);
}

/** `iommu_dma_sync_sg_for_device`. */
function iommuDmaSyncSgForDevice(dev: Device, sgl: Scatterlist[], nents: number, dir: DmaDataDirection): void {
  const first = sgl[0];
  if (first !== undefined && swiotlbSgLists.has(first)) {
    for (const s of sgl.slice(0, nents)) iommuDmaSyncSingleForDevice(dev, s.dmaAddress, s.length, dir);
  } else if (!devIsDmaCoherent(dev)) for (const s of sgl.slice(0, nents)) archSyncDmaForDevice(dev.kernel.arch, sgPhys(s), s.length, dir);
}

/**
 * `__finalise_sg`: write the DMA side of the list: entries start a new DMA
 * segment unless they begin on a granule, the running segment is not at a
 * segment boundary, and the merged length stays within `max_segment_size`.
 * @returns the number of DMA segments
 */
function finaliseSg(dev: Device, sgl: Scatterlist[], nents: number, iovaStart: number, iovaOffs: readonly number[], iovaLens: readonly number[]): number {
  const segMask = dev.dmaParms.segmentBoundaryMask;
  const maxLen = dev.dmaParms.maxSegmentSize;
  let dma = iovaStart;
  let cur = -1;
  let curLen = 0;
  let count = 0;
  const limits = !dev.kernel.quirks.iommuSgMergeIgnoresLimits;
  for (let i = 0; i < nents; i++) {
    const s = sgl[i] as Scatterlist;
    s.dmaAddress = DMA_MAPPING_ERROR;
    s.dmaLength = 0;
    const off = iovaOffs[i] as number;
    const len = s.length;
    if (curLen !== 0 && off === 0 && (!limits || (dma % (segMask + 1) !== 0 && maxLen - curLen >= len))) {
      curLen += len;
    } else {
      cur++;
      curLen = len;
      count++;
      (sgl[cur] as Scatterlist).dmaAddress = (dma + off) as DmaAddr;
    }
    (sgl[cur] as Scatterlist).dmaLength = curLen;
    dma += iovaLens[i] as number;
    if (len + off < (iovaLens[i] as number)) curLen = 0;
  }
  return count;
}

/**
 * `iommu_dma_map_sg`: one IOVA range for the whole list (or entry by entry
 * through swiotlb, see {@link devUseSgSwiotlb}).
 * @returns DMA segments, or -ENOMEM / -EIO (-5) / -EINVAL
 * @see drivers/iommu/dma-iommu.c iommu_dma_map_sg
 */
function iommuDmaMapSg(dev: Device, sgl: Scatterlist[], nents: number, dir: DmaDataDirection, attrs: number): number {
  const k = dev.kernel;
  const c = iommuDmaCookie(dev);
  const g = c.iovad.granuleBytes;
  if (devUseSgSwiotlb(dev, sgl, nents, dir)) {
    let i = 0;
    for (; i < nents; i++) {
      const s = sgl[i] as Scatterlist;
      const a = iommuDmaMapPhys(dev, sgPhys(s), s.length, dir, attrs);
      if (a === DMA_MAPPING_ERROR) break;
      s.dmaAddress = a;
      s.dmaLength = s.length;
    }
    if (i < nents) {
      for (let j = 0; j < i; j++) {
        const s = sgl[j] as Scatterlist;
        iommuDmaUnmapPhys(dev, s.dmaAddress, s.length, dir, attrs | DMA_ATTR_SKIP_CPU_SYNC);
        s.dmaAddress = DMA_MAPPING_ERROR;
        s.dmaLength = 0;
      }
      return -5;
    }
    swiotlbSgLists.add(sgl[0] as Scatterlist);
    return nents;
  }
  if ((attrs & DMA_ATTR_SKIP_CPU_SYNC) === 0) iommuDmaSyncSgForDevice(dev, sgl, nents, dir);
  const mask = dev.dmaParms.segmentBoundaryMask;
  const offs: number[] = [];
  const lens: number[] = [];
  let iovaLen = 0;
  let prev = -1;
  for (let i = 0; i < nents; i++) {
    const s = sgl[i] as Scatterlist;
    // iova_offset of the entry (of its physical address: a 64 KiB granule is larger than the CPU page here).
    const off = sgPhys(s) % g;
    const sLen = Math.ceil((s.length + off) / g) * g;
    // `(mask - iova_len + 1) & mask` in unsigned arithmetic: the distance to the next boundary.
    const padLen = (mask + 1 - (iovaLen % (mask + 1))) % (mask + 1);
    offs.push(off);
    lens.push(sLen);
    if (padLen !== 0 && padLen < sLen - 1 && prev >= 0) {
      lens[prev] = (lens[prev] as number) + padLen;
      iovaLen += padLen;
    }
    iovaLen += sLen;
    prev = i;
  }
  // `__invalidate_sg` on every failure: no stale DMA fields survive.
  const invalidate = () => sgl.slice(0, nents).forEach((s) => ((s.dmaAddress = DMA_MAPPING_ERROR), (s.dmaLength = 0)));
  const iova = iommuDmaAllocIova(dev, c, iovaLen, maskLimit(dev.dmaMask ?? 32));
  if (iova === 0) {
    invalidate();
    return -ENOMEM;
  }
  const prot = protFor(dev, dir);
  let at = iova;
  let ok = true;
  for (let i = 0; i < nents && ok; i++) {
    const s = sgl[i] as Scatterlist;
    // The entry's IOVA length, segment-boundary padding included: the padding maps the memory after the entry.
    if (c.domain.map(at, sgPhys(s) - (offs[i] as number), lens[i] as number, prot) !== 0) ok = false;
    at += lens[i] as number;
  }
  if (!ok) {
    // Unmap what was mapped, give the IOVA back (the kernel's out_free_iova).
    let a = iova;
    for (let i = 0; i < nents; i++) {
      c.domain.unmap(a, lens[i] as number);
      a += lens[i] as number;
    }
    c.domain.invalidateRange(iova, iovaLen);
    iommuDmaFreeIova(dev, c, iova, iovaLen, false);
    k.dmesg.err(`iommu_dma_map_sg: iommu_map_sg failed [dev=${dev.name}] [iova=${hex(iova)}]`);
    invalidate();
    return -EINVAL;
  }
  return finaliseSg(dev, sgl, nents, iova, offs, lens);
}

/**
 * `iommu_dma_unmap_sg`: sync for the CPU, then unmap the single IOVA range
 * from the first DMA segment to the end of the last (or entry by entry for
 * a list that bounced).
 */
function iommuDmaUnmapSg(dev: Device, sgl: Scatterlist[], nents: number, dir: DmaDataDirection, attrs: number): void {
  if ((attrs & DMA_ATTR_SKIP_CPU_SYNC) === 0) iommuDmaSyncSgForCpu(dev, sgl, nents, dir);
  const first = sgl[0];
  if (first !== undefined && swiotlbSgLists.has(first)) {
    swiotlbSgLists.delete(first);
    for (const s of sgl.slice(0, nents)) iommuDmaUnmapPhys(dev, s.dmaAddress, s.length, dir, attrs | DMA_ATTR_SKIP_CPU_SYNC);
    return;
  }
  let start = -1;
  let end = 0;
  for (const s of sgl.slice(0, nents)) {
    if (s.dmaLength === 0) break;
    if (start < 0) start = s.dmaAddress;
    end = s.dmaAddress + s.dmaLength;
  }
  if (start >= 0 && end > start) iommuDmaUnmapRange(dev, start, end - start);
}

/* ---- dma_alloc_pages ---- */

/** `dma_common_alloc_pages` on dma-iommu: contiguous pages mapped (without a sync) at an IOVA below the streaming mask, zeroed. */
function iommuDmaAllocPages(dev: Device, size: number, dir: DmaDataDirection, gfp: Gfp): { page: Pfn; dmaHandle: DmaAddr } | null {
  const k = dev.kernel;
  const g = gfp & ~(__GFP_DMA | __GFP_DMA32 | __GFP_COMP);
  let page = dmaAllocContiguous(dev, size, g);
  page ??= k.mm.pages.allocPages(g & ~__GFP_ZERO, getOrder(size));
  if (page === null) return null;
  const handle = iommuDmaMapPhys(dev, pfnToPhys(page), size, dir, DMA_ATTR_SKIP_CPU_SYNC);
  if (handle === DMA_MAPPING_ERROR) {
    dmaFreeContiguous(dev, page, size);
    return null;
  }
  k.platform.cpu.memset(k.mm.pages.pageAddress(page) as CpuAddr, 0, size, 'dma_common_alloc_pages:memset');
  return { page, dmaHandle: handle };
}

/** `dma_common_free_pages`: unmap (no sync), free. */
function iommuDmaFreePages(dev: Device, size: number, page: Pfn, handle: DmaAddr, dir: DmaDataDirection): void {
  iommuDmaUnmapPhys(dev, handle, size, dir, DMA_ATTR_SKIP_CPU_SYNC);
  dmaFreeContiguous(dev, page, size);
}

/**
 * `iommu_dma_ops` (v6.6; v6.10+ calls the same functions directly when
 * `use_dma_iommu(dev)`).
 */
export const iommuDmaOps: DmaMapOps = {
  name: 'iommu_dma_ops',
  alloc: iommuDmaAlloc,
  free: (dev, size, cpuAddr, handle) => iommuDmaFree(dev, size, cpuAddr, handle),
  mmap: iommuDmaMmap,
  getSgtable: (dev, cpuAddr, handle, size) => iommuDmaGetSgtable(dev, cpuAddr, handle, size),
  mapPhys: iommuDmaMapPhys,
  unmapPhys: iommuDmaUnmapPhys,
  mapSg: iommuDmaMapSg,
  unmapSg: iommuDmaUnmapSg,
  syncSingleForCpu: iommuDmaSyncSingleForCpu,
  syncSingleForDevice: iommuDmaSyncSingleForDevice,
  syncSgForCpu: iommuDmaSyncSgForCpu,
  syncSgForDevice: iommuDmaSyncSgForDevice,
  allocPages: iommuDmaAllocPages,
  freePages: iommuDmaFreePages,
  /** `iommu_dma_max_mapping_size`: swiotlb's limit for an untrusted device, else none. */
  maxMappingSize: (dev) => (devIsUntrusted(dev) && isSwiotlbActive(dev) ? swiotlbMaxMappingSize(dev) : SIZE_MAX),
  /** `iommu_dma_opt_mapping_size`: the largest size the IOVA range caches serve. */
  optMappingSize: () => iovaRcacheRange(),
  /** `iommu_dma_get_merge_boundary`: the granule mask. */
  getMergeBoundary: (dev) => iommuDmaCookie(dev).iovad.granuleBytes - 1,
  getRequiredMask: () => maskLimit(32),
  dmaSupported: () => true,
};
