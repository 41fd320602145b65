/**
 * The bus between devices and memory: `dma_range_map` windows that translate
 * CPU physical addresses to the addresses a device puts on the bus, and back.
 *
 * Not a kernel mirror; this is the interconnect as firmware describes it
 * (DT `dma-ranges`, ACPI `_DMA`). The kernel's `translate_phys_to_dma` /
 * `translate_dma_to_phys` (include/linux/dma-direct.h) read the same table;
 * the device's DMA engine uses this file, so a backend that computes a DMA
 * address wrongly sends the device to the wrong memory. See also
 * include/linux/dma-direct.h `phys_to_dma`, `dma_capable`.
 */
import type { DmaAddr, PhysAddr } from './types.ts';

/** One window of a `dma_range_map` (`struct bus_dma_region`). */
export interface DmaRange {
  /** First CPU physical address of the window. */
  readonly cpuStartPhys: number;
  /** DMA address the device uses for `cpuStartPhys`. */
  readonly dmaStart: number;
  /** Window size in bytes (> 0). */
  readonly sizeBytes: number;
}

/**
 * CPU physical → DMA address through the windows; identity when there is no
 * map (null). Null when no window holds `phys` (the address is unreachable).
 */
export function rangePhysToDma(map: readonly DmaRange[] | null, phys: number): DmaAddr | null {
  if (map === null) return phys as DmaAddr;
  for (const r of map) {
    if (phys >= r.cpuStartPhys && phys - r.cpuStartPhys < r.sizeBytes) return (r.dmaStart + (phys - r.cpuStartPhys)) as DmaAddr;
  }
  return null;
}

/** DMA → CPU physical address through the windows; identity without a map; null outside every window. */
export function rangeDmaToPhys(map: readonly DmaRange[] | null, dma: number): PhysAddr | null {
  if (map === null) return dma as PhysAddr;
  for (const r of map) {
    if (dma >= r.dmaStart && dma - r.dmaStart < r.sizeBytes) return (r.cpuStartPhys + (dma - r.dmaStart)) as PhysAddr;
  }
  return null;
}
