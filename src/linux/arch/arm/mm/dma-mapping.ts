/**
 * The ARM32 coherent allocator (arch/arm/mm/dma-mapping.c `arch_dma_alloc`,
 * `arch_dma_free`): what dma-direct calls for non-coherent devices on ARM
 * with an MMU (`CONFIG_ARCH_HAS_DMA_ALLOC`). See `__dma_alloc` in the same
 * file.
 *
 * Allocators in the kernel's order: CMA when the gfp may block and a CMA
 * area exists (the device's or the default; a CMA failure is final, there
 * is no fallback here); "remap" (pages + uncached/bufferable vmap) when it
 * may block; otherwise ARM's own atomic pool (`coherent_pool=`, default
 * 256 KiB, a gen_pool taken at boot from CMA when there is an area, else
 * from remapped pages). Every buffer is cleared and flushed
 * (`__dma_clear_buffer`: memset through the linear map, or kmap for highmem,
 * then clean+invalidate), and tracked in a list so that freeing an unknown
 * CPU address only warns ("Freeing invalid buffer"). Remap pages are
 * allocated at the order of the size, split, and the tail beyond the size
 * freed. A highmem CMA page has no linear address and is always remapped.
 * Lowmem CMA pages are remapped too: the kernel changes the linear map's
 * attributes in place (`__dma_remap`), which this page-table model does not
 * offer; the CPU view is the same uncached alias either way.
 */
import type { CpuAddr, DmaAddr, Pfn, PhysAddr } from '../../../../platform/types.ts';
import { PAGE_SIZE, getOrder, hex, maskLimit, pagesFor, pfn, pfnToPhys } from '../../../../platform/types.ts';
import { IOMMU_READ, IOMMU_WRITE, type IommuDomainHw } from '../../../../platform/iommu.ts';
import type { VmArea } from '../../../../platform/user.ts';
import { archSyncDmaForCpu, archSyncDmaForDevice } from '../../../arch/dma-sync-policy.ts';
import type { DmaMapOps } from '../../../include/linux/dma-map-ops.ts';
import { type Scatterlist, type SgTable, sgAllocTableFromPages, sgPhys } from '../../../include/linux/scatterlist.ts';
import { dmaCommonPagesRemap } from '../../../kernel/dma/remap.ts';
import { vmMapPages } from '../../../mm/memory.ts';
import type { Device, DmaKernel } from '../../../include/linux/device.ts';
import type { GenPool } from '../../../lib/genalloc.ts';
import { DMA_ALLOC_FAILED, type DmaAllocation } from '../../../include/linux/dma-map-ops.ts';
import { physToDma } from '../../../include/linux/dma-direct.ts';
import { DMA_ATTR_ALLOC_SINGLE_PAGES, DMA_ATTR_FORCE_CONTIGUOUS, DMA_ATTR_MMIO, DMA_ATTR_NO_KERNEL_MAPPING, DMA_ATTR_SKIP_CPU_SYNC, DMA_ATTR_WRITE_COMBINE, DMA_FROM_DEVICE, DMA_MAPPING_ERROR, DMA_TO_DEVICE, type DmaDataDirection } from '../../../include/linux/dma-mapping.ts';
import { GFP_DMA, GFP_KERNEL, __GFP_HIGHMEM, __GFP_NORETRY, __GFP_NOWARN, __GFP_ZERO, type Gfp, gfpflagsAllowBlocking } from '../../../include/linux/gfp.ts';
import type { PageAttr } from '../../../../platform/pgtable.ts';
import { devGetCmaArea, dmaAllocFromContiguous, dmaReleaseFromContiguous } from '../../../kernel/dma/contiguous.ts';
import { dmaCommonContiguousRemap, dmaCommonFreeRemap } from '../../../kernel/dma/remap.ts';
import { VM_DMA_COHERENT } from '../../../mm/vmalloc.ts';

/** `DEFAULT_DMA_COHERENT_POOL_SIZE`, bytes. */
export const ARM_DEFAULT_COHERENT_POOL_BYTES = 256 * 1024;

/** Which allocator served a buffer (`struct arm_dma_allocator`). */
type ArmAllocator = 'cma' | 'remap' | 'pool';

/** `struct arm_dma_buffer`: one live allocation of the ARM allocator. */
interface ArmDmaBuffer {
  readonly virt: CpuAddr;
  readonly page: Pfn;
  readonly sizeBytes: number;
  readonly allocator: ArmAllocator;
}

const buffers = new WeakMap<DmaKernel, ArmDmaBuffer[]>();

function bufferList(k: DmaKernel): ArmDmaBuffer[] {
  let l = buffers.get(k);
  if (l === undefined) {
    l = [];
    buffers.set(k, l);
  }
  return l;
}

/** `__dma_clear_buffer`: zero through a CPU mapping and flush it to RAM (clean + invalidate). */
export function dmaClearBuffer(k: DmaKernel, page: Pfn, size: number, viaLinear = false): void {
  const { pt, cpu, cache } = k.platform;
  for (let i = 0; i < pagesFor(size); i++) {
    const p = pfn(page + i);
    // viaLinear (the highmemClearLinear quirk) computes the linear address a highmem page does not have (seed 002).
    const lin = viaLinear ? ((pfnToPhys(p) - k.platform.profile.va.physOffset + k.platform.profile.va.pageOffset) as CpuAddr) : k.mm.pages.pageAddress(p);
    const va = lin ?? (pt.kmapLocal(p) as CpuAddr);
    cpu.memset(va, 0, PAGE_SIZE, 'arm:__dma_clear_buffer');
    if (lin === null) pt.kunmapLocal(va);
  }
  cache.cleanInvalidate(pfnToPhys(page), pagesFor(size) * PAGE_SIZE);
}

/** `__dma_alloc_buffer`: `size` bytes of pages, split, tail freed, cleared and flushed. */
function dmaAllocBuffer(dev: Device, size: number, gfp: Gfp): Pfn | null {
  const pages = dev.kernel.mm.pages;
  const order = getOrder(size);
  const page = pages.allocPages(gfp & ~__GFP_ZERO, order);
  if (page === null) return null;
  pages.splitPage(page, order);
  for (let i = pagesFor(size); i < 2 ** order; i++) pages.freePages(pfn(page + i), 0);
  dmaClearBuffer(dev.kernel, page, size);
  return page;
}

function dmaFreeBuffer(k: DmaKernel, page: Pfn, size: number): void {
  for (let i = 0; i < pagesFor(size); i++) k.mm.pages.freePages(pfn(page + i), 0);
}

/**
 * `atomic_pool_init`: ARM's pool for non-blocking allocations, from CMA when
 * an area exists (no fallback), else remapped pages, cleared and flushed.
 * @returns the pool, or null (then non-blocking allocations fail)
 */
export function armAtomicPoolInit(k: DmaKernel): GenPool | null {
  const size = k.platform.profile.coherentPoolBytes ?? ARM_DEFAULT_COHERENT_POOL_BYTES;
  const prot = k.platform.profile.dma.dmacoherentAttr;
  const pool = k.mm.genPoolCreate(Math.log2(PAGE_SIZE), 'arm_atomic_pool');
  pool.setAlgo('first-fit-order-align');
  let page: Pfn | null;
  if (devGetCmaArea(k, null) !== null) page = dmaAllocFromContiguous(k, null, pagesFor(size), getOrder(size), false, true);
  else {
    page = k.mm.pages.allocPages(GFP_KERNEL | GFP_DMA, getOrder(size));
    if (page !== null) k.mm.pages.markPersistent(page);
  }
  const first = page;
  const virt = first === null ? null : k.mm.vmalloc.vmap(Array.from({ length: pagesFor(size) }, (_, i) => pfn(first + i)), prot, VM_DMA_COHERENT);
  if (first === null || virt === null) {
    k.dmesg.err(`DMA: failed to allocate ${size / 1024} KiB pool for atomic coherent allocation`);
    return null;
  }
  dmaClearBuffer(k, first, size);
  pool.addVirt(virt, pfnToPhys(first), size);
  return pool;
}

/** `__alloc_from_contiguous`: CMA pages, cleared and flushed, remapped with `prot`; released again if the remap fails. */
function allocFromContiguous(dev: Device, size: number, prot: PageAttr, gfp: Gfp): { page: Pfn; virt: CpuAddr } | null {
  const k = dev.kernel;
  const count = pagesFor(size);
  const page = dmaAllocFromContiguous(k, dev, count, getOrder(size), (gfp & __GFP_NOWARN) !== 0);
  if (page === null) return null;
  dmaClearBuffer(k, page, size, k.quirks.highmemClearLinear);
  const virt = dmaCommonContiguousRemap(dev, page, size, prot);
  if (virt === null) {
    dmaReleaseFromContiguous(k, dev, page, count);
    return null;
  }
  return { page, virt };
}

/**
 * `__alloc_from_pool`: a naturally aligned piece of the atomic pool. Never
 * sleeps, prints nothing when the pool is exhausted, and does not clear the
 * piece: the pool is cleared once, at boot (`atomic_pool_init`), so a piece
 * handed out again still holds what its last user left there, unlike every
 * other `dma_alloc_*` path (see fixtures/arm-atomic-pool-not-zeroed/BUG.md).
 * @see arch/arm/mm/dma-mapping.c __alloc_from_pool (v6.11 and later read; unchanged in v6.18)
 */
function allocFromPool(k: DmaKernel, size: number): { page: Pfn; virt: CpuAddr } | null {
  const pool = k.armAtomicPool;
  if (pool === null) {
    k.dmesg.warn(`WARNING: coherent pool not initialised! [size=${size}]`);
    return null;
  }
  const virt = pool.alloc(size);
  if (virt === 0) return null;
  return { page: pfn(pool.virtToPhys(virt) / PAGE_SIZE), virt: virt as CpuAddr };
}

/**
 * `arch_dma_alloc` (`__dma_alloc`): a coherent buffer for a non-coherent
 * device. @param size bytes, page aligned by the caller
 * @returns `{ cpuAddr, dmaHandle }`, `cpuAddr` null on failure
 */
export function armDmaAlloc(dev: Device, size: number, gfpIn: Gfp, attrs: number): DmaAllocation {
  const k = dev.kernel;
  let gfp = gfpIn;
  // The device's reach for coherent memory: the coherent mask, or the bus limit where that is lower.
  const limit = dev.busDmaLimit === 0 ? maskLimit(dev.coherentDmaMask) : Math.min(maskLimit(dev.coherentDmaMask), dev.busDmaLimit);
  if (limit < 0xffff_ffff) gfp |= GFP_DMA;
  const prot: PageAttr = (attrs & DMA_ATTR_WRITE_COMBINE) !== 0 ? 'write-combine' : k.platform.profile.dma.dmacoherentAttr;
  const allowBlock = gfpflagsAllowBlocking(gfp);
  const allocator: ArmAllocator = allowBlock && devGetCmaArea(k, dev) !== null ? 'cma' : allowBlock ? 'remap' : 'pool';
  let got: { page: Pfn; virt: CpuAddr } | null = null;
  if (allocator === 'cma') got = allocFromContiguous(dev, size, prot, gfp);
  else if (allocator === 'pool') got = allocFromPool(k, size);
  else {
    const page = dmaAllocBuffer(dev, size, gfp);
    const virt = page === null ? null : dmaCommonContiguousRemap(dev, page, size, prot);
    if (page !== null && virt === null) dmaFreeBuffer(k, page, size);
    got = page === null || virt === null ? null : { page, virt };
  }
  if (got === null) return DMA_ALLOC_FAILED;
  bufferList(k).push({ virt: got.virt, page: got.page, sizeBytes: size, allocator });
  return { cpuAddr: got.virt, dmaHandle: physToDma(dev, pfnToPhys(got.page)) };
}

/** `arch_dma_free` (`__arm_dma_free`): undo by allocator, the buffer found by CPU address; unknown ones only warn. */
export function armDmaFree(dev: Device, size: number, cpuAddr: CpuAddr, _handle: DmaAddr, _attrs: number): void {
  const k = dev.kernel;
  const list = bufferList(k);
  const i = list.findIndex((b) => b.virt === cpuAddr);
  const buf = list[i];
  if (buf === undefined) {
    k.dmesg.warn(`Freeing invalid buffer ${hex(cpuAddr)} [dev=${dev.name}] [size=${size}]`);
    return;
  }
  list.splice(i, 1);
  if (buf.allocator === 'pool') {
    k.armAtomicPool?.free(cpuAddr, buf.sizeBytes);
    return;
  }
  dmaCommonFreeRemap(dev, cpuAddr);
  if (buf.allocator === 'cma') dmaReleaseFromContiguous(k, dev, buf.page, pagesFor(buf.sizeBytes));
  else dmaFreeBuffer(k, buf.page, buf.sizeBytes);
}

/* ------------------------------------------------------------------ */
/* The ARM32 IOMMU ops (arm_iommu_*)                                    */
/* ------------------------------------------------------------------ */
/*
 * What ARM32 uses for a device behind an IOMMU (an Exynos System MMU, an
 * OMAP IOMMU) once platform code has called `arm_iommu_attach_device`:
 * its own `dma_map_ops` (`iommu_ops`), not dma-iommu. The IOVA space is a
 * bitmap over a window the platform chose (`arm_iommu_create_mapping`),
 * allocated first-fit at the order of the size (capped at
 * `CONFIG_ARM_DMA_IOMMU_ALIGNMENT`). Blocking allocations are page arrays
 * (2 MiB, 1 MiB, 64 KiB, then 4 KiB chunks, or CMA for `DMA_ATTR_FORCE_CONTIGUOUS`)
 * remapped into the vmalloc area, and with `DMA_ATTR_NO_KERNEL_MAPPING` the
 * page array itself is the cookie (seed 004); non-blocking ones come from
 * the atomic pool (`__iommu_alloc_simple`, the path v3.5 lacked: seed 002).
 * Unmaps are strict (`iommu_unmap` invalidates before it returns).
 *
 * Version followed: arch/arm/mm/dma-mapping.c of Linux v6.6 (torvalds copy),
 * whose IOMMU part is unchanged in v6.18 apart from the removal of the
 * mapping extensions (not modelled: one bitmap), with v6.18's `map_phys`.
 *
 * Where Linux is undefined the model stays sane, and says so: a multi-page
 * `__iommu_alloc_simple` buffer is mapped whole (the kernel passes a
 * one-entry page array and maps whatever follows it); `iommu_map` is called
 * with `GFP_KERNEL` on every path (since v6.3 that is `might_sleep` even in
 * atomic context), which the model does not count as sleeping.
 */

/** Where the IOVA window of an ARM IOMMU mapping starts (Exynos DRM's `EXYNOS_DEV_ADDR_START`). */
export const ARM_IOMMU_MAPPING_BASE = 0x2000_0000;
/** Its size, bytes (Exynos DRM's `EXYNOS_DEV_ADDR_SIZE`, 256 MiB). */
export const ARM_IOMMU_MAPPING_BYTES = 256 * 1024 * 1024;
/** `CONFIG_ARM_DMA_IOMMU_ALIGNMENT`: the largest IOVA alignment, as a page order. */
export const ARM_DMA_IOMMU_ALIGNMENT = 8;
/** `iommu_order_array`: the chunk orders `__iommu_alloc_buffer` tries, largest first (2 MiB, 1 MiB, 64 KiB, 4 KiB). */
const IOMMU_ORDER_ARRAY = [9, 8, 4, 0] as const;

/** `struct dma_iommu_mapping`: the IOVA bitmap of one device's domain, one bit per page. */
interface ArmIommuMapping {
  readonly domain: IommuDomainHw;
  readonly basePfn: number;
  readonly bits: Uint8Array;
  /** Page arrays behind the cookies of `DMA_ATTR_NO_KERNEL_MAPPING` buffers and behind page-array remaps. */
  readonly arrays: Map<number, Pfn[]>;
}

const armMappings = new WeakMap<Device, ArmIommuMapping>();

function armMapping(dev: Device): ArmIommuMapping {
  const m = armMappings.get(dev);
  if (m === undefined) throw new Error(`${dev.name} is not attached to the ARM IOMMU ops`);
  return m;
}

/**
 * `arm_iommu_create_mapping` + `arm_iommu_attach_device`: the device uses
 * {@link armIommuOps} over an IOVA window of {@link ARM_IOMMU_MAPPING_BYTES}
 * from {@link ARM_IOMMU_MAPPING_BASE}.
 * @returns 0, or -ENODEV (-19) when the device has no IOMMU
 */
export function armIommuAttachDevice(dev: Device): number {
  const domain = dev.hw.iommu;
  if (domain === null) return -19;
  armMappings.set(dev, { domain, basePfn: ARM_IOMMU_MAPPING_BASE / PAGE_SIZE, bits: new Uint8Array(ARM_IOMMU_MAPPING_BYTES / PAGE_SIZE), arrays: new Map() });
  dev.dmaOps = armIommuOps;
  return 0;
}

/** IOVA space of the device's window in use, bytes (not a kernel function: the leak check's count). */
export function armIommuIovaInUse(dev: Device): number {
  return armMapping(dev).bits.reduce((n, b) => n + b, 0) * PAGE_SIZE;
}

/** `__alloc_iova`: first fit from the bottom, aligned to the order of the size (capped). @returns the IOVA or `DMA_MAPPING_ERROR` */
function armAllocIova(m: ArmIommuMapping, size: number): DmaAddr {
  const count = pagesFor(size);
  const align = 2 ** Math.min(getOrder(size), ARM_DMA_IOMMU_ALIGNMENT);
  for (let start = 0; start + count <= m.bits.length; start += align) {
    let free = true;
    for (let i = 0; i < count && free; i++) if (m.bits[start + i] !== 0) free = false;
    if (!free) continue;
    m.bits.fill(1, start, start + count);
    return ((m.basePfn + start) * PAGE_SIZE) as DmaAddr;
  }
  return DMA_MAPPING_ERROR;
}

/** `__free_iova`. */
function armFreeIova(m: ArmIommuMapping, iova: number, size: number): void {
  const start = iova / PAGE_SIZE - m.basePfn;
  if (start < 0 || start >= m.bits.length) return;
  m.bits.fill(0, start, start + pagesFor(size));
}

/** `__dma_info_to_prot`. */
function armProt(dev: Device, dir: DmaDataDirection): number {
  if (dev.kernel.quirks.iommuWriteOnToDevice && dir === DMA_TO_DEVICE) return IOMMU_READ | IOMMU_WRITE;
  return dir === DMA_TO_DEVICE ? IOMMU_READ : dir === DMA_FROM_DEVICE ? IOMMU_WRITE : IOMMU_READ | IOMMU_WRITE;
}

/** `iommu_map` then the invalidation `iommu_unmap` does: strict. */
function armUnmapRange(m: ArmIommuMapping, iova: number, len: number): void {
  m.domain.unmap(iova, len);
  m.domain.invalidateRange(iova, len);
  armFreeIova(m, iova, len);
}

/** `__iommu_create_mapping`: IOVA for `size`, each physically contiguous run of `pages` mapped read/write. */
function armCreateMapping(dev: Device, pages: readonly Pfn[], size: number): DmaAddr {
  const m = armMapping(dev);
  const iova = armAllocIova(m, size);
  if (iova === DMA_MAPPING_ERROR) return iova;
  const count = pagesFor(size);
  let at: number = iova;
  for (let i = 0; i < count; ) {
    let j = i + 1;
    while (j < count && pages[j] === (pages[j - 1] as number) + 1) j++;
    if (m.domain.map(at, pfnToPhys(pages[i] as Pfn), (j - i) * PAGE_SIZE, IOMMU_READ | IOMMU_WRITE) !== 0) {
      if (at > iova) m.domain.unmap(iova, at - iova);
      m.domain.invalidateRange(iova, count * PAGE_SIZE);
      armFreeIova(m, iova, size);
      return DMA_MAPPING_ERROR;
    }
    at += (j - i) * PAGE_SIZE;
    i = j;
  }
  return iova;
}

/**
 * `__iommu_alloc_buffer`: a page array for `size` (page aligned): CMA for
 * `DMA_ATTR_FORCE_CONTIGUOUS` (no fallback), else chunks of order 9, 8, 4 and 0
 * (highmem allowed; a failed large chunk drops to the next order), each split
 * and cleared.
 */
function armIommuAllocBuffer(dev: Device, size: number, gfpIn: Gfp, attrs: number): Pfn[] | null {
  const k = dev.kernel;
  let count = pagesFor(size);
  if ((attrs & DMA_ATTR_FORCE_CONTIGUOUS) !== 0) {
    const page = dmaAllocFromContiguous(k, dev, count, getOrder(size), (gfpIn & __GFP_NOWARN) !== 0);
    if (page === null) return null;
    dmaClearBuffer(k, page, size);
    return Array.from({ length: count }, (_, i) => pfn(page + i));
  }
  let orderIdx = (attrs & DMA_ATTR_ALLOC_SINGLE_PAGES) !== 0 ? IOMMU_ORDER_ARRAY.length - 1 : 0;
  const gfp = (gfpIn | __GFP_NOWARN | __GFP_HIGHMEM) & ~__GFP_ZERO;
  const out: Pfn[] = [];
  while (count > 0) {
    const order = IOMMU_ORDER_ARRAY[orderIdx] as number;
    if (Math.floor(Math.log2(count)) < order) {
      orderIdx++;
      continue;
    }
    const page = k.mm.pages.allocPages(order > 0 ? gfp | __GFP_NORETRY : gfp, order);
    if (page === null) {
      if (order > 0) {
        orderIdx++;
        continue;
      }
      for (const p of out) k.mm.pages.freePages(p, 0);
      return null;
    }
    if (order > 0) k.mm.pages.splitPage(page, order);
    for (let i = 0; i < 2 ** order; i++) out.push(pfn(page + i));
    dmaClearBuffer(k, page, PAGE_SIZE * 2 ** order);
    count -= 2 ** order;
  }
  return out;
}

/** `__iommu_free_buffer`: CMA pages back to CMA, others one by one. */
function armIommuFreeBuffer(dev: Device, pages: readonly Pfn[], size: number, attrs: number): void {
  const k = dev.kernel;
  if ((attrs & DMA_ATTR_FORCE_CONTIGUOUS) !== 0) {
    dmaReleaseFromContiguous(k, dev, pages[0] as Pfn, pagesFor(size));
    return;
  }
  for (const p of pages) k.mm.pages.freePages(p, 0);
}

/**
 * `__iommu_get_pages`: the page array behind a CPU address: the cookie
 * itself with `DMA_ATTR_NO_KERNEL_MAPPING`, else the remap's pages
 * (`dma_common_find_pages`); null for anything else. For an atomic-pool
 * buffer the kernel returns its `struct page *` cast to an array (so `mmap`
 * and `get_sgtable` of a buffer of more than one page read past it); the
 * model refuses instead (-ENXIO in the callers).
 */
function armIommuGetPages(dev: Device, cpuAddr: CpuAddr, attrs: number, caller: 'get_sgtable' | 'other' = 'other'): Pfn[] | null {
  const m = armMapping(dev);
  // Seed 004 mutant: get_sgtable looks the cookie up as if it were a vmalloc address.
  const cookieAsVmalloc = caller === 'get_sgtable' && dev.kernel.quirks.armIommuCookieAsVmalloc;
  if ((attrs & DMA_ATTR_NO_KERNEL_MAPPING) !== 0 && !cookieAsVmalloc) return m.arrays.get(cpuAddr) ?? null;
  const area = dev.kernel.mm.vmalloc.findVmArea(cpuAddr);
  if (area === undefined || area.addr !== cpuAddr || (area.flags & VM_DMA_COHERENT) === 0) return null;
  return m.arrays.get(cpuAddr) ?? null;
}

/** `__in_atomic_pool`. */
function inAtomicPool(k: DmaKernel, cpuAddr: CpuAddr, size: number): boolean {
  return k.armAtomicPool?.hasAddr(cpuAddr, size) ?? false;
}

/**
 * `arm_iommu_alloc_attrs`: coherent devices and non-blocking requests take
 * `__iommu_alloc_simple` (pages, or the atomic pool for a non-coherent
 * device); others a page array, mapped, then the array as the cookie
 * (`DMA_ATTR_NO_KERNEL_MAPPING`) or remapped with `__get_dma_pgprot`.
 */
function armIommuAlloc(dev: Device, sizeIn: number, gfp: Gfp, attrs: number): DmaAllocation {
  const k = dev.kernel;
  const size = pagesFor(sizeIn) * PAGE_SIZE;
  const coherent = dev.dmaCoherent;
  const prot: PageAttr = coherent ? 'cacheable' : (attrs & DMA_ATTR_WRITE_COMBINE) !== 0 ? 'write-combine' : k.platform.profile.dma.dmacoherentAttr;
  if ((coherent || !gfpflagsAllowBlocking(gfp)) && !k.quirks.armIommuNoAtomicPool) {
    // __iommu_alloc_simple
    let got: { page: Pfn; virt: CpuAddr } | null;
    if (coherent) {
      const page = dmaAllocBuffer(dev, size, gfp);
      got = page === null ? null : { page, virt: k.mm.pages.pageAddress(page) as CpuAddr };
    } else got = allocFromPool(k, size);
    if (got === null) return DMA_ALLOC_FAILED;
    const handle = armCreateMapping(dev, Array.from({ length: pagesFor(size) }, (_, i) => pfn(got.page + i)), size);
    if (handle === DMA_MAPPING_ERROR) {
      if (coherent) dmaFreeBuffer(k, got.page, size);
      else k.armAtomicPool?.free(got.virt, size);
      return DMA_ALLOC_FAILED;
    }
    return { cpuAddr: got.virt, dmaHandle: handle };
  }
  const pages = armIommuAllocBuffer(dev, size, gfp, attrs);
  if (pages === null) return DMA_ALLOC_FAILED;
  const handle = armCreateMapping(dev, pages, size);
  if (handle === DMA_MAPPING_ERROR) {
    armIommuFreeBuffer(dev, pages, size, attrs);
    return DMA_ALLOC_FAILED;
  }
  const m = armMapping(dev);
  // With NO_KERNEL_MAPPING the page array (kvzalloc'd, one pointer per page) is the cookie; else the remap.
  const cpuAddr = (attrs & DMA_ATTR_NO_KERNEL_MAPPING) !== 0 ? k.mm.slab.kmalloc(Math.max(8, pages.length * 4), gfp) : dmaCommonPagesRemap(dev, pages, prot);
  if (cpuAddr === null) {
    armUnmapRange(m, handle, size);
    armIommuFreeBuffer(dev, pages, size, attrs);
    return DMA_ALLOC_FAILED;
  }
  m.arrays.set(cpuAddr, pages);
  return { cpuAddr, dmaHandle: handle };
}

/** `arm_iommu_free_attrs`: atomic-pool and coherent buffers by address; page arrays found through `__iommu_get_pages`. */
function armIommuFree(dev: Device, sizeIn: number, cpuAddr: CpuAddr, handle: DmaAddr, attrs: number): void {
  const k = dev.kernel;
  const m = armMapping(dev);
  const size = pagesFor(sizeIn) * PAGE_SIZE;
  if (dev.dmaCoherent || inAtomicPool(k, cpuAddr, size)) {
    const phys = m.domain.iovaToPhys(handle);
    armUnmapRange(m, handle, size);
    if (inAtomicPool(k, cpuAddr, size)) k.armAtomicPool?.free(cpuAddr, size);
    else if (phys !== null) dmaFreeBuffer(k, pfn(phys / PAGE_SIZE), size);
    return;
  }
  const pages = armIommuGetPages(dev, cpuAddr, attrs);
  if (pages === null) {
    k.dmesg.warn(`WARNING: trying to free invalid coherent area: ${hex(cpuAddr)} [dev=${dev.name}]`);
    return;
  }
  if ((attrs & DMA_ATTR_NO_KERNEL_MAPPING) === 0) dmaCommonFreeRemap(dev, cpuAddr);
  else k.mm.slab.kfree(cpuAddr);
  m.arrays.delete(cpuAddr);
  armUnmapRange(m, handle, size);
  armIommuFreeBuffer(dev, pages, size, attrs);
}

/** `arm_iommu_mmap_attrs`: `vm_map_pages` of the page array; -ENXIO without one (an atomic-pool buffer) or past its end. */
function armIommuMmap(dev: Device, vma: VmArea, cpuAddr: CpuAddr, _handle: DmaAddr, size: number, attrs: number): number {
  const pages = armIommuGetPages(dev, cpuAddr, attrs);
  const nr = pagesFor(size);
  if (pages === null || vma.pgoff >= nr || vma.nrPages > nr - vma.pgoff) return -6;
  const attr: PageAttr = dev.dmaCoherent ? vma.attr : (attrs & DMA_ATTR_WRITE_COMBINE) !== 0 ? 'write-combine' : dev.kernel.platform.profile.dma.dmacoherentAttr;
  return vmMapPages(dev.kernel.platform.user, vma, pages.slice(0, nr), attr);
}

/** `arm_iommu_get_sgtable`: `sg_alloc_table_from_pages` over the page array; -ENXIO without one. */
function armIommuGetSgtable(dev: Device, cpuAddr: CpuAddr, _handle: DmaAddr, size: number, attrs: number): { ret: number; sgt: SgTable | null } {
  const pages = armIommuGetPages(dev, cpuAddr, attrs, 'get_sgtable');
  if (pages === null) return { ret: -6, sgt: null };
  return { ret: 0, sgt: sgAllocTableFromPages(pages, size) };
}

/** `arm_iommu_map_phys` (v6.18; `arm_iommu_map_page` before): clean for the device, IOVA for the whole pages, mapped with the direction's permission. */
function armIommuMapPhys(dev: Device, phys: PhysAddr, size: number, dir: DmaDataDirection, attrs: number): DmaAddr {
  const k = dev.kernel;
  const m = armMapping(dev);
  const offset = phys % PAGE_SIZE;
  const mmio = (attrs & DMA_ATTR_MMIO) !== 0;
  if (!mmio && !dev.dmaCoherent && (attrs & DMA_ATTR_SKIP_CPU_SYNC) === 0) archSyncDmaForDevice(k.arch, phys, size, dir);
  const len = pagesFor(size + offset) * PAGE_SIZE;
  const iova = armAllocIova(m, len);
  if (iova === DMA_MAPPING_ERROR) return iova;
  if (m.domain.map(iova, phys - offset, len, armProt(dev, dir)) !== 0) {
    armFreeIova(m, iova, len);
    return DMA_MAPPING_ERROR;
  }
  return (iova + offset) as DmaAddr;
}

/** `arm_iommu_unmap_phys`: make the CPU's view current (non-coherent), unmap and free the IOVA. */
function armIommuUnmapPhys(dev: Device, handle: DmaAddr, size: number, dir: DmaDataDirection, attrs: number): void {
  const k = dev.kernel;
  const m = armMapping(dev);
  const offset = handle % PAGE_SIZE;
  const iova = handle - offset;
  const len = pagesFor(size + offset) * PAGE_SIZE;
  const phys = m.domain.iovaToPhys(handle);
  if ((attrs & DMA_ATTR_MMIO) === 0 && !dev.dmaCoherent && (attrs & DMA_ATTR_SKIP_CPU_SYNC) === 0 && phys !== null) archSyncDmaForCpu(k.arch, phys, size, dir);
  if (k.quirks.iommuStrictUnmapLeavesMapping) return;
  armUnmapRange(m, iova, len);
}

/** `arm_iommu_sync_single_for_cpu` / `_for_device`: maintenance on the physical address behind the IOVA (nothing for a coherent device). */
function armIommuSync(dev: Device, handle: DmaAddr, size: number, dir: DmaDataDirection, forCpu: boolean): void {
  if (dev.dmaCoherent) return;
  const phys = armMapping(dev).domain.iovaToPhys(handle);
  if (phys === null) return;
  if (forCpu) archSyncDmaForCpu(dev.kernel.arch, phys, size, dir);
  else archSyncDmaForDevice(dev.kernel.arch, phys, size, dir);
}

/**
 * `arm_iommu_map_sg`: entries joined into chunks while each starts on a page
 * and the previous ends on one, up to `max_segment_size`; each chunk mapped
 * at its own IOVA (`__map_sg_chunk`), cleaned entry by entry.
 * @returns DMA segments, or -ENOMEM (no IOVA space) / -EINVAL (a refused map) after unmapping what was mapped
 */
function armIommuMapSg(dev: Device, sgl: Scatterlist[], nents: number, dir: DmaDataDirection, attrs: number): number {
  const k = dev.kernel;
  const m = armMapping(dev);
  const max = k.quirks.iommuSgMergeIgnoresLimits ? Infinity : dev.dmaParms.maxSegmentSize;
  const chunks: { start: number; end: number; offset: number; size: number }[] = [];
  let start = 0;
  let offset = (sgl[0] as Scatterlist).offset;
  let size = offset + (sgl[0] as Scatterlist).length;
  for (let i = 1; i < nents; i++) {
    const s = sgl[i] as Scatterlist;
    if (s.offset !== 0 || size % PAGE_SIZE !== 0 || size + s.length > max) {
      chunks.push({ start, end: i, offset, size });
      start = i;
      offset = s.offset;
      size = s.offset;
    }
    size += s.length;
  }
  chunks.push({ start, end: nents, offset, size });
  for (const s of sgl.slice(0, nents)) {
    s.dmaAddress = DMA_MAPPING_ERROR;
    s.dmaLength = 0;
  }
  const prot = armProt(dev, dir);
  const done: { iova: number; len: number }[] = [];
  let ret = 0;
  for (const [n, c] of chunks.entries()) {
    const len = pagesFor(c.size) * PAGE_SIZE;
    const iova = armAllocIova(m, len);
    let ok = iova !== DMA_MAPPING_ERROR;
    // Out of IOVA space: -ENOMEM; a refused iommu_map: -EINVAL (the kernel's bad_mapping).
    ret = ok ? 0 : -12;
    let at: number = iova;
    for (let i = c.start; i < c.end && ok; i++) {
      const s = sgl[i] as Scatterlist;
      const l = pagesFor(s.offset + s.length) * PAGE_SIZE;
      if (!dev.dmaCoherent && (attrs & DMA_ATTR_SKIP_CPU_SYNC) === 0) archSyncDmaForDevice(k.arch, sgPhys(s), s.length, dir);
      if (m.domain.map(at, pfnToPhys(s.page), l, prot) !== 0) {
        ok = false;
        ret = -22;
      } else at += l;
    }
    if (!ok) {
      if (iova !== DMA_MAPPING_ERROR) {
        if (at > iova) m.domain.unmap(iova, at - iova);
        m.domain.invalidateRange(iova, len);
        armFreeIova(m, iova, len);
      }
      for (const d of done) armUnmapRange(m, d.iova, d.len);
      for (const s of sgl.slice(0, nents)) {
        s.dmaAddress = DMA_MAPPING_ERROR;
        s.dmaLength = 0;
      }
      return ret;
    }
    done.push({ iova, len });
    const seg = sgl[n] as Scatterlist;
    seg.dmaAddress = (iova + c.offset) as DmaAddr;
    seg.dmaLength = c.size - c.offset;
  }
  return chunks.length;
}

/** `arm_iommu_unmap_sg`: each mapped segment unmapped; the CPU's view made current entry by entry. */
function armIommuUnmapSg(dev: Device, sgl: Scatterlist[], nents: number, dir: DmaDataDirection, attrs: number): void {
  const k = dev.kernel;
  const m = armMapping(dev);
  for (const s of sgl.slice(0, nents)) {
    if (s.dmaLength !== 0) {
      const offset = s.dmaAddress % PAGE_SIZE;
      if (!k.quirks.iommuStrictUnmapLeavesMapping) armUnmapRange(m, s.dmaAddress - offset, pagesFor(offset + s.dmaLength) * PAGE_SIZE);
    }
    if (!dev.dmaCoherent && (attrs & DMA_ATTR_SKIP_CPU_SYNC) === 0) archSyncDmaForCpu(k.arch, sgPhys(s), s.length, dir);
  }
}

/** `arm_iommu_sync_sg_for_cpu` / `_for_device`: entry by entry (nothing for a coherent device). */
function armIommuSyncSg(dev: Device, sgl: Scatterlist[], nents: number, dir: DmaDataDirection, forCpu: boolean): void {
  if (dev.dmaCoherent) return;
  for (const s of sgl.slice(0, nents)) {
    if (forCpu) archSyncDmaForCpu(dev.kernel.arch, sgPhys(s), s.length, dir);
    else archSyncDmaForDevice(dev.kernel.arch, sgPhys(s), s.length, dir);
  }
}

/** ARM32's `iommu_ops` (arch/arm/mm/dma-mapping.c, v6.6). */
export const armIommuOps: DmaMapOps = {
  name: 'arm_iommu_ops',
  alloc: armIommuAlloc,
  free: armIommuFree,
  mmap: armIommuMmap,
  getSgtable: armIommuGetSgtable,
  mapPhys: armIommuMapPhys,
  unmapPhys: armIommuUnmapPhys,
  mapSg: armIommuMapSg,
  unmapSg: armIommuUnmapSg,
  syncSingleForCpu: (dev, a, size, dir) => armIommuSync(dev, a, size, dir, true),
  syncSingleForDevice: (dev, a, size, dir) => armIommuSync(dev, a, size, dir, false),
  syncSgForCpu: (dev, sgl, n, dir) => armIommuSyncSg(dev, sgl, n, dir, true),
  syncSgForDevice: (dev, sgl, n, dir) => armIommuSyncSg(dev, sgl, n, dir, false),
  /**
   * Beyond Linux (which has no `dma_supported` here and hands out IOVAs from
   * the window whatever the mask): a mask that does not cover the IOVA
   * window is refused, so no address beyond the mask is ever returned.
   */
  dmaSupported: (_dev, bits) => maskLimit(bits) >= ARM_IOMMU_MAPPING_BASE + ARM_IOMMU_MAPPING_BYTES - 1,
};
