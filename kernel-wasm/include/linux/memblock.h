/*
 * linux/memblock.h (kshim). There is no memblock: the DMA code runs after
 * boot on a machine whose page allocator is already up, so
 *
 *   memblock_alloc_low()  takes whole pages of RAM below 4 GiB from the
 *                         machine's page allocator (GFP_DMA32) and zeroes
 *                         them, as memblock does (not top-down: the buddy
 *                         allocator decides where);
 *   memblock_alloc()      serves swiotlb's bookkeeping (slots, areas) from
 *                         the module's heap. swiotlb.c also takes the
 *                         bounce pool from it when SWIOTLB_ANY is passed;
 *                         the glue never passes it (x86 only does for Xen).
 */
#ifndef _KSHIM_LINUX_MEMBLOCK_H
#define _KSHIM_LINUX_MEMBLOCK_H
#include <linux/mm.h>
void *memblock_alloc(phys_addr_t size, phys_addr_t align);
void *memblock_alloc_low(phys_addr_t size, phys_addr_t align);
void memblock_free(void *ptr, size_t size);
void memblock_free_late(phys_addr_t base, phys_addr_t size);
#endif
