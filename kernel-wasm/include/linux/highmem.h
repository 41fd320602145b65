/*
 * linux/highmem.h (kshim): temporary maps of a page (dmacheck_kmap_local)
 * and the page copies swiotlb_bounce() uses for highmem originals. x86-64
 * has no highmem, so swiotlb never takes this path here; it is kept
 * working all the same.
 */
#ifndef _KSHIM_LINUX_HIGHMEM_H
#define _KSHIM_LINUX_HIGHMEM_H

#include <linux/mm.h>
#include <linux/string.h>

static inline void *kmap_local_page(struct page *page)
{
	return kshim_ptr(dmacheck_kmap_local(kshim_page_to_pfn(page)));
}
static inline void kunmap_local(const void *addr)
{
	dmacheck_kunmap_local(kshim_kva(addr) & ~(u64)(PAGE_SIZE - 1));
}
static inline void memcpy_from_page(char *to, struct page *page, size_t offset, size_t len)
{
	char *from = kmap_local_page(page);
	memcpy(to, from + offset, len);
	kunmap_local(from);
}
static inline void memcpy_to_page(struct page *page, size_t offset, const char *from, size_t len)
{
	char *to = kmap_local_page(page);
	memcpy(to + offset, from, len);
	kunmap_local(to);
}
#endif
