/**
 * Per-device and global coherent pools (kernel/dma/coherent.c): a carveout
 * declared by board code (`dma_declare_coherent_memory`) or by a DT
 * `shared-dma-pool` without `reusable`, mapped once at boot and handed out
 * with a page bitmap. kernel/dma/coherent.c `__dma_alloc_from_coherent`,
 * `dma_alloc_from_global_coherent`; alignment as promised in
 * Documentation/core-api/dma-api-howto.rst "Using Coherent DMA mappings".
 *
 * An allocation of `size` takes the first free region of `2^get_order(size)`
 * pages aligned to that order relative to the pool base, and is zeroed
 * through the pool's mapping. A device pool's answer is final: when it is
 * full the allocation fails (no fallback since the removal of the
 * non-exclusive mode). The release trusts the caller's size to derive the
 * order. The global pool (`CONFIG_DMA_GLOBAL_POOL`, seed 001) is the only
 * source of non-coherent allocations on noMMU-style platforms; there the
 * pool is reached through the RAM's uncached alias, so CPU accesses bypass
 * the cache. Everything here takes only a spinlock: safe in atomic context.
 */
import type { PageAttr } from '../../../platform/pgtable.ts';
import type { VmArea } from '../../../platform/user.ts';
import { PAGE_SIZE, type CpuAddr, type DmaAddr, getOrder, hex, maskLimit, minNotZero, pagesFor, pfn, pfnToPhys } from '../../../platform/types.ts';
import type { Device, DmaKernel } from '../../include/linux/device.ts';
import { physToDma } from '../../include/linux/dma-direct.ts';
import { DMA_MAPPING_ERROR } from '../../include/linux/dma-mapping.ts';
import { EBUSY, ENXIO } from '../../include/linux/errno.ts';
import { findZeroArea } from '../../lib/genalloc.ts';

/** `struct dma_coherent_mem`. */
export interface DmaCoherentMem {
  /** CPU address of the pool's first byte. */
  readonly virtBase: CpuAddr;
  /** Device address of the first byte (used when not `useDevDmaPfnOffset`). */
  readonly deviceBase: DmaAddr;
  /** First page frame. */
  readonly pfnBase: number;
  /** Pages. */
  readonly size: number;
  /** 1 per allocated page. */
  readonly bitmap: Uint8Array;
  /** Handles are `phys_to_dma` of the pool page (DT pools, the global pool). */
  readonly useDevDmaPfnOffset: boolean;
}

/** How the pool is mapped for the CPU: `memremap(MEMREMAP_WC)`, the uncached alias of a noMMU platform, or (a broken setup, seed 001) the cached linear address. */
export type CoherentMapping = 'memremap-wc' | 'uncached-alias' | 'linear';

/**
 * `dma_init_coherent_memory`: map `[phys, phys+size)` for the CPU.
 * @returns the pool, or null when the range cannot be mapped
 */
export function dmaInitCoherentMemory(k: DmaKernel, phys: number, deviceAddr: DmaAddr, size: number, useDmaPfnOffset: boolean, mapping: CoherentMapping): DmaCoherentMem | null {
  const pages = pagesFor(size);
  if (pages === 0) return null;
  let virtBase: CpuAddr | null;
  if (mapping === 'uncached-alias') virtBase = k.platform.pt.uncachedAlias(phys);
  else if (mapping === 'linear') virtBase = k.platform.pt.linearAddress(phys);
  else virtBase = k.mm.vmalloc.vmap(Array.from({ length: pages }, (_, i) => pfn(phys / PAGE_SIZE + i)), 'write-combine');
  if (virtBase === null) return null;
  return { virtBase, deviceBase: deviceAddr, pfnBase: phys / PAGE_SIZE, size: pages, bitmap: new Uint8Array(pages), useDevDmaPfnOffset: useDmaPfnOffset };
}

/**
 * `dma_declare_coherent_memory`: give `dev` its pool (board code).
 * @returns 0, `-EBUSY` when the device already has one, `-ENOMEM` when the range cannot be mapped
 */
export function dmaDeclareCoherentMemory(dev: Device, phys: number, size: number, mapping: CoherentMapping = 'memremap-wc'): number {
  if (dev.dmaMem !== null) return -EBUSY;
  const mem = dmaInitCoherentMemory(dev.kernel, phys, phys as DmaAddr, size, true, mapping);
  if (mem === null) return -12;
  dev.dmaMem = mem;
  return 0;
}

/**
 * `rmem_dma_device_init`: a DT `shared-dma-pool` (no-map) for `dev`. A
 * region that ends beyond what the device can address
 * (`min_not_zero(coherent_dma_mask, bus_dma_limit)`, compared with the
 * region's physical end) only warns; the pool is assigned all the same.
 * @returns as {@link dmaDeclareCoherentMemory}
 * @see kernel/dma/coherent.c rmem_dma_device_init (v6.18)
 */
export function rmemDmaDeviceInit(dev: Device, phys: number, size: number): number {
  if (phys + size - 1 > minNotZero(maskLimit(dev.coherentDmaMask), dev.busDmaLimit)) {
    dev.kernel.dmesg.warn(`${dev.name}: reserved memory is beyond device's set DMA address range [base=${hex(phys)}] [size=${hex(size)}]`);
  }
  return dmaDeclareCoherentMemory(dev, phys, size);
}

function handleOf(dev: Device, mem: DmaCoherentMem, page: number): DmaAddr {
  if (!mem.useDevDmaPfnOffset) return (mem.deviceBase + page * PAGE_SIZE) as DmaAddr;
  return physToDma(dev, pfnToPhys(pfn(mem.pfnBase + page)));
}

/**
 * `__dma_alloc_from_coherent`: a naturally aligned region of the pool,
 * zeroed through the pool mapping.
 * @returns `{ cpuAddr, dmaHandle }` with `cpuAddr` null when the pool has no room
 */
function dmaAllocFromCoherent(dev: Device, mem: DmaCoherentMem, size: number): { cpuAddr: CpuAddr | null; dmaHandle: DmaAddr } {
  const order = getOrder(size);
  if (size > mem.size * PAGE_SIZE) return { cpuAddr: null, dmaHandle: DMA_MAPPING_ERROR };
  const n = 2 ** order;
  const page = findZeroArea(mem.bitmap, n, n);
  if (page < 0) return { cpuAddr: null, dmaHandle: DMA_MAPPING_ERROR };
  mem.bitmap.fill(1, page, page + n);
  const cpuAddr = (mem.virtBase + page * PAGE_SIZE) as CpuAddr;
  dev.kernel.platform.cpu.memset(cpuAddr, 0, size, 'dma-coherent:memset');
  return { cpuAddr, dmaHandle: handleOf(dev, mem, page) };
}

/** The page of the pool holding `vaddr`, or -1. */
function pageOf(mem: DmaCoherentMem, vaddr: number): number {
  return vaddr >= mem.virtBase && vaddr < mem.virtBase + mem.size * PAGE_SIZE ? Math.floor((vaddr - mem.virtBase) / PAGE_SIZE) : -1;
}

/** `__dma_release_from_coherent`: @returns false when `vaddr` is not in the pool */
function dmaReleaseFromCoherent(mem: DmaCoherentMem, order: number, vaddr: number): boolean {
  const page = pageOf(mem, vaddr);
  if (page < 0) return false;
  mem.bitmap.fill(0, page, page + 2 ** order);
  return true;
}

/**
 * `dma_alloc_from_dev_coherent`: when the device has a pool, its answer is
 * final. @returns null when the device has no pool (not handled); else the
 * allocation, `cpuAddr` null when the pool is full
 */
export function dmaAllocFromDevCoherent(dev: Device, size: number): { cpuAddr: CpuAddr | null; dmaHandle: DmaAddr } | null {
  if (dev.dmaMem === null) return null;
  const r = dmaAllocFromCoherent(dev, dev.dmaMem, size);
  if (r.cpuAddr === null && dev.kernel.quirks.devCoherentFallback) return null;
  return r;
}

/** Does `vaddr` lie in the device's pool? (The range test `dma_release_from_dev_coherent` starts with, without releasing.) */
export function dmaDevCoherentOwns(dev: Device, vaddr: CpuAddr): boolean {
  return dev.dmaMem !== null && pageOf(dev.dmaMem, vaddr) >= 0;
}

/** `dma_release_from_dev_coherent`: @returns true when `vaddr` was in the device's pool (and is released at `order`) */
export function dmaReleaseFromDevCoherent(dev: Device, order: number, vaddr: CpuAddr): boolean {
  return dev.dmaMem !== null && dmaReleaseFromCoherent(dev.dmaMem, order, vaddr);
}

/** `dma_init_global_coherent`: the global pool (identity device addresses through `phys_to_dma`). */
export function dmaInitGlobalCoherent(k: DmaKernel, phys: number, size: number, mapping: CoherentMapping): DmaCoherentMem | null {
  return dmaInitCoherentMemory(k, phys, phys as DmaAddr, size, true, mapping);
}

/** `dma_alloc_from_global_coherent`: @returns the allocation, `cpuAddr` null when there is no global pool or it is full */
export function dmaAllocFromGlobalCoherent(dev: Device, size: number): { cpuAddr: CpuAddr | null; dmaHandle: DmaAddr } {
  const mem = dev.kernel.globalCoherentMem;
  if (mem === null) return { cpuAddr: null, dmaHandle: DMA_MAPPING_ERROR };
  return dmaAllocFromCoherent(dev, mem, size);
}

/** `dma_release_from_global_coherent`: @returns false when `vaddr` is not from the global pool */
export function dmaReleaseFromGlobalCoherent(k: DmaKernel, order: number, vaddr: CpuAddr): boolean {
  return k.globalCoherentMem !== null && dmaReleaseFromCoherent(k.globalCoherentMem, order, vaddr);
}

/**
 * `__dma_mmap_from_coherent`: map the buffer's pool pages into `vma` when
 * `vaddr` is in `mem`. @returns null when not from the pool (not handled),
 * else 0 or `-ENXIO` (offset or length beyond the buffer)
 */
function dmaMmapFromCoherent(k: DmaKernel, mem: DmaCoherentMem | null, vma: VmArea, vaddr: CpuAddr, size: number, prot: PageAttr): number | null {
  if (mem === null) return null;
  const start = pageOf(mem, vaddr);
  if (start < 0) return null;
  const count = pagesFor(size);
  if (vma.pgoff >= count || vma.nrPages > count - vma.pgoff || start + vma.pgoff + vma.nrPages > mem.size) return -ENXIO;
  return k.platform.user.remapPfnRange(vma, 0, pfn(mem.pfnBase + start + vma.pgoff), vma.nrPages, prot);
}

/** `dma_mmap_from_dev_coherent`. */
export function dmaMmapFromDevCoherent(dev: Device, vma: VmArea, vaddr: CpuAddr, size: number, prot: PageAttr): number | null {
  return dmaMmapFromCoherent(dev.kernel, dev.dmaMem, vma, vaddr, size, prot);
}

/** `dma_mmap_from_global_coherent`. */
export function dmaMmapFromGlobalCoherent(k: DmaKernel, vma: VmArea, vaddr: CpuAddr, size: number, prot: PageAttr): number | null {
  return dmaMmapFromCoherent(k, k.globalCoherentMem, vma, vaddr, size, prot);
}
