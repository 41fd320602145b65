/**
 * Not a kernel mirror: the seam between the conformance suite and a DMA
 * layer. A backend implements the `dma_*` calls a driver makes on top of the
 * trusted platform and substrate it is given (DESIGN.md "The seam"); it never
 * owns hardware. The reference backend (`reference.ts`) is a backend like any
 * other.
 *
 * Devices are named as in the profile (`nvme0`, `vpu0`). Sizes and offsets
 * are bytes; addresses are branded (`CpuAddr`, `DmaAddr`, `Pfn`). Failure
 * values are the kernel's: a null CPU address, `DMA_MAPPING_ERROR`, 0 for
 * `dma_map_sg`, negative errno.
 */
import type { Platform } from '../platform/platform.ts';
import type { CpuAddr, DmaAddr, Pfn } from '../platform/types.ts';
import type { VmArea } from '../platform/user.ts';
import type { DmaAllocation } from '../linux/include/linux/dma-map-ops.ts';
import type { DmaDataDirection } from '../linux/include/linux/dma-mapping.ts';
import type { Gfp } from '../linux/include/linux/gfp.ts';
import type { Scatterlist, SgTable } from '../linux/include/linux/scatterlist.ts';
import type { Substrate } from '../linux/mm/substrate.ts';
import type { IoTlbMemState } from '../linux/kernel/dma/swiotlb.ts';

/** What a backend is built on: the trusted platform and substrate. */
export interface BackendEnv {
  readonly platform: Platform;
  readonly mm: Substrate;
}

/** The calls a backend may implement. A property runs only where its calls are declared. */
export const BACKEND_CALLS = [
  'attachDevice',
  'setMask',
  'setCoherentMask',
  'setMaskAndCoherent',
  'allocAttrs',
  'freeAttrs',
  'mmapAttrs',
  'getSgtableAttrs',
  'mapPage',
  'unmapPage',
  'mapSingle',
  'unmapSingle',
  'mapSg',
  'unmapSg',
  'syncSingleForCpu',
  'syncSingleForDevice',
  'syncSgForCpu',
  'syncSgForDevice',
  'mappingError',
  'maxMappingSize',
  'getCacheAlignment',
  'needSync',
  'canMmap',
  'swiotlbState',
  'iovaState',
  'allocPages',
  'freePages',
  'mmapPages',
  'allocNoncoherent',
  'freeNoncoherent',
  'allocNoncontiguous',
  'freeNoncontiguous',
  'vmapNoncontiguous',
  'vunmapNoncontiguous',
  'mmapNoncontiguous',
  'mapResource',
  'unmapResource',
  'getRequiredMask',
  'addressingLimited',
  'optMappingSize',
  'needUnmap',
  'getMergeBoundary',
] as const;

/** One callable entry point. */
export type BackendCall = (typeof BACKEND_CALLS)[number];

/** How binding a check is: see `src/conformance/oracle.ts` and DESIGN.md "Check levels". */
export type CheckLevel = 'contract' | 'linux' | 'hardening';

/** What a backend declares it supports. */
export interface BackendCapabilities {
  /** Entry points implemented. The harness calls nothing else (`attachDevice` and `setMaskAndCoherent` always). */
  readonly calls: readonly BackendCall[];
  /** `DMA_ATTR_*` bits honoured; the harness passes no others (R56 lets a platform ignore unsupported ones). */
  readonly attrs: number;
  /** Profile names the backend runs on, or `all`. */
  readonly profiles: readonly string[] | 'all';
  /**
   * The check levels the backend claims (DESIGN.md "Check levels"):
   * `contract` (what the DMA API documents; every backend), `linux` (what
   * Linux's implementation chooses), `hardening` (refusals the reference
   * adds beyond the kernel). Default `['contract']`.
   */
  readonly levels?: readonly CheckLevel[];
  /**
   * The Linux release whose behaviour the backend implements, `major.minor`
   * (a compiled kernel: `6.1`). Linux-level refusals a later release added
   * are not asked of it. Default: current mainline.
   */
  readonly kernel?: string;
}

/** A DMA layer under test. Every method may be called in any execution context. */
export interface DmaBackend {
  readonly name: string;
  readonly capabilities: BackendCapabilities;

  /** Set up `struct device` for a platform device (ops choice, ranges). @returns 0 or `-ENODEV` (-19) */
  attachDevice(dev: string): number;
  /** `dma_set_mask`. @returns 0 or `-EIO` */
  setMask(dev: string, bits: number): number;
  /** `dma_set_coherent_mask`. @returns 0 or `-EIO` */
  setCoherentMask(dev: string, bits: number): number;
  /** `dma_set_mask_and_coherent`. @returns 0 or `-EIO` */
  setMaskAndCoherent(dev: string, bits: number): number;

  /** `dma_alloc_attrs`: `cpuAddr` null on failure. */
  allocAttrs(dev: string, sizeBytes: number, gfp: Gfp, attrs: number): DmaAllocation;
  /** `dma_free_attrs`. */
  freeAttrs(dev: string, sizeBytes: number, cpuAddr: CpuAddr | null, dmaHandle: DmaAddr, attrs: number): void;
  /** `dma_mmap_attrs` into an empty VMA from `platform.user.createVma`. @returns 0 or negative errno */
  mmapAttrs(dev: string, vma: VmArea, cpuAddr: CpuAddr, dmaHandle: DmaAddr, sizeBytes: number, attrs: number): number;
  /** `dma_get_sgtable_attrs`. @returns `{ ret: 0, sgt }` or a negative errno with `sgt` null */
  getSgtableAttrs(dev: string, cpuAddr: CpuAddr, dmaHandle: DmaAddr, sizeBytes: number, attrs: number): { ret: number; sgt: SgTable | null };

  /** `dma_map_page_attrs`: `DMA_MAPPING_ERROR` on failure. */
  mapPage(dev: string, page: Pfn, offsetBytes: number, sizeBytes: number, dir: DmaDataDirection, attrs: number): DmaAddr;
  /** `dma_unmap_page_attrs`. */
  unmapPage(dev: string, addr: DmaAddr, sizeBytes: number, dir: DmaDataDirection, attrs: number): void;
  /** `dma_map_single_attrs`: `DMA_MAPPING_ERROR` on failure. */
  mapSingle(dev: string, cpuAddr: CpuAddr, sizeBytes: number, dir: DmaDataDirection, attrs: number): DmaAddr;
  /** `dma_unmap_single_attrs`. */
  unmapSingle(dev: string, addr: DmaAddr, sizeBytes: number, dir: DmaDataDirection, attrs: number): void;
  /** `dma_map_sg_attrs`: mapped segment count, 0 on failure; fills the entries' DMA fields. */
  mapSg(dev: string, sgl: Scatterlist[], nents: number, dir: DmaDataDirection, attrs: number): number;
  /** `dma_unmap_sg_attrs` with the original `nents`. */
  unmapSg(dev: string, sgl: Scatterlist[], nents: number, dir: DmaDataDirection, attrs: number): void;

  /** `dma_sync_single_for_cpu` (partial ranges allowed). */
  syncSingleForCpu(dev: string, addr: DmaAddr, sizeBytes: number, dir: DmaDataDirection): void;
  /** `dma_sync_single_for_device` (partial ranges allowed). */
  syncSingleForDevice(dev: string, addr: DmaAddr, sizeBytes: number, dir: DmaDataDirection): void;
  /** `dma_sync_sg_for_cpu` with the original `nents`. */
  syncSgForCpu(dev: string, sgl: Scatterlist[], nents: number, dir: DmaDataDirection): void;
  /** `dma_sync_sg_for_device` with the original `nents`. */
  syncSgForDevice(dev: string, sgl: Scatterlist[], nents: number, dir: DmaDataDirection): void;

  /** `dma_mapping_error`: `-ENOMEM` for `DMA_MAPPING_ERROR`, else 0. */
  mappingError(dev: string, addr: DmaAddr): number;
  /** `dma_max_mapping_size`, bytes. */
  maxMappingSize(dev: string): number;
  /** `dma_get_cache_alignment`, bytes. */
  getCacheAlignment(dev: string): number;
  /** `dma_need_sync`. */
  needSync(dev: string, addr: DmaAddr): boolean;
  /** `dma_can_mmap`. */
  canMmap(dev: string): boolean;
  /**
   * The accounting of the swiotlb the device bounces through (what debugfs
   * `swiotlb/io_tlb_used` shows, plus the per-slot free-run counts), or null
   * when it has none. Optional, declared as the `swiotlbState` call: the one
   * place the suite reads a backend's own bookkeeping, because free-run
   * counts have no other observable (the `swiotlb-slots-sound` property).
   */
  swiotlbState?(dev: string): IoTlbMemState | null;
  /**
   * The IOVA space of the device's IOMMU domain that mappings and
   * allocations hold, bytes (what is allocated, less reservations, the range
   * caches and ranges waiting in a flush queue), or null when the device has
   * no IOMMU. Optional, declared as the `iovaState` call: the IOVA space is
   * the backend's own bookkeeping, which `no-leak` compares at the end with
   * the start (Documentation/core-api/dma-api-howto.rst: "DMA address space
   * is limited"; R39).
   */
  iovaState?(dev: string): number | null;

  /*
   * The rest of the API (Documentation/core-api/dma-api.rst Part II and the
   * queries), optional: a backend implements what it declares. Memory from
   * the three non-coherent allocators is owned like a streaming mapping and
   * moves with the ordinary `dma_sync_*` calls.
   */

  /** `dma_alloc_pages`: cacheable pages; `page` null on failure. */
  allocPages?(dev: string, sizeBytes: number, dir: DmaDataDirection, gfp: Gfp): { page: Pfn | null; dmaHandle: DmaAddr };
  /** `dma_free_pages`. */
  freePages?(dev: string, sizeBytes: number, page: Pfn, dmaHandle: DmaAddr, dir: DmaDataDirection): void;
  /** `dma_mmap_pages` into an empty VMA. @returns 0 or negative errno */
  mmapPages?(dev: string, vma: VmArea, sizeBytes: number, page: Pfn): number;
  /** `dma_alloc_noncoherent`: a kernel virtual address; `cpuAddr` null on failure. */
  allocNoncoherent?(dev: string, sizeBytes: number, dir: DmaDataDirection, gfp: Gfp): DmaAllocation;
  /** `dma_free_noncoherent`. */
  freeNoncoherent?(dev: string, sizeBytes: number, cpuAddr: CpuAddr, dmaHandle: DmaAddr, dir: DmaDataDirection): void;
  /** `dma_alloc_noncontiguous`: a table whose `nents` DMA segments are filled in (one on dma-direct), or null. */
  allocNoncontiguous?(dev: string, sizeBytes: number, dir: DmaDataDirection, gfp: Gfp, attrs: number): SgTable | null;
  /** `dma_free_noncontiguous`. */
  freeNoncontiguous?(dev: string, sizeBytes: number, sgt: SgTable, dir: DmaDataDirection): void;
  /** `dma_vmap_noncontiguous`: one kernel address for the whole buffer, or null. */
  vmapNoncontiguous?(dev: string, sizeBytes: number, sgt: SgTable): CpuAddr | null;
  /** `dma_vunmap_noncontiguous`. */
  vunmapNoncontiguous?(dev: string, cpuAddr: CpuAddr): void;
  /** `dma_mmap_noncontiguous` into an empty VMA. @returns 0 or negative errno */
  mmapNoncontiguous?(dev: string, vma: VmArea, sizeBytes: number, sgt: SgTable): number;
  /** `dma_map_resource`: device MMIO at a physical address; `DMA_MAPPING_ERROR` on failure. */
  mapResource?(dev: string, physAddr: number, sizeBytes: number, dir: DmaDataDirection, attrs: number): DmaAddr;
  /** `dma_unmap_resource`. */
  unmapResource?(dev: string, addr: DmaAddr, sizeBytes: number, dir: DmaDataDirection, attrs: number): void;
  /** `dma_get_required_mask`, as a limit in bytes (`DMA_BIT_MASK(n)`). */
  getRequiredMask?(dev: string): number;
  /** `dma_addressing_limited`. */
  addressingLimited?(dev: string): boolean;
  /** `dma_opt_mapping_size`, bytes. */
  optMappingSize?(dev: string): number;
  /** `dma_need_unmap`. */
  needUnmap?(dev: string): boolean;
  /** `dma_get_merge_boundary`, a mask (0: never merges). */
  getMergeBoundary?(dev: string): number;
}

/** What a backend module exports (as `default` or as `backend`). */
export interface BackendFactory {
  readonly name: string;
  readonly capabilities: BackendCapabilities;
  /** Build a backend instance on one platform and substrate. */
  create(env: BackendEnv): DmaBackend;
}

/** True when a backend declares support for `call` on `profile`. */
export function supports(caps: BackendCapabilities, call: BackendCall, profile: string): boolean {
  return caps.calls.includes(call) && (caps.profiles === 'all' || caps.profiles.includes(profile));
}
