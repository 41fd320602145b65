/*
 * linux/gfp.h (kshim): gfp flags have the values of dmacheck's ABI
 * (include/dmacheck.h), which are the kernel's bit positions; the page
 * allocator is the machine's (dmacheck_alloc_pages: zone modifiers, zone
 * fallback, __GFP_ZERO, and might_sleep for blocking gfp, as mm does).
 */
#ifndef _KSHIM_LINUX_GFP_H
#define _KSHIM_LINUX_GFP_H

#include <linux/types.h>
#include <kshim/runtime.h>

#define __GFP_KSWAPD_RECLAIM 0x800U
#define __GFP_RECLAIM (__GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM)
#define __GFP_NORETRY 0x10000U
#define __GFP_RETRY_MAYFAIL 0x4000U
#define GFP_ZONEMASK (__GFP_DMA | __GFP_HIGHMEM | __GFP_DMA32)
#define GFP_HIGHUSER (GFP_KERNEL | __GFP_HIGHMEM)

static inline bool gfpflags_allow_blocking(const gfp_t gfp_flags)
{
	return !!(gfp_flags & __GFP_DIRECT_RECLAIM);
}

static inline struct page *alloc_pages(gfp_t gfp, unsigned int order)
{
	return kshim_alloc_pages(gfp, order);
}
/* One NUMA node: the node is ignored. */
static inline struct page *alloc_pages_node(int nid, gfp_t gfp, unsigned int order)
{
	(void)nid;
	return kshim_alloc_pages(gfp, order);
}
static inline void __free_pages(struct page *page, unsigned int order)
{
	kshim_free_pages(page, order);
}
unsigned long __get_free_pages(gfp_t gfp, unsigned int order);
void free_pages(unsigned long addr, unsigned int order);

#endif
