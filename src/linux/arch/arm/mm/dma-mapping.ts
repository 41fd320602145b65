/**
 * The ARM32 coherent allocator (arch/arm/mm/dma-mapping.c `arch_dma_alloc`,
 * `arch_dma_free`): what dma-direct calls for non-coherent devices on ARM
 * with an MMU (`CONFIG_ARCH_HAS_DMA_ALLOC`). kernel-dma.md §1.17.
 *
 * Allocators in the kernel's order: CMA when the gfp may block and an area
 * exists; "remap" (pages + uncached/bufferable vmap) when it may block;
 * otherwise the ARM atomic pool. Every buffer is cleared and flushed
 * (`__dma_clear_buffer`: memset through the linear map, or kmap for highmem,
 * then clean+invalidate), and tracked in a list so that freeing an unknown
 * CPU address only warns ("Freeing invalid buffer"). Pages are allocated at
 * the order of the size, split, and the tail beyond the size freed.
 * No profile has a CMA area or an ARM atomic pool yet: the non-blocking case
 * fails as the kernel does with an uninitialised pool.
 */
import type { CpuAddr, DmaAddr, Pfn } from '../../../../platform/types.ts';
import { PAGE_SIZE, getOrder, hex, pagesFor, pfn, pfnToPhys } from '../../../../platform/types.ts';
import type { Device, DmaKernel } from '../../../include/linux/device.ts';
import { DMA_ALLOC_FAILED, type DmaAllocation } from '../../../include/linux/dma-map-ops.ts';
import { physToDma } from '../../../include/linux/dma-direct.ts';
import { DMA_ATTR_WRITE_COMBINE } from '../../../include/linux/dma-mapping.ts';
import { GFP_DMA, __GFP_ZERO, type Gfp, gfpflagsAllowBlocking } from '../../../include/linux/gfp.ts';
import { dmaCommonContiguousRemap, dmaCommonFreeRemap } from '../../../kernel/dma/remap.ts';

/** `struct arm_dma_buffer`: one live allocation of the ARM allocator. */
interface ArmDmaBuffer {
  readonly virt: CpuAddr;
  readonly page: Pfn;
  readonly sizeBytes: number;
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
function dmaClearBuffer(k: DmaKernel, page: Pfn, size: number): void {
  const { pt, cpu, cache } = k.platform;
  for (let i = 0; i < pagesFor(size); i++) {
    const p = pfn(page + i);
    const lin = k.mm.pages.pageAddress(p);
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
 * `arch_dma_alloc` (`__dma_alloc`): a coherent buffer for a non-coherent
 * device. @param size bytes, page aligned by the caller
 * @returns `{ cpuAddr, dmaHandle }`, `cpuAddr` null on failure
 */
export function armDmaAlloc(dev: Device, size: number, gfpIn: Gfp, attrs: number): DmaAllocation {
  const k = dev.kernel;
  let gfp = gfpIn;
  if (dev.coherentDmaMask < 32) gfp |= GFP_DMA;
  if (!gfpflagsAllowBlocking(gfp)) {
    k.dmesg.err(`coherent pool not initialised! [dev=${dev.name}] [size=${size}]`);
    return DMA_ALLOC_FAILED;
  }
  const page = dmaAllocBuffer(dev, size, gfp);
  if (page === null) return DMA_ALLOC_FAILED;
  const prot = (attrs & DMA_ATTR_WRITE_COMBINE) !== 0 ? 'write-combine' : k.platform.profile.dma.dmacoherentAttr;
  const virt = dmaCommonContiguousRemap(dev, page, size, prot);
  if (virt === null) {
    dmaFreeBuffer(k, page, size);
    return DMA_ALLOC_FAILED;
  }
  bufferList(k).push({ virt, page, sizeBytes: size });
  return { cpuAddr: virt, dmaHandle: physToDma(dev, pfnToPhys(page)) };
}

/** `arch_dma_free` (`__arm_dma_free`): unmap and free a buffer found by CPU address; unknown ones only warn. */
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
  dmaCommonFreeRemap(dev, cpuAddr);
  dmaFreeBuffer(k, buf.page, buf.sizeBytes);
}
