/**
 * Not a kernel mirror: the reference backend, the DMA layer of
 * `src/linux/` (mapping.c → dma-direct, the arch hooks) packaged behind the
 * {@link DmaBackend} seam like any other backend, with no private path.
 *
 * {@link ReferenceOptions} let a fixture's mutant swap the arch cache table
 * (the same table the kernel's arch code fills), and let the dma-debug model
 * observe the API boundary.
 */
import type { CpuAddr, DmaAddr, Pfn, PhysAddr } from '../platform/types.ts';
import type { VmArea } from '../platform/user.ts';
import { ARCH_SYNC_POLICIES, type ArchSyncPolicy } from '../linux/arch/dma-sync-policy.ts';
import { type Device, type DmaKernel, type DmaQuirks, NO_QUIRKS, createDevice } from '../linux/include/linux/device.ts';
import type { DmaAllocation } from '../linux/include/linux/dma-map-ops.ts';
import { DMA_ATTR_ALL, type DmaDataDirection } from '../linux/include/linux/dma-mapping.ts';
import { EBUSY, ENODEV, ENOMEM } from '../linux/include/linux/errno.ts';
import type { Gfp } from '../linux/include/linux/gfp.ts';
import type { Scatterlist, SgTable } from '../linux/include/linux/scatterlist.ts';
import { armAtomicPoolInit, armIommuAttachDevice, armIommuIovaInUse } from '../linux/arch/arm/mm/dma-mapping.ts';
import { iommuDmaIovaInUse, iommuSetupDmaOps } from '../linux/drivers/iommu/dma-iommu.ts';
import { dmaInitGlobalCoherent, rmemDmaDeviceInit } from '../linux/kernel/dma/coherent.ts';
import * as dma from '../linux/kernel/dma/mapping.ts';
import { dmaAtomicPoolInit } from '../linux/kernel/dma/pool.ts';
import { type IoTlbMemState, type SwiotlbMapTimeCopy, swiotlbInit, swiotlbRestrictedPoolInit, swiotlbState } from '../linux/kernel/dma/swiotlb.ts';
import { BACKEND_CALLS, type BackendCapabilities, type BackendEnv, type BackendFactory, type DmaBackend } from './backend.ts';

/** Knobs of the reference backend. */
export interface ReferenceOptions {
  /** Cache-maintenance table; default: the profile's `dma.archSync` row. */
  readonly archSync?: ArchSyncPolicy;
  /** dma-debug observer; default none. */
  readonly debug?: dma.DmaDebugHooks | null;
  /** swiotlb's map-time copy rule; default `always` (the kernel since v5.17). */
  readonly swiotlbMapTimeCopy?: SwiotlbMapTimeCopy;
  /** Old or broken allocator behaviours to switch on (fixtures); default none. */
  readonly quirks?: Partial<DmaQuirks>;
}

/** Capabilities of the reference backend: every call, every attribute, every profile, every check level (it is Linux, hardened). */
export const REFERENCE_CAPABILITIES: BackendCapabilities = { calls: BACKEND_CALLS, attrs: DMA_ATTR_ALL, profiles: 'all', levels: ['contract', 'linux', 'hardening'] };

/** The reference DMA layer on one platform. */
export class ReferenceBackend implements DmaBackend {
  readonly name: string = 'reference';
  readonly capabilities: BackendCapabilities = REFERENCE_CAPABILITIES;
  /** The simulated kernel's globals (for tests and mutants). */
  readonly kernel: DmaKernel;
  private readonly devs = new Map<string, Device>();
  private readonly mapTimeCopy: SwiotlbMapTimeCopy;

  constructor(
    readonly env: BackendEnv,
    options: ReferenceOptions = {},
  ) {
    const platform = env.platform;
    const kernel: DmaKernel = {
      platform,
      mm: env.mm,
      arch: { platform, policy: options.archSync ?? ARCH_SYNC_POLICIES[platform.profile.dma.archSync] },
      dmesg: env.mm.dmesg,
      live: new dma.LiveDmaTable(),
      debug: options.debug ?? null,
      ioTlbDefaultMem: null,
      atomicPools: null,
      armAtomicPool: null,
      globalCoherentMem: null,
      quirks: { ...NO_QUIRKS, ...options.quirks },
    };
    // Boot, in the kernel's initcall order: swiotlb, the atomic pools (after CMA is up), the global pool.
    const p = platform.profile;
    this.mapTimeCopy = options.swiotlbMapTimeCopy ?? 'always';
    if (p.swiotlb !== null) kernel.ioTlbDefaultMem = swiotlbInit(kernel, p.swiotlb, this.mapTimeCopy);
    kernel.atomicPools = dmaAtomicPoolInit(kernel);
    if (p.dma.archHasDmaAlloc) kernel.armAtomicPool = armAtomicPoolInit(kernel);
    if (p.globalCoherentPool !== null) {
      const mapping = p.mmu ? 'memremap-wc' : kernel.quirks.globalPoolCachedAlias ? 'linear' : 'uncached-alias';
      kernel.globalCoherentMem = dmaInitGlobalCoherent(kernel, p.globalCoherentPool.basePhys, p.globalCoherentPool.sizeBytes, mapping);
    }
    this.kernel = kernel;
  }

  /** The attached `struct device` named `name`; throws when not attached (a harness bug, not a DMA call). */
  device(name: string): Device {
    const d = this.devs.get(name);
    if (d === undefined) throw new Error(`device '${name}' is not attached: attached are ${[...this.devs.keys()].join(', ') || 'none'}`);
    return d;
  }

  attachDevice(name: string): number {
    if (this.devs.has(name)) return -EBUSY;
    const hw = this.env.platform.devices.find((d) => d.name === name);
    if (hw === undefined) return -ENODEV;
    const d = createDevice(this.kernel, hw);
    const pool = hw.config.coherentPool;
    if (pool !== null && rmemDmaDeviceInit(d, pool.basePhys, pool.sizeBytes) !== 0) return -ENOMEM;
    if (hw.config.restrictedDmaPool !== null) {
      d.dmaIoTlbMem = swiotlbRestrictedPoolInit(this.kernel, name, hw.config.restrictedDmaPool, this.mapTimeCopy);
      if (d.dmaIoTlbMem === null) return -ENOMEM;
    }
    if (hw.iommu !== null && (this.env.platform.profile.arch === 'arm' ? armIommuAttachDevice(d) : iommuSetupDmaOps(d)) !== 0) return -ENODEV;
    this.devs.set(name, d);
    return 0;
  }

  setMask(dev: string, bits: number): number {
    return dma.dmaSetMask(this.device(dev), bits);
  }
  setCoherentMask(dev: string, bits: number): number {
    return dma.dmaSetCoherentMask(this.device(dev), bits);
  }
  setMaskAndCoherent(dev: string, bits: number): number {
    return dma.dmaSetMaskAndCoherent(this.device(dev), bits);
  }
  allocAttrs(dev: string, sizeBytes: number, gfp: Gfp, attrs: number): DmaAllocation {
    return dma.dmaAllocAttrs(this.device(dev), sizeBytes, gfp, attrs);
  }
  freeAttrs(dev: string, sizeBytes: number, cpuAddr: CpuAddr | null, dmaHandle: DmaAddr, attrs: number): void {
    dma.dmaFreeAttrs(this.device(dev), sizeBytes, cpuAddr, dmaHandle, attrs);
  }
  mmapAttrs(dev: string, vma: VmArea, cpuAddr: CpuAddr, dmaHandle: DmaAddr, sizeBytes: number, attrs: number): number {
    return dma.dmaMmapAttrs(this.device(dev), vma, cpuAddr, dmaHandle, sizeBytes, attrs);
  }
  getSgtableAttrs(dev: string, cpuAddr: CpuAddr, dmaHandle: DmaAddr, sizeBytes: number, attrs: number): { ret: number; sgt: SgTable | null } {
    return dma.dmaGetSgtableAttrs(this.device(dev), cpuAddr, dmaHandle, sizeBytes, attrs);
  }
  mapPage(dev: string, page: Pfn, offsetBytes: number, sizeBytes: number, dir: DmaDataDirection, attrs: number): DmaAddr {
    return dma.dmaMapPageAttrs(this.device(dev), page, offsetBytes, sizeBytes, dir, attrs);
  }
  unmapPage(dev: string, addr: DmaAddr, sizeBytes: number, dir: DmaDataDirection, attrs: number): void {
    dma.dmaUnmapPhys(this.device(dev), addr, sizeBytes, dir, attrs);
  }
  mapSingle(dev: string, cpuAddr: CpuAddr, sizeBytes: number, dir: DmaDataDirection, attrs: number): DmaAddr {
    return dma.dmaMapSingleAttrs(this.device(dev), cpuAddr, sizeBytes, dir, attrs);
  }
  unmapSingle(dev: string, addr: DmaAddr, sizeBytes: number, dir: DmaDataDirection, attrs: number): void {
    dma.dmaUnmapPhys(this.device(dev), addr, sizeBytes, dir, attrs);
  }
  mapSg(dev: string, sgl: Scatterlist[], nents: number, dir: DmaDataDirection, attrs: number): number {
    return dma.dmaMapSgAttrs(this.device(dev), sgl, nents, dir, attrs);
  }
  unmapSg(dev: string, sgl: Scatterlist[], nents: number, dir: DmaDataDirection, attrs: number): void {
    dma.dmaUnmapSgAttrs(this.device(dev), sgl, nents, dir, attrs);
  }
  syncSingleForCpu(dev: string, addr: DmaAddr, sizeBytes: number, dir: DmaDataDirection): void {
    dma.dmaSyncSingleForCpu(this.device(dev), addr, sizeBytes, dir);
  }
  syncSingleForDevice(dev: string, addr: DmaAddr, sizeBytes: number, dir: DmaDataDirection): void {
    dma.dmaSyncSingleForDevice(this.device(dev), addr, sizeBytes, dir);
  }
  syncSgForCpu(dev: string, sgl: Scatterlist[], nents: number, dir: DmaDataDirection): void {
    dma.dmaSyncSgForCpu(this.device(dev), sgl, nents, dir);
  }
  syncSgForDevice(dev: string, sgl: Scatterlist[], nents: number, dir: DmaDataDirection): void {
    dma.dmaSyncSgForDevice(this.device(dev), sgl, nents, dir);
  }
  mappingError(dev: string, addr: DmaAddr): number {
    return dma.dmaMappingError(this.device(dev), addr);
  }
  maxMappingSize(dev: string): number {
    return dma.dmaMaxMappingSize(this.device(dev));
  }
  getCacheAlignment(dev: string): number {
    return dma.dmaGetCacheAlignment(this.device(dev));
  }
  needSync(dev: string, addr: DmaAddr): boolean {
    return dma.dmaNeedSync(this.device(dev), addr);
  }
  canMmap(dev: string): boolean {
    return dma.dmaCanMmap(this.device(dev));
  }
  swiotlbState(dev: string): IoTlbMemState | null {
    const d = this.device(dev);
    return d.dmaIoTlbMem === null ? null : swiotlbState(d.dmaIoTlbMem, d.dmaIoTlbPools);
  }
  iovaState(dev: string): number | null {
    const d = this.device(dev);
    if (d.dmaIommu) return iommuDmaIovaInUse(d);
    return d.hw.iommu === null ? null : armIommuIovaInUse(d);
  }
  allocPages(dev: string, sizeBytes: number, dir: DmaDataDirection, gfp: Gfp): dma.DmaPages {
    return dma.dmaAllocPages(this.device(dev), sizeBytes, dir, gfp);
  }
  freePages(dev: string, sizeBytes: number, page: Pfn, dmaHandle: DmaAddr, dir: DmaDataDirection): void {
    dma.dmaFreePages(this.device(dev), sizeBytes, page, dmaHandle, dir);
  }
  mmapPages(dev: string, vma: VmArea, sizeBytes: number, page: Pfn): number {
    return dma.dmaMmapPages(this.device(dev), vma, sizeBytes, page);
  }
  allocNoncoherent(dev: string, sizeBytes: number, dir: DmaDataDirection, gfp: Gfp): DmaAllocation {
    return dma.dmaAllocNoncoherent(this.device(dev), sizeBytes, dir, gfp);
  }
  freeNoncoherent(dev: string, sizeBytes: number, cpuAddr: CpuAddr, dmaHandle: DmaAddr, dir: DmaDataDirection): void {
    dma.dmaFreeNoncoherent(this.device(dev), sizeBytes, cpuAddr, dmaHandle, dir);
  }
  allocNoncontiguous(dev: string, sizeBytes: number, dir: DmaDataDirection, gfp: Gfp, attrs: number): SgTable | null {
    return dma.dmaAllocNoncontiguous(this.device(dev), sizeBytes, dir, gfp, attrs);
  }
  freeNoncontiguous(dev: string, sizeBytes: number, sgt: SgTable, dir: DmaDataDirection): void {
    dma.dmaFreeNoncontiguous(this.device(dev), sizeBytes, sgt, dir);
  }
  vmapNoncontiguous(dev: string, sizeBytes: number, sgt: SgTable): CpuAddr | null {
    return dma.dmaVmapNoncontiguous(this.device(dev), sizeBytes, sgt);
  }
  vunmapNoncontiguous(dev: string, cpuAddr: CpuAddr): void {
    dma.dmaVunmapNoncontiguous(this.device(dev), cpuAddr);
  }
  mmapNoncontiguous(dev: string, vma: VmArea, sizeBytes: number, sgt: SgTable): number {
    return dma.dmaMmapNoncontiguous(this.device(dev), vma, sizeBytes, sgt);
  }
  mapResource(dev: string, physAddr: number, sizeBytes: number, dir: DmaDataDirection, attrs: number): DmaAddr {
    return dma.dmaMapResource(this.device(dev), physAddr as PhysAddr, sizeBytes, dir, attrs);
  }
  unmapResource(dev: string, addr: DmaAddr, sizeBytes: number, dir: DmaDataDirection, attrs: number): void {
    dma.dmaUnmapResource(this.device(dev), addr, sizeBytes, dir, attrs);
  }
  getRequiredMask(dev: string): number {
    return dma.dmaGetRequiredMask(this.device(dev));
  }
  addressingLimited(dev: string): boolean {
    return dma.dmaAddressingLimited(this.device(dev));
  }
  optMappingSize(dev: string): number {
    return dma.dmaOptMappingSize(this.device(dev));
  }
  needUnmap(dev: string): boolean {
    return dma.dmaNeedUnmap(this.device(dev));
  }
  getMergeBoundary(dev: string): number {
    return dma.dmaGetMergeBoundary(this.device(dev));
  }
}

/** The reference backend factory: `import backend from 'src/backend/reference.ts'`. */
export const referenceBackend: BackendFactory = {
  name: 'reference',
  capabilities: REFERENCE_CAPABILITIES,
  create: (env) => new ReferenceBackend(env),
};

export default referenceBackend;
