/* linux/memremap.h (kshim): no ZONE_DEVICE pages reach the DMA API here (CONFIG_PCI_P2PDMA off). */
#ifndef _KSHIM_LINUX_MEMREMAP_H
#define _KSHIM_LINUX_MEMREMAP_H
#include <linux/types.h>
struct page;
struct dev_pagemap;
static inline bool is_pci_p2pdma_page(const struct page *page) { (void)page; return false; }
#endif
