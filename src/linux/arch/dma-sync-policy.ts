/**
 * Not a kernel mirror: the arch cache-maintenance hooks for non-coherent DMA
 * (`arch_sync_dma_for_device`, `arch_sync_dma_for_cpu`,
 * `arch_dma_prep_coherent`) gathered as one table per arch, so that arches
 * can be compared row by row and a mutant can swap one cell.
 *
 * Rows, from each arch's `arch_sync_dma_for_device` / `arch_sync_dma_for_cpu`:
 * - `arm64` (since June 2022, "Don't invalidate FROM_DEVICE buffers at start
 *   of DMA transfer"): clean for every direction at map; invalidate after
 *   FROM_DEVICE / BIDIRECTIONAL (arch/arm64/mm/dma-mapping.c).
 * - `arm64-pre-2022`: invalidated FROM_DEVICE buffers at map, which throws
 *   away dirty bytes the device does not overwrite.
 * - `armv7`: clean TO_DEVICE / BIDIRECTIONAL, invalidate FROM_DEVICE at map;
 *   invalidate after (arch/arm/mm/dma-mapping.c `__dma_page_cpu_to_dev`,
 *   `__dma_page_dev_to_cpu`; ARM v7 cache-v7.S `v7_dma_map_area`).
 * - `none`: the arch has no hooks (x86): every device is coherent.
 * `arch_dma_prep_coherent` cleans and invalidates the cacheable alias of a
 * buffer that will be used through an uncached mapping on arm64 (v6.18:
 * `dcache_clean_inval_poc`). ARM32 does not select
 * `ARCH_HAS_DMA_PREP_COHERENT` (arch/arm/Kconfig), so its hook is the empty
 * stub of include/linux/dma-map-ops.h: its own allocator cleans through
 * `__dma_clear_buffer`, and what reaches the generic path (a
 * `DMA_ATTR_NO_KERNEL_MAPPING` allocation, `dma_direct_alloc_no_mapping`)
 * gets no maintenance at all. Partial lines at the edges of an invalidate follow the platform
 * cache's policy (both arm rows clean them first).
 */
import type { Platform } from '../../platform/platform.ts';
import type { ArchSyncName } from '../../platform/profiles.ts';
import { PAGE_SIZE, type Pfn, pfnToPhys } from '../../platform/types.ts';
import { DMA_BIDIRECTIONAL, DMA_FROM_DEVICE, DMA_TO_DEVICE, type DmaDataDirection } from '../include/linux/dma-mapping.ts';

/** One cache maintenance operation by physical range. */
export type CacheOp = 'none' | 'clean' | 'invalidate' | 'clean-invalidate';

/** One row of the table: what each hook does per direction. */
export interface ArchSyncPolicy {
  readonly name: ArchSyncName;
  /** `arch_sync_dma_for_device`, indexed by direction (BIDIRECTIONAL, TO_DEVICE, FROM_DEVICE). */
  readonly forDevice: readonly [CacheOp, CacheOp, CacheOp];
  /** `arch_sync_dma_for_cpu`, indexed by direction. */
  readonly forCpu: readonly [CacheOp, CacheOp, CacheOp];
  /** `arch_dma_prep_coherent`. */
  readonly prepCoherent: CacheOp;
}

/** The table, one row per arch. */
export const ARCH_SYNC_POLICIES: Readonly<Record<ArchSyncName, ArchSyncPolicy>> = {
  arm64: {
    name: 'arm64',
    forDevice: ['clean', 'clean', 'clean'],
    forCpu: ['invalidate', 'none', 'invalidate'],
    prepCoherent: 'clean-invalidate',
  },
  'arm64-pre-2022': {
    name: 'arm64-pre-2022',
    forDevice: ['clean', 'clean', 'invalidate'],
    forCpu: ['invalidate', 'none', 'invalidate'],
    prepCoherent: 'clean-invalidate',
  },
  armv7: {
    name: 'armv7',
    forDevice: ['clean', 'clean', 'invalidate'],
    forCpu: ['invalidate', 'none', 'invalidate'],
    prepCoherent: 'none',
  },
  none: {
    name: 'none',
    forDevice: ['none', 'none', 'none'],
    forCpu: ['none', 'none', 'none'],
    prepCoherent: 'none',
  },
};

/** The arch half of a simulated kernel: its cache table on its platform. */
export interface ArchDma {
  readonly platform: Platform;
  readonly policy: ArchSyncPolicy;
}

function apply(platform: Platform, op: CacheOp, phys: number, sizeBytes: number): void {
  const c = platform.cache;
  if (op === 'clean') c.clean(phys, sizeBytes);
  else if (op === 'invalidate') c.invalidate(phys, sizeBytes);
  else if (op === 'clean-invalidate') c.cleanInvalidate(phys, sizeBytes);
}

function dirIndex(dir: DmaDataDirection): 0 | 1 | 2 {
  return dir === DMA_TO_DEVICE ? 1 : dir === DMA_FROM_DEVICE ? 2 : (DMA_BIDIRECTIONAL as 0);
}

/** `arch_sync_dma_for_device(paddr, size, dir)`: hand the range to the device. */
export function archSyncDmaForDevice(arch: ArchDma, phys: number, sizeBytes: number, dir: DmaDataDirection): void {
  apply(arch.platform, arch.policy.forDevice[dirIndex(dir)], phys, sizeBytes);
}

/** `arch_sync_dma_for_cpu(paddr, size, dir)`: take the range back for the CPU. */
export function archSyncDmaForCpu(arch: ArchDma, phys: number, sizeBytes: number, dir: DmaDataDirection): void {
  apply(arch.platform, arch.policy.forCpu[dirIndex(dir)], phys, sizeBytes);
}

/** `arch_dma_prep_coherent(page, size)`: flush the cacheable alias before an uncached mapping is used. */
export function archDmaPrepCoherent(arch: ArchDma, first: Pfn, sizeBytes: number): void {
  apply(arch.platform, arch.policy.prepCoherent, pfnToPhys(first), Math.ceil(sizeBytes / PAGE_SIZE) * PAGE_SIZE);
}
