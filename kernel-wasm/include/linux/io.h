/*
 * linux/io.h (kshim): memremap() is only reached by swiotlb_mem_remap() when
 * swiotlb_unencrypted_base is set (Hyper-V isolation VMs); it never is here.
 */
#ifndef _KSHIM_LINUX_IO_H
#define _KSHIM_LINUX_IO_H
#include <asm/io.h>
enum { MEMREMAP_WB = 1, MEMREMAP_WT = 2, MEMREMAP_WC = 4, MEMREMAP_ENC = 8, MEMREMAP_DEC = 16 };
void *memremap(resource_size_t offset, size_t size, unsigned long flags);
#endif
