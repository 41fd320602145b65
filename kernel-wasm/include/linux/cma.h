/* linux/cma.h (kshim): CONFIG_DMA_CMA is off (Debian amd64: CMA not set), so there is never a CMA area to ask about. */
#ifndef _KSHIM_LINUX_CMA_H
#define _KSHIM_LINUX_CMA_H
#include <linux/types.h>
struct cma;
static inline phys_addr_t cma_get_base(const struct cma *cma) { (void)cma; return 0; }
static inline unsigned long cma_get_size(const struct cma *cma) { (void)cma; return 0; }
#endif
