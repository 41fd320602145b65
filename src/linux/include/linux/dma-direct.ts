/**
 * Address translation and addressability for dma-direct
 * (include/linux/dma-direct.h): `phys_to_dma`, `dma_to_phys`, `dma_capable`,
 * and the required-mask computation (kernel/dma/direct.c
 * `dma_direct_get_required_mask`).
 *
 * The windows are the same `dma_range_map` the device's DMA engine uses
 * (platform bus), so a backend that translates correctly sends the device to
 * the right memory. On an encrypted guest the kernel's `phys_to_dma` sets
 * the encryption bit (SEV's C-bit) and `phys_to_dma_unencrypted` does not;
 * the model keeps one address space and lets the platform's page states
 * decide what a device may reach, so the two agree here.
 */
import { rangeDmaToPhys, rangePhysToDma } from '../../../platform/bus.ts';
import { type DmaAddr, type PhysAddr, maskLimit, minNotZero } from '../../../platform/types.ts';
import type { Device } from './device.ts';
import { DMA_MAPPING_ERROR } from './dma-mapping.ts';

/** `translate_phys_to_dma`: `DMA_MAPPING_ERROR` when no window holds `phys`. */
export function translatePhysToDma(dev: Device, phys: number): DmaAddr {
  return rangePhysToDma(dev.dmaRangeMap, phys) ?? DMA_MAPPING_ERROR;
}

/**
 * `force_dma_unencrypted` (arch/x86/mm/mem_encrypt.c): on an encrypted
 * guest every device needs shared memory, so coherent allocations are
 * decrypted and streaming DMA bounces through the shared swiotlb.
 */
export function forceDmaUnencrypted(dev: Device): boolean {
  return dev.kernel.platform.profile.memEncrypt;
}

/** `phys_to_dma` (the encryption bit is not modelled: same as `phys_to_dma_unencrypted`). */
export function physToDma(dev: Device, phys: number): DmaAddr {
  return translatePhysToDma(dev, phys);
}

/** `dma_to_phys`: all-ones (as a number: `DMA_MAPPING_ERROR`) when no window holds `dma`. */
export function dmaToPhys(dev: Device, dma: number): PhysAddr {
  return rangeDmaToPhys(dev.dmaRangeMap, dma) ?? (DMA_MAPPING_ERROR as number as PhysAddr);
}

/** The streaming limit of a device: `min_not_zero(*dma_mask, bus_dma_limit)`, bytes. 0 without a mask. */
export function dmaStreamingLimit(dev: Device): number {
  return dev.dmaMask === null ? 0 : minNotZero(maskLimit(dev.dmaMask), dev.busDmaLimit);
}

/**
 * `dma_capable`: can the device reach `[addr, addr+size)` with its streaming
 * mask and bus limit? False for `DMA_MAPPING_ERROR`. `isRam` is false for
 * MMIO (`DMA_ATTR_MMIO`). On 32-bit `dma_addr_t`, RAM below the DMA address of
 * the first RAM page is also refused (the `min_low_pfn` check).
 */
export function dmaCapable(dev: Device, addr: DmaAddr, size: number, isRam: boolean): boolean {
  if (addr === DMA_MAPPING_ERROR || dev.dmaMask === null) return false;
  const k = dev.kernel.platform.profile;
  if (isRam && k.wordBits === 32) {
    const first = physToDma(dev, k.ram[0]?.startPhys ?? 0);
    if (first !== DMA_MAPPING_ERROR && addr < first) return false;
  }
  return addr + Math.max(size, 1) - 1 <= dmaStreamingLimit(dev);
}
