/**
 * dma-direct (kernel/dma/direct.c, direct.h): DMA without an IOMMU, where the
 * DMA address is the physical address seen through the device's
 * `dma_range_map`. Allocation (zone choice from the coherent mask and the
 * DMA32 → DMA retry, uncached remap for non-coherent devices, the
 * `DMA_ATTR_NO_KERNEL_MAPPING` cookie), mmap and get_sgtable from the DMA
 * handle, streaming map / unmap / sync with the arch cache maintenance.
 * See kernel/dma/direct.c (`dma_direct_alloc`, `__dma_direct_alloc_pages`,
 * `dma_direct_alloc_no_mapping`, `dma_direct_free`, `dma_direct_mmap`,
 * `dma_direct_get_sgtable`, `dma_direct_map_sg`), kernel/dma/direct.h
 * (`dma_direct_map_phys`, the syncs) and include/linux/dma-direct.h.
 *
 * The core (`mapping.ts`) validates arguments and calls in here; nothing in
 * this file checks the caller again. Buffers a device cannot (or must not)
 * use in place bounce through swiotlb (`swiotlb.ts`, kernel/dma/swiotlb.c);
 * restricted-pool devices allocate from their swiotlb (`swiotlb_alloc`).
 * Pages come from CMA first (`contiguous.ts`, kernel/dma/contiguous.c) and
 * fall back to the buddy allocator; non-blocking allocations that need a
 * remap come from the atomic pools (`pool.ts`, kernel/dma/pool.c);
 * non-coherent allocations on a global-pool platform come only from the
 * global coherent pool (`coherent.ts`, kernel/dma/coherent.c).
 */
import type { PageAttr } from '../../../platform/pgtable.ts';
import type { VmArea } from '../../../platform/user.ts';
import {
  type CpuAddr,
  type DmaAddr,
  type Pfn,
  type PhysAddr,
  PAGE_SIZE,
  getOrder,
  hex,
  maskLimit,
  minNotZero,
  pageAlign,
  pagesFor,
  pfnToPhys,
  physToPfn,
} from '../../../platform/types.ts';
import { archDmaPrepCoherent, archSyncDmaForCpu, archSyncDmaForDevice } from '../../arch/dma-sync-policy.ts';
import { armDmaAlloc, armDmaFree } from '../../arch/arm/mm/dma-mapping.ts';
import type { Device } from '../../include/linux/device.ts';
import { DMA_ALLOC_FAILED, devIsDmaCoherent, dmaKmallocNeedsBounce, type DmaAllocation } from '../../include/linux/dma-map-ops.ts';
import { dmaCapable, dmaStreamingLimit, dmaToPhys, forceDmaUnencrypted, physToDma } from '../../include/linux/dma-direct.ts';
import {
  DMA_ATTR_MMIO,
  DMA_ATTR_NO_KERNEL_MAPPING,
  DMA_ATTR_NO_WARN,
  DMA_ATTR_REQUIRE_COHERENT,
  DMA_ATTR_SKIP_CPU_SYNC,
  DMA_ATTR_WRITE_COMBINE,
  DMA_MAPPING_ERROR,
  SIZE_MAX,
  type DmaDataDirection,
} from '../../include/linux/dma-mapping.ts';
import { ENXIO, EIO } from '../../include/linux/errno.ts';
import { GFP_DMA, GFP_DMA32, __GFP_NOWARN, __GFP_ZERO, type Gfp, gfpflagsAllowBlocking } from '../../include/linux/gfp.ts';
import { pageToPfn, pfnToPage } from '../../include/linux/mm.ts';
import { type Scatterlist, type SgTable, sgEntry, sgPhys, sgTable } from '../../include/linux/scatterlist.ts';
import { dmaAllocFromGlobalCoherent, dmaMmapFromDevCoherent, dmaMmapFromGlobalCoherent, dmaReleaseFromGlobalCoherent } from './coherent.ts';
import { dmaAllocContiguous, dmaFreeContiguous } from './contiguous.ts';
import { dmaAllocFromPool, dmaFreeFromPool } from './pool.ts';
import { dmaCommonContiguousRemap } from './remap.ts';
import {
  isSwiotlbActive,
  isSwiotlbBuffer,
  isSwiotlbForAlloc,
  isSwiotlbForceBounce,
  swiotlbAlloc,
  swiotlbFree,
  swiotlbMap,
  swiotlbMaxMappingSize,
  swiotlbSyncSingleForCpu,
  swiotlbSyncSingleForDevice,
  swiotlbTblUnmapSingle,
} from './swiotlb.ts';

/** `phys_to_dma_direct`: `phys_to_dma_unencrypted` for devices that need shared memory, else `phys_to_dma` (the same in the model, see dma-direct.h). */
export function physToDmaDirect(dev: Device, phys: number): DmaAddr {
  return physToDma(dev, phys);
}

/** `dma_direct_to_page`: the page behind a DMA handle (may be any page if the handle is wrong). */
export function dmaDirectToPage(dev: Device, dma: DmaAddr): Pfn {
  return physToPfn(dmaToPhys(dev, dma));
}

/**
 * `dma_coherent_ok`: does `[phys, phys+size)` translate to DMA addresses the
 * device's coherent mask and bus limit cover?
 */
export function dmaCoherentOk(dev: Device, phys: number, size: number): boolean {
  const dma = physToDmaDirect(dev, phys);
  if (dma === DMA_MAPPING_ERROR) return false;
  return dma + size - 1 <= minNotZero(maskLimit(dev.coherentDmaMask), dev.busDmaLimit);
}

/**
 * `dma_direct_optimal_gfp_mask`: the zone hint for the coherent limit
 * translated to a physical address: `GFP_DMA` if it fits ZONE_DMA, `GFP_DMA32`
 * if it fits 4 GiB, else none. Also returns that physical limit.
 */
export function dmaDirectOptimalGfpMask(dev: Device): { gfp: Gfp; physLimit: number } {
  const dmaLimit = minNotZero(maskLimit(dev.coherentDmaMask), dev.busDmaLimit);
  const physLimit = dmaToPhys(dev, dmaLimit) as number;
  const zoneDmaEnd = dev.kernel.platform.profile.zones.dmaEndPhys;
  if (zoneDmaEnd !== null && physLimit <= zoneDmaEnd - 1) return { gfp: GFP_DMA, physLimit };
  if (physLimit <= maskLimit(32)) return { gfp: GFP_DMA32, physLimit };
  return { gfp: 0, physLimit };
}

/**
 * `__dma_direct_alloc_pages`: pages the device can reach with its coherent
 * mask. Tries the zone hint, then on "got memory but not addressable"
 * escalates to GFP_DMA32, then GFP_DMA; a plain allocation failure ends the
 * loop at once. CMA (kernel/dma/contiguous.c) is tried first; its pages are kept only
 * when the device reaches them and (unless `allowHighmem`) they are lowmem,
 * else they go back to CMA and the buddy allocator serves.
 * @returns the first pfn of the pages (`PAGE_ALIGN(size)` from CMA, a block of `2^get_order(size)` from the buddy allocator), or null
 */
export function dmaDirectAllocPages(dev: Device, size: number, gfpIn: Gfp, allowHighmem: boolean): Pfn | null {
  const mm = dev.kernel.mm;
  if (size % PAGE_SIZE !== 0) dev.kernel.dmesg.warnOnce('__dma_direct_alloc_pages:align', `WARNING: size not page aligned [size=${size}]`);
  if (isSwiotlbForAlloc(dev)) return dmaDirectAllocSwiotlb(dev, size);
  const { gfp: hint, physLimit } = dmaDirectOptimalGfpMask(dev);
  let gfp = gfpIn | hint;
  const order = getOrder(size);
  const cma = dmaAllocContiguous(dev, size, gfp);
  if (cma !== null) {
    if (dmaCoherentOk(dev, pfnToPhys(cma), size) && (allowHighmem || !mm.pages.isHighmem(cma))) return cma;
    dmaFreeContiguous(dev, cma, size);
  } else if (dev.kernel.quirks.cmaNoBuddyFallback && gfpflagsAllowBlocking(gfp) && size > PAGE_SIZE) return null;
  const hasZone = (t: 'DMA' | 'DMA32'): boolean => mm.pages.zones.some((z) => z.type === t);
  for (;;) {
    const page = mm.pages.allocPages(gfp, order);
    if (page === null) return null;
    if (dmaCoherentOk(dev, pfnToPhys(page), size) && (allowHighmem || !mm.pages.isHighmem(page))) return page;
    mm.pages.freePages(page, order);
    if (hasZone('DMA32') && physLimit < maskLimit(64) && (gfp & (GFP_DMA32 | GFP_DMA)) === 0) {
      gfp |= GFP_DMA32;
    } else if (hasZone('DMA') && (gfp & GFP_DMA) === 0) {
      gfp = (gfp & ~GFP_DMA32) | GFP_DMA;
    } else {
      return null;
    }
  }
}

/** `dma_direct_alloc_swiotlb`: pages from the restricted pool, refused (and released) when outside the coherent mask. */
function dmaDirectAllocSwiotlb(dev: Device, size: number): Pfn | null {
  const page = swiotlbAlloc(dev, size);
  if (page !== null && !dmaCoherentOk(dev, page * PAGE_SIZE, size)) {
    swiotlbFree(dev, page, size);
    return null;
  }
  return page as Pfn | null;
}

/** `dma_set_decrypted`: share the buffer with the host for devices that need it. May sleep. @returns 0 or a negative errno */
function dmaSetDecrypted(dev: Device, vaddr: CpuAddr, size: number): number {
  if (!forceDmaUnencrypted(dev)) return 0;
  return dev.kernel.mm.setMemoryDecrypted(vaddr, pagesFor(size));
}

/** `dma_set_encrypted`: make the buffer private again; on failure the caller leaks it. @returns 0 or a negative errno */
function dmaSetEncrypted(dev: Device, vaddr: CpuAddr, size: number): number {
  if (!forceDmaUnencrypted(dev)) return 0;
  const ret = dev.kernel.mm.setMemoryEncrypted(vaddr, pagesFor(size));
  if (ret !== 0) dev.kernel.dmesg.warn(`leaking DMA memory that can't be re-encrypted [dev=${dev.name}] [cpu_addr=${hex(vaddr)}]`);
  return ret;
}

/** `__dma_direct_free_pages`: back to the restricted pool if the pages came from it, else to the page allocator. */
function dmaDirectFreePages(dev: Device, page: Pfn, size: number): void {
  if (swiotlbFree(dev, page, size)) return;
  dmaFreeContiguous(dev, page, size);
}

/**
 * `dma_pgprot`: the attribute of a CPU mapping of a coherent buffer. Coherent
 * devices keep the normal cacheable attribute; non-coherent devices get
 * write-combine for `DMA_ATTR_WRITE_COMBINE` where the arch supports it,
 * else `pgprot_dmacoherent` (arm64 Normal-NC and bufferable ARMv7 buffer
 * stores like write-combine). kernel/dma/mapping.c.
 */
export function dmaPgprot(dev: Device, prot: PageAttr, attrs: number): PageAttr {
  if (devIsDmaCoherent(dev)) return prot;
  const cfg = dev.kernel.platform.profile.dma;
  if ((attrs & DMA_ATTR_WRITE_COMBINE) !== 0 && cfg.archHasDmaWriteCombine) return 'write-combine';
  return cfg.dmacoherentAttr;
}

/** `dma_direct_alloc_no_mapping`: pages without a kernel mapping; the cookie is the `struct page *`. Not zeroed. */
function dmaDirectAllocNoMapping(dev: Device, size: number, gfp: Gfp): DmaAllocation {
  const page = dmaDirectAllocPages(dev, size, gfp & ~__GFP_ZERO, true);
  if (page === null) return DMA_ALLOC_FAILED;
  if (!dev.kernel.mm.pages.isHighmem(page)) archDmaPrepCoherent(dev.kernel.arch, page, size);
  return { cpuAddr: pfnToPage(dev.kernel.platform.profile.va, page), dmaHandle: physToDmaDirect(dev, pfnToPhys(page)) };
}

/** `dma_direct_alloc_from_pool`: from the atomic pools (kernel/dma/pool.c), zone by the coherent limit, chunks the device cannot reach refused. */
function dmaDirectAllocFromPool(dev: Device, size: number, gfp: Gfp): DmaAllocation {
  const r = dmaAllocFromPool(dev, size, gfp | dmaDirectOptimalGfpMask(dev).gfp, (d, phys, len) => dmaCoherentOk(d, phys, len));
  if (r === null) return DMA_ALLOC_FAILED;
  return { cpuAddr: r.cpuAddr, dmaHandle: physToDmaDirect(dev, pfnToPhys(r.page)) };
}

/**
 * `dma_direct_alloc`: a coherent buffer. Decision order of kernel/dma/direct.c: cookie for
 * NO_KERNEL_MAPPING; non-coherent devices go to the arch allocator (ARM32),
 * the global pool (noMMU), or remap / set_uncached; non-blocking remaps come
 * from the atomic pools; then pages, remap (flushing the cacheable alias
 * first), zeroing through the final mapping, uncached alias.
 * @param size bytes, > 0 (checked by the core)
 * @returns `{ cpuAddr, dmaHandle }`, `cpuAddr` null on failure
 */
export function dmaDirectAlloc(dev: Device, sizeIn: number, gfpIn: Gfp, attrs: number): DmaAllocation {
  const k = dev.kernel;
  const cfg = k.platform.profile.dma;
  const size = pageAlign(sizeIn);
  let gfp = gfpIn;
  if ((attrs & DMA_ATTR_NO_WARN) !== 0) gfp |= __GFP_NOWARN;
  const restricted = isSwiotlbForAlloc(dev);
  const unencrypted = forceDmaUnencrypted(dev);
  if ((attrs & DMA_ATTR_NO_KERNEL_MAPPING) !== 0 && !unencrypted && !restricted) return dmaDirectAllocNoMapping(dev, size, gfp);

  let remap = false;
  let setUncached = false;
  if (!devIsDmaCoherent(dev)) {
    if (cfg.archHasDmaAlloc && !restricted) return armDmaAlloc(dev, size, gfp, attrs);
    if (cfg.globalPool) {
      const r = dmaAllocFromGlobalCoherent(dev, size);
      return r.cpuAddr === null ? DMA_ALLOC_FAILED : r;
    }
    remap = cfg.directRemap;
    setUncached = cfg.archHasSetUncached && !remap;
    if (!remap && !setUncached) {
      k.dmesg.warnOnce('dma_direct_alloc:unsupported', 'coherent DMA allocations not supported on this platform.');
      return DMA_ALLOC_FAILED;
    }
  }
  // Remapping and decrypting may sleep: non-blocking requests that need either come from the atomic pools.
  if ((remap || unencrypted) && !gfpflagsAllowBlocking(gfp) && !restricted && !k.quirks.atomicPoolBypass) return dmaDirectAllocFromPool(dev, size, gfp);

  const page = dmaDirectAllocPages(dev, size, gfp & ~__GFP_ZERO, true);
  if (page === null) return DMA_ALLOC_FAILED;
  if (k.mm.pages.isHighmem(page)) {
    remap = true;
    setUncached = false;
  }
  let ret: CpuAddr | null;
  if (remap) {
    const prot = dmaPgprot(dev, 'cacheable', attrs);
    archDmaPrepCoherent(k.arch, page, size);
    ret = dmaCommonContiguousRemap(dev, page, size, prot);
    if (ret === null) {
      dmaDirectFreePages(dev, page, size);
      return DMA_ALLOC_FAILED;
    }
  } else {
    ret = k.mm.pages.pageAddress(page);
    // A conversion that failed leaves the pages in an unknown state: they are leaked, never freed.
    if (ret !== null && dmaSetDecrypted(dev, ret, size) !== 0) return DMA_ALLOC_FAILED;
  }
  k.platform.cpu.memset(ret as CpuAddr, 0, size, 'dma-direct:memset');
  if (setUncached) {
    archDmaPrepCoherent(k.arch, page, size);
    ret = k.platform.pt.uncachedAlias(pfnToPhys(page));
  }
  return { cpuAddr: ret, dmaHandle: physToDmaDirect(dev, pfnToPhys(page)) };
}

/**
 * `dma_direct_free`: undo `dma_direct_alloc`. The pages are found from the
 * DMA handle, so a wrong handle frees someone else's pages (kernel/dma/direct.c); the core
 * refuses handles it did not hand out before calling this.
 */
export function dmaDirectFree(dev: Device, sizeIn: number, cpuAddr: CpuAddr, dmaAddr: DmaAddr, attrs: number): void {
  const k = dev.kernel;
  const cfg = k.platform.profile.dma;
  const size = pageAlign(sizeIn);
  if ((attrs & DMA_ATTR_NO_KERNEL_MAPPING) !== 0 && !forceDmaUnencrypted(dev) && !isSwiotlbForAlloc(dev)) {
    // The cookie is a struct page pointer: pointer arithmetic only.
    const page = pageToPfn(k.platform.profile.va, cpuAddr);
    if (page !== null) dmaFreeContiguous(dev, page, size);
    return;
  }
  if (!devIsDmaCoherent(dev)) {
    if (cfg.archHasDmaAlloc && !isSwiotlbForAlloc(dev)) {
      armDmaFree(dev, size, cpuAddr, dmaAddr, attrs);
      return;
    }
    if (cfg.globalPool) {
      if (!dmaReleaseFromGlobalCoherent(k, getOrder(size), cpuAddr)) k.dmesg.warn(`WARNING: dma_direct_free: not from the global coherent pool [dev=${dev.name}] [cpu_addr=${hex(cpuAddr)}]`);
      return;
    }
  }
  if (dmaFreeFromPool(dev, cpuAddr, size)) return;
  if (k.platform.pt.isVmallocAddr(cpuAddr)) k.mm.vmalloc.vunmap(cpuAddr);
  else if (dmaSetEncrypted(dev, cpuAddr, size) !== 0) return;
  dmaDirectFreePages(dev, dmaDirectToPage(dev, dmaAddr), size);
}

/**
 * `dma_direct_alloc_pages` (behind `dma_alloc_pages`, `dma_alloc_noncoherent`
 * and, on dma-direct, `dma_alloc_noncontiguous`): lowmem pages the device
 * reaches with its coherent mask, **cacheable** even for a non-coherent
 * device (no remap, no `arch_dma_prep_coherent`: ownership moves with the
 * streaming syncs), zeroed through the linear map. A device that needs
 * shared memory on an encrypted guest gets, when it may not sleep, memory
 * from the atomic pools (decrypting sleeps); a failed decryption leaks the
 * pages. `gfp` is passed through (the core refused zone modifiers).
 * @param size bytes, page aligned by the core
 * @returns the first pfn and the DMA handle, or null
 * @see kernel/dma/direct.c dma_direct_alloc_pages (v6.18)
 */
export function dmaDirectAllocPagesApi(dev: Device, size: number, gfp: Gfp): { page: Pfn; dmaHandle: DmaAddr } | null {
  const k = dev.kernel;
  if (forceDmaUnencrypted(dev) && !gfpflagsAllowBlocking(gfp) && !isSwiotlbForAlloc(dev)) {
    const r = dmaAllocFromPool(dev, size, gfp | dmaDirectOptimalGfpMask(dev).gfp, (d, phys, len) => dmaCoherentOk(d, phys, len));
    return r === null ? null : { page: r.page, dmaHandle: physToDmaDirect(dev, pfnToPhys(r.page)) };
  }
  const page = dmaDirectAllocPages(dev, size, gfp, false);
  if (page === null) return null;
  const ret = k.mm.pages.pageAddress(page) as CpuAddr;
  if (dmaSetDecrypted(dev, ret, size) !== 0) return null;
  k.platform.cpu.memset(ret, 0, size, 'dma-direct:memset');
  return { page, dmaHandle: physToDmaDirect(dev, pfnToPhys(page)) };
}

/**
 * `dma_direct_free_pages`: back to the atomic pool that holds the pages, else
 * re-encrypt (leaking on failure) and free.
 * @see kernel/dma/direct.c dma_direct_free_pages (v6.18)
 */
export function dmaDirectFreePagesApi(dev: Device, size: number, page: Pfn): void {
  const vaddr = dev.kernel.mm.pages.pageAddress(page) as CpuAddr;
  if (dmaFreeFromPool(dev, vaddr, size)) return;
  if (dmaSetEncrypted(dev, vaddr, size) !== 0) return;
  dmaDirectFreePages(dev, page, size);
}

/** `dma_direct_can_mmap`: coherent devices, or any with `CONFIG_DMA_NONCOHERENT_MMAP`. */
export function dmaDirectCanMmap(dev: Device): boolean {
  return devIsDmaCoherent(dev) || dev.kernel.platform.profile.dma.noncoherentMmap;
}

/**
 * `dma_direct_mmap`: map the buffer into user space from the pfn of the DMA
 * handle, with the `dma_pgprot` attribute. Bounds: `vm_pgoff < count` and
 * `vma_pages <= count - vm_pgoff`, else `-ENXIO` (kernel/dma/direct.c).
 * @returns 0 or a negative errno
 */
export function dmaDirectMmap(dev: Device, vma: VmArea, cpuAddr: CpuAddr, dmaAddr: DmaAddr, size: number, attrs: number): number {
  const count = pagesFor(size);
  const prot = dmaPgprot(dev, 'cacheable', attrs);
  const pooled = dmaMmapFromDevCoherent(dev, vma, cpuAddr, size, prot) ?? dmaMmapFromGlobalCoherent(dev.kernel, vma, cpuAddr, size, prot);
  if (pooled !== null) return pooled;
  if (vma.pgoff >= count || vma.nrPages > count - vma.pgoff) return -ENXIO;
  const first = dmaDirectToPage(dev, dmaAddr);
  return dev.kernel.platform.user.remapPfnRange(vma, 0, (first + vma.pgoff) as Pfn, vma.nrPages, prot);
}

/** `dma_direct_get_sgtable`: one entry, the page of the DMA handle, `PAGE_ALIGN(size)` long (kernel/dma/direct.c). */
export function dmaDirectGetSgtable(dev: Device, _cpuAddr: CpuAddr, dmaAddr: DmaAddr, size: number): { ret: number; sgt: SgTable | null } {
  dev.kernel.platform.context.mightSleep('sg_alloc_table(GFP_KERNEL)');
  return { ret: 0, sgt: sgTable([sgEntry(dmaDirectToPage(dev, dmaAddr), 0, pageAlign(size))]) };
}

/**
 * `dma_direct_map_phys` (kernel/dma/direct.h): force-bounced devices go to swiotlb; else
 * the device uses the buffer in place at `phys_to_dma(phys)`, unless it
 * cannot reach it or it may be a small kmalloc buffer sharing a cache line
 * (`dma_kmalloc_needs_bounce`): then swiotlb bounces it where active, and
 * otherwise the map fails with "DMA addr … overflow". In-place mappings of
 * non-coherent devices get `arch_sync_dma_for_device` unless SKIP_CPU_SYNC
 * or MMIO.
 * @returns the DMA address or `DMA_MAPPING_ERROR`
 */
export function dmaDirectMapPhys(dev: Device, phys: PhysAddr, size: number, dir: DmaDataDirection, attrs: number): DmaAddr {
  const mmio = (attrs & DMA_ATTR_MMIO) !== 0;
  if (isSwiotlbForceBounce(dev)) {
    // Neither MMIO nor a mapping that must stay coherent may be bounced (v6.19, "dma-direct: prevent SWIOTLB path when DMA_ATTR_REQUIRE_COHERENT is set").
    if ((attrs & (DMA_ATTR_MMIO | DMA_ATTR_REQUIRE_COHERENT)) !== 0) return DMA_MAPPING_ERROR;
    return swiotlbMap(dev, phys, size, dir, attrs);
  }
  const dma = mmio ? (phys as number as DmaAddr) : physToDma(dev, phys);
  if (!dmaCapable(dev, dma, size, !mmio) || (!mmio && dmaKmallocNeedsBounce(dev, size, dir))) {
    if (isSwiotlbActive(dev) && !mmio && (attrs & DMA_ATTR_REQUIRE_COHERENT) === 0) return swiotlbMap(dev, phys, size, dir, attrs);
    dev.kernel.dmesg.warnOnce(
      `dma_direct_map_phys:${dev.name}`,
      `DMA addr overflow [dev=${dev.name}] [dma=${hex(dma)}] [size=${size}] ` +
        `[mask=${hex(dmaStreamingLimit(dev))}] [bus_limit=${hex(dev.busDmaLimit)}]`,
    );
    return DMA_MAPPING_ERROR;
  }
  if (!devIsDmaCoherent(dev) && (attrs & (DMA_ATTR_SKIP_CPU_SYNC | DMA_ATTR_MMIO)) === 0) {
    archSyncDmaForDevice(dev.kernel.arch, phys, size, dir);
  }
  return dma;
}

/** `dma_direct_sync_single_for_device`: copy into the bounce buffer first (if any), then cache maintenance (kernel/dma/direct.h). */
export function dmaDirectSyncSingleForDevice(dev: Device, addr: DmaAddr, size: number, dir: DmaDataDirection): void {
  const phys = dmaToPhys(dev, addr);
  swiotlbSyncSingleForDevice(dev, phys, size, dir);
  if (!devIsDmaCoherent(dev)) archSyncDmaForDevice(dev.kernel.arch, phys, size, dir);
}

/** `dma_direct_sync_single_for_cpu`: cache maintenance first, then copy out of the bounce buffer (if any) (kernel/dma/direct.h). */
export function dmaDirectSyncSingleForCpu(dev: Device, addr: DmaAddr, size: number, dir: DmaDataDirection): void {
  const phys = dmaToPhys(dev, addr);
  if (!devIsDmaCoherent(dev)) archSyncDmaForCpu(dev.kernel.arch, phys, size, dir);
  swiotlbSyncSingleForCpu(dev, phys, size, dir);
}

/**
 * `dma_direct_unmap_phys`: for-cpu sync (and with it the bounce copy-back)
 * unless SKIP_CPU_SYNC, then release the bounce slots with SKIP_CPU_SYNC
 * forced so nothing is copied twice; nothing at all for MMIO and
 * REQUIRE_COHERENT mappings, which were never bounced.
 */
export function dmaDirectUnmapPhys(dev: Device, addr: DmaAddr, size: number, dir: DmaDataDirection, attrs: number): void {
  if ((attrs & (DMA_ATTR_MMIO | DMA_ATTR_REQUIRE_COHERENT)) !== 0) return;
  const phys = dmaToPhys(dev, addr);
  if ((attrs & DMA_ATTR_SKIP_CPU_SYNC) === 0) {
    if (dev.kernel.quirks.swiotlbUnmapNoCopyBack) {
      if (!devIsDmaCoherent(dev)) archSyncDmaForCpu(dev.kernel.arch, phys, size, dir);
    } else dmaDirectSyncSingleForCpu(dev, addr, size, dir);
  }
  swiotlbTblUnmapSingle(dev, phys, size, dir, attrs | DMA_ATTR_SKIP_CPU_SYNC);
}

/**
 * `dma_direct_map_sg`: every entry mapped on its own, no merging
 * (`sg_dma_len = length`). A failure on entry i unmaps entries before it with
 * SKIP_CPU_SYNC and returns `-EIO` (kernel/dma/direct.c).
 * @returns `nents` or `-EIO`
 */
export function dmaDirectMapSg(dev: Device, sgl: Scatterlist[], nents: number, dir: DmaDataDirection, attrs: number): number {
  for (let i = 0; i < nents; i++) {
    const sg = sgl[i] as Scatterlist;
    const dma = dmaDirectMapPhys(dev, sgPhys(sg), sg.length, dir, attrs);
    if (dma === DMA_MAPPING_ERROR) {
      dmaDirectUnmapSg(dev, sgl, i, dir, attrs | DMA_ATTR_SKIP_CPU_SYNC);
      for (let j = 0; j < i; j++) {
        const e = sgl[j] as Scatterlist;
        e.dmaAddress = DMA_MAPPING_ERROR;
        e.dmaLength = 0;
      }
      return -EIO;
    }
    sg.dmaAddress = dma;
    sg.dmaLength = sg.length;
  }
  return nents;
}

/** `dma_direct_unmap_sg`: unmap the caller's `nents` entries. */
export function dmaDirectUnmapSg(dev: Device, sgl: Scatterlist[], nents: number, dir: DmaDataDirection, attrs: number): void {
  for (let i = 0; i < nents; i++) {
    const sg = sgl[i] as Scatterlist;
    dmaDirectUnmapPhys(dev, sg.dmaAddress, sg.dmaLength, dir, attrs);
  }
}

/** `dma_direct_sync_sg_for_device`: per entry, using `sg->length`. */
export function dmaDirectSyncSgForDevice(dev: Device, sgl: Scatterlist[], nents: number, dir: DmaDataDirection): void {
  for (let i = 0; i < nents; i++) {
    const sg = sgl[i] as Scatterlist;
    dmaDirectSyncSingleForDevice(dev, sg.dmaAddress, sg.length, dir);
  }
}

/** `dma_direct_sync_sg_for_cpu`: per entry, using `sg->length`. */
export function dmaDirectSyncSgForCpu(dev: Device, sgl: Scatterlist[], nents: number, dir: DmaDataDirection): void {
  for (let i = 0; i < nents; i++) {
    const sg = sgl[i] as Scatterlist;
    dmaDirectSyncSingleForCpu(dev, sg.dmaAddress, sg.length, dir);
  }
}

/**
 * `dma_direct_supported`: any mask of 32 bits or more; a smaller mask must
 * cover the DMA address of min(top of RAM, ZONE_DMA limit) (kernel/dma/direct.c).
 */
export function dmaDirectSupported(dev: Device, maskBits: number): boolean {
  if (maskBits >= 32) return true;
  const p = dev.kernel.platform.profile;
  const last = p.ram[p.ram.length - 1];
  let minMask = last === undefined ? 0 : last.startPhys + last.sizeBytes - PAGE_SIZE;
  if (p.zones.dmaEndPhys !== null) minMask = Math.min(minMask, p.zones.dmaEndPhys - 1);
  return maskLimit(maskBits) >= physToDma(dev, minMask);
}

/**
 * `dma_direct_get_required_mask`: the smallest all-ones mask covering the
 * DMA address of the last page of RAM (`max_pfn - 1`), a power of two minus
 * one, not the exact top of RAM.
 * @returns the mask as a limit in bytes (`DMA_BIT_MASK(n)`)
 * @see kernel/dma/direct.c dma_direct_get_required_mask (v6.18)
 */
export function dmaDirectGetRequiredMask(dev: Device): number {
  const ram = dev.kernel.platform.profile.ram;
  const last = ram[ram.length - 1];
  if (last === undefined) return 0;
  const maxDma = physToDmaDirect(dev, last.startPhys + last.sizeBytes - PAGE_SIZE);
  return maskLimit(Math.floor(Math.log2(Math.max(1, maxDma))) + 1);
}

/**
 * `dma_direct_all_ram_mapped`: true without a `dma_range_map`; otherwise
 * every byte of RAM must lie in one of its windows.
 * @see kernel/dma/direct.c dma_direct_all_ram_mapped
 */
export function dmaDirectAllRamMapped(dev: Device): boolean {
  const map = dev.dmaRangeMap;
  if (map === null) return true;
  return dev.kernel.platform.profile.ram.every((b) => {
    // Walk the bank window by window: each step must start inside some window.
    for (let at: number = b.startPhys; at < b.startPhys + b.sizeBytes; ) {
      const w = map.find((r) => at >= r.cpuStartPhys && at < r.cpuStartPhys + r.sizeBytes);
      if (w === undefined) return false;
      at = w.cpuStartPhys + w.sizeBytes;
    }
    return true;
  });
}

/**
 * `dma_direct_max_mapping_size`: the swiotlb limit when the device may
 * bounce (addressing-limited or force-bounced), else no limit.
 * @param addressingLimited `dma_addressing_limited(dev)` (kernel/dma/mapping.c; passed in so this layer does not call back up)
 * @returns bytes
 * @see kernel/dma/direct.c dma_direct_max_mapping_size
 */
export function dmaDirectMaxMappingSize(dev: Device, addressingLimited: boolean): number {
  if (isSwiotlbActive(dev) && (addressingLimited || isSwiotlbForceBounce(dev))) return swiotlbMaxMappingSize(dev);
  return SIZE_MAX;
}

/** `dma_direct_need_sync`: non-coherent devices, and bounced addresses, need syncs. */
export function dmaDirectNeedSync(dev: Device, addr: DmaAddr): boolean {
  return !devIsDmaCoherent(dev) || isSwiotlbBuffer(dev, dmaToPhys(dev, addr));
}
