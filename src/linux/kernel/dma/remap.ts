/**
 * Remapping DMA buffers into the vmalloc area (kernel/dma/remap.c):
 * `dma_common_contiguous_remap` gives a physically contiguous buffer a new
 * kernel mapping with the attribute `dma_pgprot` chose (uncached or
 * write-combine for non-coherent devices), `dma_common_pages_remap` does the
 * same for a page array, and
 * `dma_common_free_remap` undoes either (`dma_pgprot`: kernel/dma/mapping.c).
 *
 * vmap may sleep: these are never reached in atomic context by a correct
 * backend (the atomic pools of kernel/dma/pool.c exist for that).
 */
import type { PageAttr } from '../../../platform/pgtable.ts';
import { type CpuAddr, type Pfn, pagesFor, pfn } from '../../../platform/types.ts';
import type { Device } from '../../include/linux/device.ts';
import { VM_DMA_COHERENT } from '../../mm/vmalloc.ts';

/** `dma_common_pages_remap`: vmap `pages` with `prot`, flagged `VM_DMA_COHERENT`. Null on failure. */
export function dmaCommonPagesRemap(dev: Device, pages: readonly Pfn[], prot: PageAttr): CpuAddr | null {
  return dev.kernel.mm.vmalloc.vmap(pages, prot, VM_DMA_COHERENT);
}

/** `dma_common_contiguous_remap`: vmap the `sizeBytes` starting at `first` with `prot`. Null on failure. */
export function dmaCommonContiguousRemap(dev: Device, first: Pfn, sizeBytes: number, prot: PageAttr): CpuAddr | null {
  const pages = Array.from({ length: pagesFor(sizeBytes) }, (_, i) => pfn(first + i));
  return dmaCommonPagesRemap(dev, pages, prot);
}

/**
 * `dma_common_free_remap`: undo a remap. WARNs ("trying to free invalid
 * coherent area") and does nothing when `cpuAddr` is not a `VM_DMA_COHERENT` area.
 */
export function dmaCommonFreeRemap(dev: Device, cpuAddr: CpuAddr): void {
  const area = dev.kernel.mm.vmalloc.findVmArea(cpuAddr);
  if (area === undefined || (area.flags & VM_DMA_COHERENT) === 0 || area.addr !== cpuAddr) {
    dev.kernel.dmesg.warn(`trying to free invalid coherent area [dev=${dev.name}] [cpu_addr=0x${cpuAddr.toString(16)}]`);
    return;
  }
  dev.kernel.mm.vmalloc.vunmap(cpuAddr);
}
