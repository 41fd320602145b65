/* asm/io.h (kshim): x86-64 __va/__pa over the linear map (PAGE_OFFSET + phys). */
#ifndef _KSHIM_ASM_IO_H
#define _KSHIM_ASM_IO_H

#include <linux/types.h>
#include <kshim/runtime.h>

#define PAGE_OFFSET KSHIM_PAGE_OFFSET
#define __va(phys) kshim_ptr((phys_addr_t)(phys) + KSHIM_PAGE_OFFSET)
#define __pa(addr) ((phys_addr_t)(kshim_kva(addr) - KSHIM_PAGE_OFFSET))

static inline void *phys_to_virt(phys_addr_t phys) { return __va(phys); }
static inline phys_addr_t virt_to_phys(const volatile void *addr) { return __pa(addr); }

#endif
