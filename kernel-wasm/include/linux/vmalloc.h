/* linux/vmalloc.h (kshim): is_vmalloc_addr is in linux/mm.h; vunmap goes to dmacheck_vunmap. */
#ifndef _KSHIM_LINUX_VMALLOC_H
#define _KSHIM_LINUX_VMALLOC_H
#include <linux/mm.h>
static inline void vunmap(const void *addr) { dmacheck_vunmap(kshim_kva(addr)); }
#endif
