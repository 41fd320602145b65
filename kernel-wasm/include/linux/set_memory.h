/* linux/set_memory.h (kshim): sharing pages with the host on a confidential guest (dmacheck imports; no-ops elsewhere). */
#ifndef _KSHIM_LINUX_SET_MEMORY_H
#define _KSHIM_LINUX_SET_MEMORY_H
#include <linux/types.h>
#include <kshim/runtime.h>
static inline int set_memory_decrypted(unsigned long addr, int numpages)
{
	return dmacheck_set_memory_decrypted(kshim_kva((void *)addr), (u32)numpages);
}
static inline int set_memory_encrypted(unsigned long addr, int numpages)
{
	return dmacheck_set_memory_encrypted(kshim_kva((void *)addr), (u32)numpages);
}
#endif
