/*
 * linux/mm.h (kshim): pages, the x86-64 linear map, user mappings.
 *
 * struct page is never looked into by the DMA code: a struct page * here is
 * a handle (KSHIM_PAGE_PTR_BASE + 4 * pfn, kshim/runtime.h). The linear map
 * is x86-64's: __va(phys) = PAGE_OFFSET + phys for every page of RAM (no
 * highmem on 64-bit), with PAGE_OFFSET the x86-64 profile's; the glue
 * checks at boot that the machine's page_address() agrees.
 */
#ifndef _KSHIM_LINUX_MM_H
#define _KSHIM_LINUX_MM_H

#include <linux/types.h>
#include <linux/kernel.h>
#include <linux/pfn.h>
#include <linux/gfp.h>
#include <linux/pgtable.h>
#include <linux/err.h>
#include <linux/errno.h>
#include <asm/io.h>
#include <kshim/runtime.h>

#define PAGE_ALIGN(addr) ALIGN(addr, PAGE_SIZE)
#define PAGE_ALIGNED(addr) IS_ALIGNED((unsigned long)(addr), PAGE_SIZE)
#define offset_in_page(p) ((unsigned long)(p) & ~PAGE_MASK)

struct page {
	unsigned int kshim_handle_only;
};

#define pfn_to_page(pfn) kshim_pfn_to_page(pfn)
#define page_to_pfn(page) ((unsigned long)kshim_page_to_pfn(page))
#define page_to_phys(page) ((phys_addr_t)kshim_page_to_pfn(page) << PAGE_SHIFT)
#define virt_to_page(addr) pfn_to_page(__pa(addr) >> PAGE_SHIFT)
#define page_address(page) __va(page_to_phys(page))
#define lowmem_page_address(page) page_address(page)
/* x86-64: no highmem */
#define PageHighMem(page) ((void)(page), 0)
#define is_zone_device_page(page) ((void)(page), 0)

/* the order of the smallest power-of-two number of pages holding `size` bytes */
static inline int get_order(unsigned long long size)
{
	size--;
	size >>= PAGE_SHIFT;
	return fls64(size);
}

struct vm_area_struct {
	unsigned long vm_start;
	unsigned long vm_end;
	unsigned long vm_pgoff;
	pgprot_t vm_page_prot;
	u32 kshim_vma; /* the dmacheck VMA id */
};

static inline unsigned long vma_pages(struct vm_area_struct *vma)
{
	return (vma->vm_end - vma->vm_start) >> PAGE_SHIFT;
}
int remap_pfn_range(struct vm_area_struct *vma, unsigned long addr, unsigned long pfn, unsigned long size, pgprot_t prot);

static inline bool is_vmalloc_addr(const void *x)
{
	u64 kva;
	if (!kshim_is_kva(x))
		return false;
	kva = kshim_kva(x);
	return kva >= KSHIM_VMALLOC_START && kva < KSHIM_VMALLOC_END;
}

#define MAX_ORDER 11
#define MAX_ORDER_NR_PAGES (1 << (MAX_ORDER - 1))
#define page_to_virt(page) page_address(page)
#define __phys_to_pfn(paddr) PHYS_PFN(paddr)
/* The RAM the profile has (the glue knows its banks); ZONE_DMA always has some on x86. */
unsigned long totalram_pages(void);
static inline bool has_managed_dma(void) { return true; }

extern unsigned long max_pfn;
extern unsigned long min_low_pfn;
extern unsigned long max_low_pfn;
extern unsigned long max_possible_pfn;

#endif
