/**
 * Scatter-gather lists (include/linux/scatterlist.h): entries naming a page,
 * an offset and a length on the CPU side, and a DMA address and length
 * filled in by `dma_map_sg`; `struct sg_table` with `nents` (mapped) and
 * `orig_nents` (CPU entries). Entries are plain data so that traces can
 * store them.
 */
import { type DmaAddr, PAGE_SIZE, type Pfn, type PhysAddr, pfnToPhys } from '../../../platform/types.ts';
import { DMA_MAPPING_ERROR } from './dma-mapping.ts';

/** One `struct scatterlist` entry. */
export interface Scatterlist {
  /** `sg_page`: first page of the segment. */
  page: Pfn;
  /** Offset into `page`, bytes. */
  offset: number;
  /** CPU-side length, bytes. */
  length: number;
  /** `sg_dma_address`, set by `dma_map_sg`. */
  dmaAddress: DmaAddr;
  /** `sg_dma_len`, bytes, set by `dma_map_sg`. */
  dmaLength: number;
}

/** `struct sg_table`. */
export interface SgTable {
  readonly sgl: Scatterlist[];
  /** Entries mapped for DMA (set by `dma_map_sgtable`). */
  nents: number;
  /** CPU entries. */
  readonly origNents: number;
}

/** `sg_set_page`: a new entry for `length` bytes at `offset` into `page`, not yet mapped. */
export function sgEntry(page: Pfn, offset: number, length: number): Scatterlist {
  return { page, offset, length, dmaAddress: DMA_MAPPING_ERROR, dmaLength: 0 };
}

/** `sg_phys`: CPU physical address of the entry's first byte. */
export function sgPhys(sg: Scatterlist): PhysAddr {
  return (pfnToPhys(sg.page) + sg.offset) as PhysAddr;
}

/** `sg_alloc_table` with one entry per given segment. */
export function sgTable(entries: Scatterlist[]): SgTable {
  return { sgl: entries, nents: entries.length, origNents: entries.length };
}

/**
 * `sg_alloc_table_from_pages`: a table over `size` bytes of a page array,
 * one entry per physically contiguous run (the last ending at `size`).
 * @see lib/scatterlist.c sg_alloc_table_from_pages
 */
export function sgAllocTableFromPages(pages: readonly Pfn[], size: number): SgTable {
  const count = Math.ceil(size / PAGE_SIZE);
  const entries: Scatterlist[] = [];
  let left = size;
  for (let i = 0; i < count; ) {
    let j = i + 1;
    while (j < count && pages[j] === (pages[j - 1] as number) + 1) j++;
    const len = Math.min((j - i) * PAGE_SIZE, left);
    entries.push(sgEntry(pages[i] as Pfn, 0, len));
    left -= len;
    i = j;
  }
  return sgTable(entries);
}
