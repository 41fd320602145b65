/**
 * Device MMIO a DMA engine can target: a peripheral's FIFO or a PCI BAR
 * (an NVMe controller memory buffer), at a physical address that is not
 * RAM. A driver hands such an address to a DMA engine with
 * `dma_map_resource` (Documentation/core-api/dma-api.rst): the engine then
 * reads and writes the registers directly, with no CPU cache in the way.
 *
 * Not a kernel mirror: the hardware. Each region is a plain register file
 * (bytes, zero at reset) reached by device DMA through the bus like RAM,
 * never cached and never bounced; the oracle peeks at it to see where a
 * resource mapping really leads.
 */
import { hex } from './types.ts';

/** One MMIO region of a profile. */
export interface MmioRegionConfig {
  /** Name the driver steps use (`uart0-fifo`). */
  readonly name: string;
  /** First physical byte (not RAM). */
  readonly basePhys: number;
  /** Bytes. */
  readonly sizeBytes: number;
  /** What it is, on which real platform. */
  readonly description: string;
}

/** The MMIO regions of one machine, with their register contents. */
export class MmioSpace {
  private readonly regs = new Map<string, Uint8Array>();

  constructor(readonly regions: readonly MmioRegionConfig[]) {
    for (const r of regions) this.regs.set(r.name, new Uint8Array(r.sizeBytes));
  }

  /** The region holding all of `[phys, phys+len)`, or null. */
  find(phys: number, lenBytes = 1): MmioRegionConfig | null {
    return this.regions.find((r) => phys >= r.basePhys && phys + lenBytes <= r.basePhys + r.sizeBytes) ?? null;
  }

  /** The region named `name`. @throws Error for an unknown name (a harness bug) */
  region(name: string): MmioRegionConfig {
    const r = this.regions.find((x) => x.name === name);
    if (r === undefined) throw new Error(`no MMIO region ${name}: there are ${this.regions.map((x) => x.name).join(', ') || 'none'}`);
    return r;
  }

  private bytesAt(phys: number, lenBytes: number): Uint8Array {
    const r = this.find(phys, lenBytes);
    if (r === null) throw new Error(`not MMIO [phys=${hex(phys)}] [len=${lenBytes}]`);
    const off = phys - r.basePhys;
    return (this.regs.get(r.name) as Uint8Array).subarray(off, off + lenBytes);
  }

  /** Register bytes at `[phys, phys+len)` (a copy). */
  read(phys: number, lenBytes: number): Uint8Array {
    return this.bytesAt(phys, lenBytes).slice();
  }

  /** Store `data` into the registers at `phys`. */
  write(phys: number, data: Uint8Array): void {
    this.bytesAt(phys, data.length).set(data);
  }
}
