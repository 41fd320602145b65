/**
 * dma-debug at the seam: the boxed backend with `kernel/dma/debug.c`'s hooks
 * around every call, as `kernel/dma/mapping.c` calls them around the DMA
 * ops. It watches any backend (not only the reference), because what
 * dma-debug judges is the driver's use of the API: the reports go to the
 * session as `debug-report` observations, and misuse mode checks that each
 * misuse dma-debug is built to catch is caught, and that no legal step is
 * reported (`properties/debug-flags-misuse.ts`).
 *
 * The hooks see the call's arguments and results only; the physical address
 * of a kernel address comes from the trusted platform (virt_to_phys,
 * vmalloc_to_page), as in the kernel. Like the kernel, allocations whose
 * CPU address is neither linear nor vmalloc (a NO_KERNEL_MAPPING cookie)
 * make no entry, and neither do their frees.
 *
 * The reference keeps its own table of live allocations and mappings
 * (`LiveDmaTable` in mapping.ts) for its hardening refusals: that one is a
 * choice of the DMA layer under test, this one is the harness's view of the
 * driver, so they stay two (the reference's table answers "may I refuse
 * this call", dma-debug's "what did the driver do wrong", with the kernel's
 * best-fit lookup that the reference's exact lookup must not copy).
 */
import { GuardedBackend } from '../backend/guard.ts';
import type { DmaAllocation } from '../linux/include/linux/dma-map-ops.ts';
import { DMA_MAPPING_ERROR, type DmaDataDirection } from '../linux/include/linux/dma-mapping.ts';
import type { Gfp } from '../linux/include/linux/gfp.ts';
import type { Scatterlist, SgTable } from '../linux/include/linux/scatterlist.ts';
import { type DebugSgEntry, DmaDebug, type DmaDebugOptions, type DebugReport, type KernelAreaKind } from '../linux/kernel/dma/debug.ts';
import type { Platform } from '../platform/platform.ts';
import type { Step } from './steps.ts';
import { type CpuAddr, type DmaAddr, PAGE_SIZE, type Pfn } from '../platform/types.ts';

/**
 * True where dma-debug does not track overlapping cache lines (no D21):
 * `dma_get_cache_alignment()` below the line (x86), or kmalloc below
 * `ARCH_DMA_MINALIGN` with swiotlb to bounce it (arm64 since v6.5).
 * @see kernel/dma/debug.c add_dma_entry
 */
export function cachelineOverlapExempt(platform: Platform): boolean {
  const p = platform.profile;
  const align = p.archDmaMinalignBytes ?? 1;
  return align < p.cache.lineSizeBytes || (p.kmallocMinAlignBytes < align && p.swiotlb !== null);
}

/**
 * A report the kernel's dma-debug makes on a legal call: on dma-direct,
 * `dma_alloc_noncontiguous` hands `debug_dma_map_sg` one segment of the
 * whole allocation, which `check_sg_segment` reports (D19) when it is
 * longer than the device's max segment size.
 * @see kernel/dma/mapping.c dma_alloc_noncontiguous, kernel/dma/debug.c check_sg_segment
 */
export function kernelFalseReport(check: string, step: Step | null): boolean {
  return check === 'D19' && step?.op === 'allocNc';
}

/** Builds a dma-debug (the model, or a mutant of it in tests). */
export type DebugFactory = (options: DmaDebugOptions, sink: (r: DebugReport) => void) => DmaDebug;

/** The dma-debug of one machine: options from its profile, reports to `sink`; `make` builds it (default the model). */
export function machineDebug(platform: Platform, sink: (r: DebugReport) => void, make: DebugFactory = (o, s) => new DmaDebug(o, s)): DmaDebug {
  const p = platform.profile;
  return make(
    {
      cacheLineBytes: p.cache.lineSizeBytes,
      bounceUnalignedKmalloc: cachelineOverlapExempt(platform),
      deviceParms: (dev) => {
        const d = p.devices.find((x) => x.name === dev);
        return { maxSegmentSizeBytes: d?.maxSegmentSize ?? 65536, segmentBoundaryMask: d?.segmentBoundaryMask ?? 0xffffffff };
      },
    },
    sink,
  );
}

/** The boxed backend, with dma-debug's hooks around each call (kernel/dma/mapping.c order). */
export class DebuggedBackend extends GuardedBackend {
  constructor(
    base: GuardedBackend,
    private readonly platform: Platform,
    readonly debug: DmaDebug,
  ) {
    super(base.inner, base.name, base.capabilities);
  }

  /**
   * Physical address of a kernel address (`virt_to_paddr`), or null where
   * it is neither linear nor vmalloc (a cookie: no entry). A vmalloc address
   * nothing maps any more (a buffer already freed) gives 0, as
   * `vmalloc_to_pfn` does, so its free is still checked.
   */
  private physOf(va: number): number | null {
    const pt = this.platform.pt;
    if (!pt.isLinearAddr(va) && !pt.isVmallocAddr(va)) return null;
    try {
      return pt.translate(va, 'read', 'dma-debug').phys;
    } catch {
      return 0;
    }
  }

  private areaOf(va: number): KernelAreaKind {
    const pt = this.platform.pt;
    return pt.isVmallocAddr(va) ? 'vmalloc' : pt.isLinearAddr(va) ? 'linear' : 'invalid';
  }

  private static sg(sgl: readonly Scatterlist[]): DebugSgEntry[] {
    return sgl.map((s) => ({ phys: s.page * PAGE_SIZE + s.offset, lengthBytes: s.length, dmaAddress: s.dmaAddress, dmaLengthBytes: s.dmaLength }));
  }

  /** Memory of the device's own coherent pool: `dma_alloc_attrs` and `dma_free_attrs` return before their debug hooks for it. */
  private inDevicePool(dev: string, phys: number | null): boolean {
    const pool = this.platform.profile.devices.find((d) => d.name === dev)?.coherentPool ?? null;
    return pool !== null && phys !== null && phys >= pool.basePhys && phys < pool.basePhys + pool.sizeBytes;
  }

  override allocAttrs(dev: string, sizeBytes: number, gfp: Gfp, attrs: number): DmaAllocation {
    const r = super.allocAttrs(dev, sizeBytes, gfp, attrs);
    const phys = r.cpuAddr === null ? null : this.physOf(r.cpuAddr);
    if (r.cpuAddr !== null && phys !== null && !this.inDevicePool(dev, phys)) this.debug.allocCoherent(dev, sizeBytes, r.dmaHandle, r.cpuAddr, phys, attrs);
    return r;
  }
  override freeAttrs(dev: string, sizeBytes: number, cpuAddr: CpuAddr | null, dmaHandle: DmaAddr, attrs: number): void {
    const phys = cpuAddr === null ? null : this.physOf(cpuAddr);
    if (cpuAddr !== null && phys !== null && !this.inDevicePool(dev, phys)) this.debug.freeCoherent(dev, sizeBytes, cpuAddr, dmaHandle, phys);
    super.freeAttrs(dev, sizeBytes, cpuAddr, dmaHandle, attrs);
  }
  /** The stack and rodata checks of `debug_dma_map_phys` (D15, D16) for a physical range the driver maps. */
  private checkArea(dev: string, phys: number, sizeBytes: number): void {
    const kind = this.platform.pt.kernelAreaOf(phys);
    if (kind !== null) this.debug.checkMappedArea(dev, kind, this.platform.pt.linearAddress(phys) ?? phys, sizeBytes);
  }

  override mapPage(dev: string, page: Pfn, offsetBytes: number, sizeBytes: number, dir: DmaDataDirection, attrs: number): DmaAddr {
    const dma = super.mapPage(dev, page, offsetBytes, sizeBytes, dir, attrs);
    if (dma !== DMA_MAPPING_ERROR) this.checkArea(dev, page * PAGE_SIZE + offsetBytes, sizeBytes);
    this.debug.mapPhys(dev, page * PAGE_SIZE + offsetBytes, sizeBytes, dir, dma, attrs);
    return dma;
  }
  override unmapPage(dev: string, addr: DmaAddr, sizeBytes: number, dir: DmaDataDirection, attrs: number): void {
    super.unmapPage(dev, addr, sizeBytes, dir, attrs);
    this.debug.unmapPhys(dev, addr, sizeBytes, dir);
  }
  override mapSingle(dev: string, cpuAddr: CpuAddr, sizeBytes: number, dir: DmaDataDirection, attrs: number): DmaAddr {
    // dma_map_single_attrs refuses a vmalloc address before its debug hook (mainline): dma-debug never sees it.
    if (this.platform.pt.isVmallocAddr(cpuAddr)) return super.mapSingle(dev, cpuAddr, sizeBytes, dir, attrs);
    this.debug.mapSingle(dev, this.areaOf(cpuAddr), cpuAddr, sizeBytes);
    const dma = super.mapSingle(dev, cpuAddr, sizeBytes, dir, attrs);
    const phys = this.physOf(cpuAddr);
    if (phys !== null && dma !== DMA_MAPPING_ERROR) this.checkArea(dev, phys, sizeBytes);
    if (phys !== null) this.debug.mapPhys(dev, phys, sizeBytes, dir, dma, attrs);
    return dma;
  }
  override unmapSingle(dev: string, addr: DmaAddr, sizeBytes: number, dir: DmaDataDirection, attrs: number): void {
    super.unmapSingle(dev, addr, sizeBytes, dir, attrs);
    this.debug.unmapPhys(dev, addr, sizeBytes, dir);
  }
  override mapSg(dev: string, sgl: Scatterlist[], nents: number, dir: DmaDataDirection, attrs: number): number {
    const n = super.mapSg(dev, sgl, nents, dir, attrs);
    this.debug.mapSg(dev, DebuggedBackend.sg(sgl), nents, n, dir, attrs);
    return n;
  }
  override unmapSg(dev: string, sgl: Scatterlist[], nents: number, dir: DmaDataDirection, attrs: number): void {
    this.debug.unmapSg(dev, DebuggedBackend.sg(sgl), nents, dir);
    super.unmapSg(dev, sgl, nents, dir, attrs);
  }
  override syncSingleForCpu(dev: string, addr: DmaAddr, sizeBytes: number, dir: DmaDataDirection): void {
    super.syncSingleForCpu(dev, addr, sizeBytes, dir);
    this.debug.syncSingleForCpu(dev, addr, sizeBytes, dir);
  }
  override syncSingleForDevice(dev: string, addr: DmaAddr, sizeBytes: number, dir: DmaDataDirection): void {
    super.syncSingleForDevice(dev, addr, sizeBytes, dir);
    this.debug.syncSingleForDevice(dev, addr, sizeBytes, dir);
  }
  override syncSgForCpu(dev: string, sgl: Scatterlist[], nents: number, dir: DmaDataDirection): void {
    super.syncSgForCpu(dev, sgl, nents, dir);
    this.debug.syncSgForCpu(dev, DebuggedBackend.sg(sgl), nents, dir);
  }
  override syncSgForDevice(dev: string, sgl: Scatterlist[], nents: number, dir: DmaDataDirection): void {
    super.syncSgForDevice(dev, sgl, nents, dir);
    this.debug.syncSgForDevice(dev, DebuggedBackend.sg(sgl), nents, dir);
  }
  override allocPages(dev: string, sizeBytes: number, dir: DmaDataDirection, gfp: Gfp): { page: Pfn | null; dmaHandle: DmaAddr } {
    const r = super.allocPages(dev, sizeBytes, dir, gfp);
    if (r.page !== null) this.debug.allocPages(dev, r.page * PAGE_SIZE, sizeBytes, dir, r.dmaHandle);
    return r;
  }
  override freePages(dev: string, sizeBytes: number, page: Pfn, dmaHandle: DmaAddr, dir: DmaDataDirection): void {
    this.debug.freePages(dev, page * PAGE_SIZE, sizeBytes, dir, dmaHandle);
    super.freePages(dev, sizeBytes, page, dmaHandle, dir);
  }
  override allocNoncoherent(dev: string, sizeBytes: number, dir: DmaDataDirection, gfp: Gfp): DmaAllocation {
    const r = super.allocNoncoherent(dev, sizeBytes, dir, gfp);
    const phys = r.cpuAddr === null ? null : this.physOf(r.cpuAddr);
    if (phys !== null) this.debug.allocPages(dev, phys, sizeBytes, dir, r.dmaHandle);
    return r;
  }
  override freeNoncoherent(dev: string, sizeBytes: number, cpuAddr: CpuAddr, dmaHandle: DmaAddr, dir: DmaDataDirection): void {
    const phys = this.physOf(cpuAddr);
    if (phys !== null) this.debug.freePages(dev, phys, sizeBytes, dir, dmaHandle);
    super.freeNoncoherent(dev, sizeBytes, cpuAddr, dmaHandle, dir);
  }
  override allocNoncontiguous(dev: string, sizeBytes: number, dir: DmaDataDirection, gfp: Gfp, attrs: number): SgTable | null {
    const sgt = super.allocNoncontiguous(dev, sizeBytes, dir, gfp, attrs);
    if (sgt !== null) this.debug.mapSg(dev, DebuggedBackend.sg(sgt.sgl), sgt.origNents, sgt.nents, dir, 0);
    return sgt;
  }
  override freeNoncontiguous(dev: string, sizeBytes: number, sgt: SgTable, dir: DmaDataDirection): void {
    this.debug.unmapSg(dev, DebuggedBackend.sg(sgt.sgl), sgt.origNents, dir);
    super.freeNoncontiguous(dev, sizeBytes, sgt, dir);
  }
  override mapResource(dev: string, physAddr: number, sizeBytes: number, dir: DmaDataDirection, attrs: number): DmaAddr {
    const dma = super.mapResource(dev, physAddr, sizeBytes, dir, attrs);
    this.debug.mapPhys(dev, physAddr, sizeBytes, dir, dma, attrs, 'resource');
    return dma;
  }
  override unmapResource(dev: string, addr: DmaAddr, sizeBytes: number, dir: DmaDataDirection, attrs: number): void {
    super.unmapResource(dev, addr, sizeBytes, dir, attrs);
    this.debug.unmapPhys(dev, addr, sizeBytes, dir, 'resource');
  }
}
