/**
 * `struct dma_map_ops` and the helpers of include/linux/dma-map-ops.h that
 * the core uses to decide between dma-direct and a device's ops.
 *
 * A device with `dma_ops == NULL` uses dma-direct (kernel/dma/mapping.c
 * `dma_go_direct`). A
 * method an ops table does not provide makes the core return its failure
 * value (`NULL`, `-ENXIO`, `DMA_MAPPING_ERROR`, 0).
 */
import type { VmArea } from '../../../platform/user.ts';
import type { CpuAddr, DmaAddr, Pfn, PhysAddr } from '../../../platform/types.ts';
import type { Device } from './device.ts';
import { DMA_MAPPING_ERROR, DMA_TO_DEVICE, type DmaDataDirection } from './dma-mapping.ts';
import type { Gfp } from './gfp.ts';
import type { Scatterlist, SgTable } from './scatterlist.ts';

/** Result of an allocation: CPU address (null = failure) and DMA handle. */
export interface DmaAllocation {
  readonly cpuAddr: CpuAddr | null;
  readonly dmaHandle: DmaAddr;
}

/** The failed allocation: NULL CPU address, `DMA_MAPPING_ERROR` handle. */
export const DMA_ALLOC_FAILED: DmaAllocation = Object.freeze({ cpuAddr: null, dmaHandle: DMA_MAPPING_ERROR });

/** `struct dma_map_ops`: every method optional. Sizes in bytes. */
export interface DmaMapOps {
  readonly name: string;
  alloc?(dev: Device, size: number, gfp: Gfp, attrs: number): DmaAllocation;
  free?(dev: Device, size: number, cpuAddr: CpuAddr, dmaHandle: DmaAddr, attrs: number): void;
  mmap?(dev: Device, vma: VmArea, cpuAddr: CpuAddr, dmaHandle: DmaAddr, size: number, attrs: number): number;
  getSgtable?(dev: Device, cpuAddr: CpuAddr, dmaHandle: DmaAddr, size: number, attrs: number): { ret: number; sgt: SgTable | null };
  mapPhys?(dev: Device, phys: PhysAddr, size: number, dir: DmaDataDirection, attrs: number): DmaAddr;
  unmapPhys?(dev: Device, addr: DmaAddr, size: number, dir: DmaDataDirection, attrs: number): void;
  mapSg?(dev: Device, sgl: Scatterlist[], nents: number, dir: DmaDataDirection, attrs: number): number;
  unmapSg?(dev: Device, sgl: Scatterlist[], nents: number, dir: DmaDataDirection, attrs: number): void;
  syncSingleForCpu?(dev: Device, addr: DmaAddr, size: number, dir: DmaDataDirection): void;
  syncSingleForDevice?(dev: Device, addr: DmaAddr, size: number, dir: DmaDataDirection): void;
  syncSgForCpu?(dev: Device, sgl: Scatterlist[], nents: number, dir: DmaDataDirection): void;
  syncSgForDevice?(dev: Device, sgl: Scatterlist[], nents: number, dir: DmaDataDirection): void;
  dmaSupported?(dev: Device, maskBits: number): boolean;
  maxMappingSize?(dev: Device): number;
  /** `get_required_mask`, as a limit in bytes. */
  getRequiredMask?(dev: Device): number;
  /** `alloc_pages_op`: cacheable pages for `dma_alloc_pages` (size page aligned). */
  allocPages?(dev: Device, size: number, dir: DmaDataDirection, gfp: Gfp): { page: Pfn; dmaHandle: DmaAddr } | null;
  /** `free_pages`. */
  freePages?(dev: Device, size: number, page: Pfn, dmaHandle: DmaAddr, dir: DmaDataDirection): void;
  /** `opt_mapping_size`, bytes. */
  optMappingSize?(dev: Device): number;
  /** `get_merge_boundary`, a mask. */
  getMergeBoundary?(dev: Device): number;
}

/** `dev_is_dma_coherent`: on an arch without sync hooks every device is coherent. */
export function devIsDmaCoherent(dev: Device): boolean {
  return dev.dmaCoherent || dev.kernel.arch.policy.name === 'none';
}

/**
 * `dma_kmalloc_safe`: a kmalloc buffer may be used in place when kmalloc
 * caches are aligned to `ARCH_DMA_MINALIGN` (no
 * `CONFIG_DMA_BOUNCE_UNALIGNED_KMALLOC`), the device is coherent, or the
 * device only reads (cleaning a shared line loses nothing).
 */
export function dmaKmallocSafe(dev: Device, dir: DmaDataDirection): boolean {
  const p = dev.kernel.platform.profile;
  const bounceUnaligned = p.archDmaMinalignBytes !== null && p.kmallocMinAlignBytes < p.archDmaMinalignBytes;
  return !bounceUnaligned || devIsDmaCoherent(dev) || dir === DMA_TO_DEVICE;
}

/**
 * `dma_kmalloc_size_aligned`: a size of at least 2 × `ARCH_DMA_MINALIGN`, or
 * whose kmalloc size class is a multiple of the cache alignment, cannot
 * share a cache line with another object.
 */
export function dmaKmallocSizeAligned(dev: Device, sizeBytes: number): boolean {
  const minalign = dev.kernel.platform.profile.archDmaMinalignBytes ?? 1;
  return sizeBytes >= 2 * minalign || dev.kernel.mm.slab.kmallocSizeRoundup(sizeBytes) % minalign === 0;
}

/**
 * `dma_kmalloc_needs_bounce`: must a streaming mapping of `sizeBytes` bounce
 * because it may be a small kmalloc buffer sharing a cache line? A heuristic
 * on the size alone: the pointer's alignment is not looked at
 * (include/linux/dma-map-ops.h).
 */
export function dmaKmallocNeedsBounce(dev: Device, sizeBytes: number, dir: DmaDataDirection): boolean {
  if (dev.kernel.quirks.kmallocBounceOmitted) return false;
  return !dmaKmallocSafe(dev, dir) && !dmaKmallocSizeAligned(dev, sizeBytes);
}
