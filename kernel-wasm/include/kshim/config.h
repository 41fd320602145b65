/*
 * kshim/config.h - the kernel configuration the wasm build of Debian's
 * kernel/dma/{swiotlb,direct}.c is compiled with. Force-included (-include)
 * in every translation unit, like the kernel's generated autoconf header.
 *
 * Written for dmacheck (kernel-wasm/README.md). The options follow Debian
 * 12's amd64 config (/usr/src/linux-config-6.1/config.amd64_none_amd64.xz)
 * where they touch dma-direct and swiotlb, except where noted:
 *
 *   on:  SWIOTLB, ZONE_DMA, ZONE_DMA32, ARCH_DMA_ADDR_T_64BIT,
 *        PHYS_ADDR_T_64BIT, ARCH_HAS_FORCE_DMA_UNENCRYPTED (AMD_MEM_ENCRYPT),
 *        HAS_DMA, HAS_IOMEM, MMU, X86_64, NEED_SG_DMA_LENGTH
 *   off: DMA_CMA (Debian: CMA is not set), DMA_RESTRICTED_POOL,
 *        DMA_DECLARE_COHERENT, DMA_GLOBAL_POOL, DMA_DIRECT_REMAP,
 *        ARCH_HAS_SYNC_DMA_FOR_{DEVICE,CPU,CPU_ALL} (x86 is coherent),
 *        ARCH_HAS_DMA_PREP_COHERENT, PCI_P2PDMA, DMA_API_DEBUG, KMSAN,
 *        HIGHMEM (64-bit), SWIOTLB_DYNAMIC (does not exist in 6.1)
 *   departures: DEBUG_FS off (Debian: on; swiotlb's debugfs files only
 *        report io_tlb_used, nothing reads them here), DMA_OPS off (Debian:
 *        on; x86's dma_ops stays NULL without an IOMMU, so every device is
 *        dma-direct, which is what get_dma_ops() == NULL gives).
 *
 * DMA_COHERENT_POOL (Debian: on, selected by AMD_MEM_ENCRYPT) is turned on
 * only for the cc-guest build (-DKSHIM_CC_GUEST), which also compiles
 * kernel/dma/pool.c (its gen_pool is the harness's). On the plain x86-64 profile the
 * atomic pools are never used by dma-direct (dma_direct_alloc only goes to
 * them for remap or force_dma_unencrypted, and dma_free_from_pool() is
 * false for memory that did not come from them), so leaving them out does
 * not change what the DMA API does there; it only saves the page allocator
 * the 3 x 1 MiB pools a real boot would set aside.
 */
#ifndef KSHIM_CONFIG_H
#define KSHIM_CONFIG_H

#define CONFIG_X86_64 1
#define CONFIG_MMU 1
#define CONFIG_HAS_DMA 1
#define CONFIG_HAS_IOMEM 1
#define CONFIG_SWIOTLB 1
#define CONFIG_ZONE_DMA 1
#define CONFIG_ZONE_DMA32 1
#define CONFIG_ARCH_DMA_ADDR_T_64BIT 1
#define CONFIG_PHYS_ADDR_T_64BIT 1
#define CONFIG_ARCH_HAS_FORCE_DMA_UNENCRYPTED 1
#define CONFIG_NEED_SG_DMA_LENGTH 1
#define CONFIG_AMD_MEM_ENCRYPT 1
#ifdef KSHIM_CC_GUEST
#define CONFIG_DMA_COHERENT_POOL 1
#endif

#include <kshim/compiler.h>

#endif /* KSHIM_CONFIG_H */
