/**
 * Devices as hardware: what a device's DMA engine can address, whether it
 * snoops the CPU cache, and the engine itself, which reads and writes memory
 * by DMA address.
 *
 * Not a kernel mirror; the kernel's `struct device` (masks set by the driver,
 * ops, pools) is modelled in `src/linux/include/linux/device.ts` on top of
 * this. Coherent vs non-coherent devices: include/linux/dma-map-ops.h
 * `dev_is_dma_coherent`; bus offsets: include/linux/dma-direct.h
 * `translate_phys_to_dma` (`dma_range_map`, `bus_dma_limit`).
 *
 * The engine is what makes mapping mistakes observable:
 * - it drives only `addressBits` address lines, so higher bits are lost and
 *   the access lands elsewhere (a mapping above the device's reach corrupts
 *   other memory, as on real hardware);
 * - the interconnect carries addresses up to `busDmaLimit` only, and only
 *   addresses inside a `dma-ranges` window reach memory: anything else is a
 *   {@link DeviceFault};
 * - a coherent device snoops the CPU cache; a non-coherent one sees RAM only.
 */
import { IOMMU_READ, IOMMU_WRITE, type IommuConfig, IommuDomainHw, protString } from './iommu.ts';
import type { MmioSpace } from './mmio.ts';
import { rangeDmaToPhys, type DmaRange } from './bus.ts';
import type { CpuCache } from './cache.ts';
import type { PhysicalMemory } from './memory.ts';
import { PAGE_SIZE, hex, maskLimit } from './types.ts';

/** Hardware description of one device. */
export interface DeviceConfig {
  /** Name used in traces and diagnostics (`dev0`, `nvme0`). Unique per profile. */
  readonly name: string;
  /** True when the device snoops CPU caches (`dev->dma_coherent`). */
  readonly coherent: boolean;
  /** Address lines the DMA engine drives (24, 32, 40, 64): its natural `dma_mask` width. */
  readonly addressBits: number;
  /** Highest DMA address the interconnect carries, in bytes; 0 = no limit (`bus_dma_limit`). */
  readonly busDmaLimit: number;
  /** `dma-ranges` windows; null = identity (DMA address = physical address). */
  readonly dmaRanges: readonly DmaRange[] | null;
  /** `dma_parms.min_align_mask` (NVMe: 0xfff); 0 = none. */
  readonly minAlignMask: number;
  /** `dma_parms.max_segment_size`, bytes (default 64 KiB). */
  readonly maxSegmentSize: number;
  /** `dma_parms.segment_boundary_mask` (default 0xffffffff). */
  readonly segmentBoundaryMask: number;
  /** False for external (untrusted) PCIe devices. */
  readonly trusted: boolean;
  /**
   * The device's DT `restricted-dma-pool` reserved-memory region: the only
   * memory the device can reach (the interconnect's firewall, or an MPU in
   * front of the device, refuses everything else); the kernel bounces all
   * of its streaming DMA and serves its coherent allocations from swiotlb
   * slots in that region. Null = none. Whole 2 KiB slots, lowmem.
   * @see kernel/dma/swiotlb.c rmem_swiotlb_device_init
   */
  readonly restrictedDmaPool: ReservedRegion | null;
  /**
   * The device's own coherent pool: a DT `shared-dma-pool` reserved-memory
   * node without `reusable` (`no-map`), assigned through `memory-region`, or
   * `dma_declare_coherent_memory` from board code. Null = none.
   * kernel/dma/coherent.c `rmem_dma_setup`, `dma_declare_coherent_memory`.
   */
  readonly coherentPool: ReservedRegion | null;
  /** NUMA node of the device (`dev_to_node`); null = `NUMA_NO_NODE`. */
  readonly numaNode: number | null;
  /**
   * The IOMMU in front of the device; null = none (DMA addresses are bus
   * addresses). With one, the address that passes the `dma-ranges` windows is
   * an IOVA, translated by the device's domain ({@link IommuDomainHw}).
   */
  readonly iommu: IommuConfig | null;
}

/** A physical range set aside at boot (DT reserved-memory, `memblock_reserve`). */
export interface ReservedRegion {
  /** First byte, page aligned. */
  readonly basePhys: number;
  /** Bytes, whole pages. */
  readonly sizeBytes: number;
}

/** Defaults for the optional knobs of a device, as the kernel has them without `dma_parms`. */
export const DEVICE_DEFAULTS = {
  busDmaLimit: 0,
  dmaRanges: null,
  minAlignMask: 0,
  maxSegmentSize: 65536,
  segmentBoundaryMask: 0xffffffff,
  trusted: true,
  restrictedDmaPool: null,
  coherentPool: null,
  numaNode: null,
  iommu: null,
} as const;

/**
 * Why a device access faulted: the address reaches no memory
 * (`unreachable`), it reaches private memory of a confidential guest
 * (`private-memory`), it leaves the device's restricted-dma-pool
 * (`restricted-pool`), or the IOMMU has no translation or not the permission
 * for it (`iommu`: an IOMMU fault, reported by the SMMU's event queue).
 */
export type DeviceFaultKind = 'unreachable' | 'private-memory' | 'restricted-pool' | 'iommu';

/** A device DMA access that cannot reach memory, or may not. */
export class DeviceFault extends Error {
  constructor(
    readonly device: string,
    readonly dma: number,
    readonly lenBytes: number,
    readonly access: 'read' | 'write',
    readonly reason: string,
    readonly kind: DeviceFaultKind = 'unreachable',
  ) {
    super(`DMA fault [dev=${device}] [dma=${hex(dma)}] [len=${lenBytes}] [access=${access}] [reason=${reason}]`);
    this.name = 'DeviceFault';
  }
}

/**
 * Memory encryption of a confidential-computing guest (SEV-SNP, TDX):
 * every guest page is private (encrypted with a key the device cannot use)
 * until the guest converts it to shared (`set_memory_decrypted`). A
 * device's DMA reaches shared pages only; an access to a private page
 * faults, which is what makes a missing bounce or a missing decryption
 * observable. Not a kernel mirror: the hypervisor's page-state table.
 */
export class MemoryEncryption {
  private readonly sharedPfns = new Set<number>();

  /** True when page frame `p` is shared (decrypted). */
  isShared(p: number): boolean {
    return this.sharedPfns.has(p);
  }

  /** The first private page of `[phys, phys+len)`, or null when every page is shared. */
  firstPrivate(phys: number, lenBytes: number): number | null {
    const last = Math.floor((phys + Math.max(lenBytes, 1) - 1) / PAGE_SIZE);
    for (let p = Math.floor(phys / PAGE_SIZE); p <= last; p++) if (!this.sharedPfns.has(p)) return p;
    return null;
  }

  /** The first shared page of `nrPages` frames from `first`, or null. */
  firstShared(first: number, nrPages: number): number | null {
    if (this.sharedPfns.size === 0) return null;
    for (let p = first; p < first + nrPages; p++) if (this.sharedPfns.has(p)) return p;
    return null;
  }

  /** Convert `nrPages` frames from `first` to shared (true) or private (false). */
  set(first: number, nrPages: number, shared: boolean): void {
    for (let p = first; p < first + nrPages; p++) {
      if (shared) this.sharedPfns.add(p);
      else this.sharedPfns.delete(p);
    }
  }

  /** Number of shared pages. */
  get sharedCount(): number {
    return this.sharedPfns.size;
  }
}

/** One device and its DMA engine. Addresses are DMA (bus) addresses, lengths bytes. */
export class DeviceHw {
  /** The device's IOMMU domain; null when the device has no IOMMU. */
  readonly iommu: IommuDomainHw | null;

  constructor(
    readonly config: DeviceConfig,
    private readonly mem: PhysicalMemory,
    private readonly cache: CpuCache,
    /** The guest's memory encryption, null when memory is not encrypted. */
    private readonly encryption: MemoryEncryption | null = null,
    /** Device MMIO the engine can target (`dma_map_resource`), never cached. */
    private readonly mmio: MmioSpace | null = null,
  ) {
    this.iommu = config.iommu === null ? null : new IommuDomainHw(config.name, config.iommu);
  }

  /**
   * Where a DMA address leads now, without accessing anything and without a
   * permission check: address lines, bus limit, `dma-ranges` window, then the
   * IOMMU (its IOTLB first); null when it leads nowhere. For the oracle.
   */
  translate(dma: number): number | null {
    if (!Number.isSafeInteger(dma) || dma < 0) return null;
    const r = this.route(dma, 1, null);
    return typeof r === 'number' ? r : null;
  }

  /**
   * The one path of a device access: the engine drives `addressBits` lines
   * (higher bits are dropped), the interconnect carries up to its bus limit,
   * a `dma-ranges` window turns the address into the IOMMU's input (or the
   * physical address), and the IOMMU translates it with `access`'s
   * permission (none asked when null). `n` bytes stay inside one CPU page,
   * hence inside one window and one granule.
   * @returns the physical address, or why the access goes nowhere (with the fault kind)
   */
  private route(dma: number, n: number, access: 'read' | 'write' | null): number | { reason: string; kind: DeviceFaultKind } {
    const c = this.config;
    const emitted = dma % (maskLimit(c.addressBits) + 1);
    if (c.busDmaLimit !== 0 && emitted + n - 1 > c.busDmaLimit) return { reason: `beyond bus_dma_limit ${hex(c.busDmaLimit)}`, kind: 'unreachable' };
    const input = rangeDmaToPhys(c.dmaRanges, emitted);
    if (input === null || rangeDmaToPhys(c.dmaRanges, emitted + n - 1) !== input + n - 1) return { reason: 'outside every dma-ranges window', kind: 'unreachable' };
    if (this.iommu === null) return input;
    const t = this.iommu.lookup(input);
    if ('fault' in t) return { reason: `IOMMU fault: ${t.fault}`, kind: 'iommu' };
    const need = access === null ? 0 : access === 'read' ? IOMMU_READ : IOMMU_WRITE;
    if ((t.prot & need) !== need) return { reason: `IOMMU fault: ${access} through a ${protString(t.prot)} translation of IOVA ${hex(input)}`, kind: 'iommu' };
    return t.phys;
  }

  get name(): string {
    return this.config.name;
  }

  /** Resolve a device access into physical chunks, or throw {@link DeviceFault}. Nothing is accessed. */
  private resolve(dma: number, lenBytes: number, access: 'read' | 'write'): [number, number, number, boolean][] {
    const c = this.config;
    const chunks: [number, number, number, boolean][] = [];
    let done = 0;
    while (done < lenBytes) {
      const n = Math.min(PAGE_SIZE - (((dma + done) % (maskLimit(c.addressBits) + 1)) % PAGE_SIZE), lenBytes - done);
      const phys = this.route(dma + done, n, access);
      if (typeof phys !== 'number') throw new DeviceFault(c.name, dma, lenBytes, access, phys.reason, phys.kind);
      if (this.mmio?.find(phys, n) != null) {
        chunks.push([phys, done, n, true]);
        done += n;
        continue;
      }
      if (!this.mem.isRam(phys, n)) throw new DeviceFault(c.name, dma, lenBytes, access, `not RAM at phys ${hex(phys)}`);
      const pool = c.restrictedDmaPool;
      if (pool !== null && (phys < pool.basePhys || phys + n > pool.basePhys + pool.sizeBytes)) {
        throw new DeviceFault(c.name, dma, lenBytes, access, `phys ${hex(phys)} is outside the device's restricted-dma-pool [${hex(pool.basePhys)}+${hex(pool.sizeBytes)}]`, 'restricted-pool');
      }
      const priv = this.encryption?.firstPrivate(phys, n) ?? null;
      if (priv !== null) throw new DeviceFault(c.name, dma, lenBytes, access, `private (encrypted) guest page at phys ${hex(priv * PAGE_SIZE)}`, 'private-memory');
      chunks.push([phys, done, n, false]);
      done += n;
    }
    return chunks;
  }

  /** The device reads `lenBytes` at DMA address `dma`. @throws DeviceFault when unreachable */
  read(dma: number, lenBytes: number): Uint8Array {
    const out = new Uint8Array(lenBytes);
    for (const [phys, off, n, mmio] of this.resolve(dma, lenBytes, 'read')) {
      if (mmio) out.set((this.mmio as MmioSpace).read(phys, n), off);
      else if (this.config.coherent) this.cache.snoopReadInto(phys, out, off, n);
      else this.mem.readInto(phys, out, off, n);
    }
    return out;
  }

  /** The device writes `data` at DMA address `dma`. @throws DeviceFault when unreachable (nothing written) */
  write(dma: number, data: Uint8Array): void {
    for (const [phys, off, n, mmio] of this.resolve(dma, data.length, 'write')) {
      if (mmio) (this.mmio as MmioSpace).write(phys, data.subarray(off, off + n));
      else if (this.config.coherent) this.cache.snoopWrite(phys, data, off, n);
      else this.mem.write(phys, data, off, n);
    }
  }
}
