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
import type { CpuAddr, DmaAddr, Pfn } from '../../../../platform/types.ts';
import { PAGE_SIZE, getOrder, hex, maskLimit, pagesFor, pfn, pfnToPhys } from '../../../../platform/types.ts';
import type { Device, DmaKernel } from '../../../include/linux/device.ts';
import type { GenPool } from '../../../lib/genalloc.ts';
import { DMA_ALLOC_FAILED, type DmaAllocation } from '../../../include/linux/dma-map-ops.ts';
import { physToDma } from '../../../include/linux/dma-direct.ts';
import { DMA_ATTR_WRITE_COMBINE } from '../../../include/linux/dma-mapping.ts';
import { GFP_DMA, GFP_KERNEL, __GFP_NOWARN, __GFP_ZERO, type Gfp, gfpflagsAllowBlocking } from '../../../include/linux/gfp.ts';
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
