/**
 * `struct page` pointers (include/linux/mm.h, `pfn_to_page` /
 * `page_to_pfn` over the vmemmap).
 *
 * The model does not simulate `struct page` contents, so the vmemmap window
 * is never mapped: a page pointer is an opaque kernel pointer, and reading or
 * writing through it faults. That is exactly what a
 * `DMA_ATTR_NO_KERNEL_MAPPING` cookie is in dma-direct (kernel/dma/direct.c
 * `dma_direct_alloc_no_mapping`; Documentation/core-api/dma-attributes.rst): the `struct page *` handed back in place of a CPU address,
 * which a backend must never dereference (R25).
 */
import type { VaLayout } from '../../../platform/pgtable.ts';
import { PAGE_SIZE, type CpuAddr, type Pfn, cpuAddr, pfn } from '../../../platform/types.ts';

/** `sizeof(struct page)`, bytes. */
export const STRUCT_PAGE_SIZE = 64;

/** `pfn_to_page`: the `struct page *` of a frame, as an (unmapped) kernel pointer. */
export function pfnToPage(layout: VaLayout, p: Pfn): CpuAddr {
  return cpuAddr(layout.vmemmapBase + (p - layout.physOffset / PAGE_SIZE) * STRUCT_PAGE_SIZE);
}

/**
 * `page_to_pfn`: the frame of a `struct page *` (pointer arithmetic only,
 * no dereference); null when `ptr` is not aligned inside the vmemmap. The
 * caller checks that the frame is RAM.
 */
export function pageToPfn(layout: VaLayout, ptr: number): Pfn | null {
  const off = ptr - layout.vmemmapBase;
  if (off < 0 || off % STRUCT_PAGE_SIZE !== 0) return null;
  return pfn(off / STRUCT_PAGE_SIZE + layout.physOffset / PAGE_SIZE);
}
