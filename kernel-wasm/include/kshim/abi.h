/*
 * kshim/abi.h - dmacheck's wasm ABI (include/dmacheck.h) as the kernel shim
 * sees it. The ABI header spells some kernel names as plain macros (the DMA
 * directions, DMA_MAPPING_ERROR, PAGE_SIZE); the kernel headers define those
 * themselves (an enum, dma_addr_t casts, unsigned long), so the ABI's
 * spellings are dropped here and the kernel's win. Everything else (gfp
 * flags, errno values, the import declarations, the structs) is the ABI's.
 */
#ifndef KSHIM_ABI_H
#define KSHIM_ABI_H

#include "dmacheck.h"

#undef DMA_BIDIRECTIONAL
#undef DMA_TO_DEVICE
#undef DMA_FROM_DEVICE
#undef DMA_NONE
#undef DMA_MAPPING_ERROR
#undef PAGE_SIZE
#undef PAGE_SHIFT
#undef DMA_ATTR_WEAK_ORDERING
#undef DMA_ATTR_WRITE_COMBINE
#undef DMA_ATTR_NO_KERNEL_MAPPING
#undef DMA_ATTR_SKIP_CPU_SYNC
#undef DMA_ATTR_FORCE_CONTIGUOUS
#undef DMA_ATTR_ALLOC_SINGLE_PAGES
#undef DMA_ATTR_NO_WARN
#undef DMA_ATTR_PRIVILEGED
#undef DMA_ATTR_MMIO

#endif /* KSHIM_ABI_H */
