/**
 * The DMA side of CMA (kernel/dma/contiguous.c): which CMA area serves a
 * device's contiguous allocation, and where a free goes back to.
 * Entry points `dma_alloc_contiguous`, `dma_free_contiguous`.
 *
 * `dma_alloc_contiguous` never serves a non-blocking request (migration
 * sleeps); a device with its own area uses only that area, any size; shared
 * areas (per-NUMA node, then the default area) never serve a single page.
 * Alignment is the allocation's order capped at `CMA_ALIGNMENT`. A NULL here
 * is not a failure of the DMA allocation: `__dma_direct_alloc_pages` falls
 * back to the buddy allocator (kernel/dma/direct.c). `dma_free_contiguous` tries the
 * areas the pages may have come from and otherwise frees to the buddy
 * allocator, so every page goes back where it came from.
 */
import { PAGE_SIZE, type Pfn, getOrder, pagesFor } from '../../../platform/types.ts';
import type { Device, DmaKernel } from '../../include/linux/device.ts';
import { GFP_DMA, GFP_DMA32, __GFP_NOWARN, type Gfp, gfpflagsAllowBlocking } from '../../include/linux/gfp.ts';
import { CMA_ALIGNMENT, type Cma } from '../../mm/cma.ts';

/** `dev_get_cma_area`: the device's own area, else the default area; null when neither exists. */
export function devGetCmaArea(k: DmaKernel, dev: Device | null): Cma | null {
  return dev?.cmaArea ?? k.mm.cma.defaultArea;
}

/** The per-NUMA area of `node` (`dma_contiguous_numa_area[node]`), or null. */
function numaArea(k: DmaKernel, node: number | null): Cma | null {
  if (node === null) return null;
  return k.mm.cma.areas.find((a) => a.config.kind === 'numa' && a.config.node === node) ?? null;
}

/** `cma_alloc_aligned`: `PAGE_ALIGN(size)` pages aligned to `min(get_order(size), CMA_ALIGNMENT)`. */
function cmaAllocAligned(k: DmaKernel, cma: Cma, size: number, gfp: Gfp): Pfn | null {
  return k.mm.cma.alloc(cma, pagesFor(size), Math.min(getOrder(size), CMA_ALIGNMENT), (gfp & __GFP_NOWARN) !== 0);
}

/**
 * `dma_alloc_contiguous`: pages from the device's CMA area, its node's
 * area or the default area.
 * @param size bytes
 * @returns the first pfn, or null when CMA does not serve this request
 *   (non-blocking gfp, a single page from a shared area, no area, area
 *   exhausted or pinned)
 */
export function dmaAllocContiguous(dev: Device, size: number, gfp: Gfp): Pfn | null {
  const k = dev.kernel;
  if (!gfpflagsAllowBlocking(gfp) && !k.quirks.cmaIgnoresGfp) return null;
  if (dev.cmaArea !== null) return cmaAllocAligned(k, dev.cmaArea, size, gfp);
  if (size <= PAGE_SIZE) return null;
  const node = numaArea(k, dev.numaNode);
  if (node !== null && (gfp & (GFP_DMA | GFP_DMA32)) === 0) {
    const page = cmaAllocAligned(k, node, size, gfp);
    if (page !== null) return page;
  }
  const def = k.mm.cma.defaultArea;
  return def === null ? null : cmaAllocAligned(k, def, size, gfp);
}

/**
 * `dma_free_contiguous`: back to the device's area; else to the per-NUMA
 * area holding the pages, else the default area; else `__free_pages` at
 * the order of `size`.
 */
export function dmaFreeContiguous(dev: Device, page: Pfn, size: number): void {
  const k = dev.kernel;
  const count = pagesFor(size);
  if (dev.cmaArea !== null) {
    if (k.mm.cma.release(dev.cmaArea, page, count)) return;
  } else {
    const node = k.mm.cma.areas.find((a) => a.config.kind === 'numa' && a.contains(page));
    if (node !== undefined && k.mm.cma.release(node, page, count)) return;
    const def = k.mm.cma.defaultArea;
    if (def !== null && k.mm.cma.release(def, page, count)) return;
  }
  k.mm.pages.freePages(page, getOrder(size));
}

/**
 * `dma_alloc_from_contiguous`: `count` pages from `dev_get_cma_area(dev)`
 * (the default area for a null device), alignment order capped at
 * `CMA_ALIGNMENT`. Used by the atomic pools and by ARM32's allocator.
 * @param persistent the pages are kept for good (pool growth)
 * @returns the first pfn, or null
 */
export function dmaAllocFromContiguous(k: DmaKernel, dev: Device | null, count: number, align: number, noWarn: boolean, persistent = false): Pfn | null {
  const cma = devGetCmaArea(k, dev);
  if (cma === null) return null;
  return k.mm.cma.alloc(cma, count, Math.min(align, CMA_ALIGNMENT), noWarn, persistent);
}

/** `dma_release_from_contiguous`: @returns false when the pages are not from `dev_get_cma_area(dev)` */
export function dmaReleaseFromContiguous(k: DmaKernel, dev: Device | null, page: Pfn, count: number): boolean {
  const cma = devGetCmaArea(k, dev);
  return cma !== null && k.mm.cma.release(cma, page, count);
}
