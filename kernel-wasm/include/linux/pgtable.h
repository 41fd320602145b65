/*
 * linux/pgtable.h (kshim): page protections as the three attributes
 * dmacheck's remap_pfn_range and vmap know (DMACHECK_PROT_*). x86 has no
 * C-bit in this model: pgprot_decrypted/encrypted leave the value alone.
 */
#ifndef _KSHIM_LINUX_PGTABLE_H
#define _KSHIM_LINUX_PGTABLE_H
#include <kshim/abi.h>
typedef struct {
	unsigned long pgprot;
} pgprot_t;
#define __pgprot(x) ((pgprot_t){ (x) })
#define pgprot_val(x) ((x).pgprot)
#define PAGE_KERNEL __pgprot(DMACHECK_PROT_CACHEABLE)
#define PAGE_SHARED __pgprot(DMACHECK_PROT_CACHEABLE)
#define pgprot_noncached(p) ((void)(p), __pgprot(DMACHECK_PROT_UNCACHED))
#define pgprot_writecombine(p) ((void)(p), __pgprot(DMACHECK_PROT_WRITE_COMBINE))
#define pgprot_decrypted(p) (p)
#define pgprot_encrypted(p) (p)
#endif
