/**
 * The DMA fields of `struct device` (include/linux/device.h,
 * dma-mapping.h): masks, bus limit, `dma_range_map`, coherency, `dma_parms`,
 * ops, and the kernel instance the device belongs to.
 *
 * The hardware facts come from the platform's {@link DeviceHw} (what firmware
 * describes and `of_dma_configure` / `pci_dma_configure` copy into the
 * device); the masks are the driver's to set (R12, R13). A device starts with
 * the kernel's default 32-bit `dma_mask` and `coherent_dma_mask`.
 *
 * {@link DmaKernel} gathers what the kernel has as globals (platform,
 * substrate, arch policy, log, dma-debug hook), since a TypeScript model has
 * no link-time globals; every device points at its kernel.
 */
import type { DmaRange } from '../../../platform/bus.ts';
import type { DeviceHw } from '../../../platform/device.ts';
import type { Platform } from '../../../platform/platform.ts';
import type { Substrate } from '../../mm/substrate.ts';
import type { ArchDma } from '../../arch/dma-sync-policy.ts';
import type { DmaDebugHooks, LiveDmaTable } from '../../kernel/dma/mapping.ts';
import type { IoTlbMem, IoTlbPool } from '../../kernel/dma/swiotlb.ts';
import type { DmaCoherentMem } from '../../kernel/dma/coherent.ts';
import type { AtomicPools } from '../../kernel/dma/pool.ts';
import type { Cma } from '../../mm/cma.ts';
import type { GenPool } from '../../lib/genalloc.ts';
import type { DmaMapOps } from './dma-map-ops.ts';
import type { Dmesg } from './printk.ts';

/** `struct device_dma_parameters`. */
export interface DmaParms {
  /** Bytes. */
  readonly maxSegmentSize: number;
  readonly segmentBoundaryMask: number;
  readonly minAlignMask: number;
}

/**
 * Behaviours of earlier kernels and of the allocators the seed threads argue
 * about, each off in the reference. A fixture's mutant turns one on through
 * `ReferenceOptions.quirks` (the backend seam), so the bug runs in the
 * model's own code path rather than in a copy of it.
 */
export interface DmaQuirks {
  /** Seed 000: CMA is tried whatever the gfp says (no `gfpflags_allow_blocking` check in `dma_alloc_contiguous`). */
  readonly cmaIgnoresGfp: boolean;
  /** Seed 000: a CMA failure ends `__dma_direct_alloc_pages` (no buddy fallback). */
  readonly cmaNoBuddyFallback: boolean;
  /** Seed 001: a full per-device pool falls back to normal memory (the pre-2019 non-`DMA_MEMORY_EXCLUSIVE` mode). */
  readonly devCoherentFallback: boolean;
  /** Seed 001: the global pool is mapped through the cached linear alias instead of the uncached one. */
  readonly globalPoolCachedAlias: boolean;
  /** Seed 002: non-blocking remap allocations skip the atomic pools and vmap in place. */
  readonly atomicPoolBypass: boolean;
  /** Seed 002: ARM's `__dma_clear_buffer` zeroes through the linear address a highmem page would have, instead of kmap. */
  readonly highmemClearLinear: boolean;
  /**
   * Kernel history, before v6.9: `swiotlb_bounce` refuses ("Access before
   * mapping start detected", nothing copied) a sync that starts in the first
   * `min_align_mask` offset bytes of the second or a later slot, so such
   * partial syncs of an unaligned bounce buffer are lost. v6.9 ("swiotlb: fix
   * swiotlb_bounce() to do partial sync's correctly") takes the in-slot
   * offset as signed.
   */
  readonly swiotlbBounceBeforeStartRefused: boolean;
  /** Injected bug (classic class, not a kernel release): `swiotlb_bounce` copies one byte less than asked. */
  readonly swiotlbBounceShortByOne: boolean;
  /** Injected bug: `dma_direct_unmap_phys` does the cache maintenance of unmap but not the bounce buffer's copy-back. */
  readonly swiotlbUnmapNoCopyBack: boolean;
  /** Injected bug: `dma_kmalloc_needs_bounce` always says no, so small kmalloc buffers of non-coherent devices are mapped in place. */
  readonly kmallocBounceOmitted: boolean;
  /**
   * Seed 003, kernel history before v5.10: a non-coherent allocation is
   * `dma_alloc_attrs(..., DMA_ATTR_NON_CONSISTENT)`, which an arch without
   * `DMA_NONCOHERENT_CACHE_SYNC` (arm64, ARM) ignores: the driver that asked
   * for cacheable memory silently gets the slow uncached coherent buffer.
   */
  readonly nonConsistentFallback: boolean;
  /**
   * Seed 003, kernel history before v5.10: ownership of non-coherent memory
   * moved with `dma_cache_sync()`, called before the device's transfer; there
   * was no call that gave the buffer back to the CPU, so
   * `dma_sync_single_for_cpu` on it does nothing and lines the CPU fetched
   * during the transfer stay stale.
   */
  readonly cacheSyncNoOwnership: boolean;
  /**
   * Seed 000, kernel history: arm64's IOMMU allocator (`__iommu_alloc_attrs`
   * in arch/arm64/mm/dma-mapping.c) ignored `DMA_ATTR_FORCE_CONTIGUOUS` until
   * v4.15 ("arm64: dma-mapping: Implement DMA_ATTR_FORCE_CONTIGUOUS for
   * IOMMU"; ARM32's IOMMU ops honoured it): a blocking allocation got a page
   * array, contiguous in IOVA space only.
   */
  readonly iommuForceContiguousIgnored: boolean;
  /** Injected bug: dma-iommu in strict mode leaves the IOMMU entries (and the IOTLB) of a streaming mapping in place at unmap. */
  readonly iommuStrictUnmapLeavesMapping: boolean;
  /** Injected bug: dma-iommu in strict mode unmaps and invalidates but never gives the IOVA back (the IOVA space leaks). */
  readonly iommuIovaNotFreed: boolean;
  /** Injected bug: dma-iommu grants write permission on a `DMA_TO_DEVICE` mapping. */
  readonly iommuWriteOnToDevice: boolean;
  /** Injected bug: in lazy mode an unmapped IOVA goes back to the allocator at once, while the IOTLB may still translate it. */
  readonly iommuFqReuseEarly: boolean;
  /** Injected bug: an untrusted device's bounce buffer is filled from the original's whole granules, so its padding carries the bytes around the buffer. */
  readonly iommuBouncePaddingNotCleared: boolean;
  /** Injected bug: an untrusted device's unaligned mappings are not bounced (the device reaches the buffer's neighbours in its granules). */
  readonly iommuUntrustedNotBounced: boolean;
  /** Injected bug: `__finalise_sg` merges entries past `max_segment_size` and across the segment boundary. */
  readonly iommuSgMergeIgnoresLimits: boolean;
  /**
   * Seed 004, kernel history: the first `arm_iommu_get_sgtable` looked the
   * pages of a `DMA_ATTR_NO_KERNEL_MAPPING` buffer up through the cookie as
   * if it were a vmalloc address (`__iommu_get_pages(cpu_addr)` without the
   * attributes); the cookie is the page array, so no area is found.
   */
  readonly armIommuCookieAsVmalloc: boolean;
  /**
   * Seed 002, kernel history (v3.5): the ARM IOMMU ops had no atomic
   * buffer: a non-blocking allocation took the page-array path and its
   * vmap, and slept in atomic context (`__iommu_alloc_atomic` came in v3.6).
   */
  readonly armIommuNoAtomicPool: boolean;
}

/** Every quirk off: the current kernel. */
export const NO_QUIRKS: DmaQuirks = Object.freeze({
  iommuForceContiguousIgnored: false,
  iommuStrictUnmapLeavesMapping: false,
  iommuWriteOnToDevice: false,
  iommuIovaNotFreed: false,
  iommuFqReuseEarly: false,
  iommuBouncePaddingNotCleared: false,
  iommuUntrustedNotBounced: false,
  iommuSgMergeIgnoresLimits: false,
  armIommuCookieAsVmalloc: false,
  armIommuNoAtomicPool: false,
  nonConsistentFallback: false,
  cacheSyncNoOwnership: false,
  cmaIgnoresGfp: false,
  cmaNoBuddyFallback: false,
  devCoherentFallback: false,
  globalPoolCachedAlias: false,
  atomicPoolBypass: false,
  highmemClearLinear: false,
  swiotlbBounceBeforeStartRefused: false,
  swiotlbBounceShortByOne: false,
  swiotlbUnmapNoCopyBack: false,
  kmallocBounceOmitted: false,
});

/** One simulated kernel: the globals every DMA function reaches. */
export interface DmaKernel {
  readonly platform: Platform;
  readonly mm: Substrate;
  /** The arch's DMA hooks and cache-maintenance table. */
  readonly arch: ArchDma;
  readonly dmesg: Dmesg;
  /** Live allocations and mappings, as the core and dma-debug track them. */
  readonly live: LiveDmaTable;
  /** dma-debug observer at the API boundary; null when `CONFIG_DMA_API_DEBUG` is off. */
  debug: DmaDebugHooks | null;
  /** `io_tlb_default_mem`; null without swiotlb. Set once at boot. */
  ioTlbDefaultMem: IoTlbMem | null;
  /** dma-direct's atomic pools (`pool.c`); null where the profile has none. Set once at boot. */
  atomicPools: AtomicPools | null;
  /** ARM32's atomic pool (arch/arm/mm/dma-mapping.c); null elsewhere. Set once at boot. */
  armAtomicPool: GenPool | null;
  /** Old or broken behaviours switched on (fixtures); {@link NO_QUIRKS} in the reference. */
  readonly quirks: DmaQuirks;
  /** `dma_coherent_default_memory`: the global coherent pool; null = none. Set once at boot. */
  globalCoherentMem: DmaCoherentMem | null;
}

/** The DMA side of `struct device`. */
export interface Device {
  readonly name: string;
  readonly hw: DeviceHw;
  readonly kernel: DmaKernel;
  /** `*dev->dma_mask` as a bit width; null when `dev->dma_mask` is NULL (no streaming DMA). */
  dmaMask: number | null;
  /** `dev->coherent_dma_mask` as a bit width. */
  coherentDmaMask: number;
  /** `dev->bus_dma_limit`, bytes; 0 = none. */
  readonly busDmaLimit: number;
  /** `dev->dma_range_map`; null = identity. */
  readonly dmaRangeMap: readonly DmaRange[] | null;
  /** `dev->dma_coherent`. */
  readonly dmaCoherent: boolean;
  readonly dmaParms: DmaParms;
  /** `dev->dma_ops`; null = dma-direct. */
  dmaOps: DmaMapOps | null;
  /** `dev->dma_ops_bypass`. */
  dmaOpsBypass: boolean;
  /** `use_dma_iommu(dev)`; false until an IOMMU backend attaches the device. */
  dmaIommu: boolean;
  /** `dev->dma_skip_sync`: syncs may be skipped (coherent, no bounce buffer used yet). */
  dmaSkipSync: boolean;
  /** `dev->dma_io_tlb_mem`: the default swiotlb, the device's restricted pool, or null. */
  dmaIoTlbMem: IoTlbMem | null;
  /** `dev->dma_io_tlb_pools`: transient pools of `CONFIG_SWIOTLB_DYNAMIC` holding this device's mappings. */
  readonly dmaIoTlbPools: IoTlbPool[];
  /** `dev->dma_mem`: the device's own coherent pool (kernel/dma/coherent.c); null = none. */
  dmaMem: DmaCoherentMem | null;
  /** `dev->cma_area`: the device's own CMA area (kernel/dma/contiguous.c); null = none. */
  readonly cmaArea: Cma | null;
  /** `dev_to_node(dev)`; null = `NUMA_NO_NODE`. */
  readonly numaNode: number | null;
}

/** What `device_initialize` + `of_dma_configure` leave in the DMA fields of a device. */
export function createDevice(kernel: DmaKernel, hw: DeviceHw): Device {
  const c = hw.config;
  return {
    name: c.name,
    hw,
    kernel,
    dmaMask: 32,
    coherentDmaMask: 32,
    busDmaLimit: c.busDmaLimit,
    dmaRangeMap: c.dmaRanges,
    dmaCoherent: c.coherent,
    dmaParms: { maxSegmentSize: c.maxSegmentSize, segmentBoundaryMask: c.segmentBoundaryMask, minAlignMask: c.minAlignMask },
    dmaOps: null,
    dmaOpsBypass: false,
    dmaIommu: false,
    dmaSkipSync: false,
    dmaIoTlbMem: kernel.ioTlbDefaultMem,
    dmaIoTlbPools: [],
    dmaMem: null,
    cmaArea: kernel.mm.cma.areas.find((a) => a.config.kind === 'device' && a.config.device === c.name) ?? null,
    numaNode: c.numaNode,
  };
}
