/*
 * linux/mem_encrypt.h (kshim): sme_me_mask is 0 (no SME host; the cc-guest
 * profile is modelled like a TDX guest, whose DMA addresses carry no
 * encryption bit), so __sme_set/__sme_clr leave addresses alone.
 */
#ifndef _KSHIM_LINUX_MEM_ENCRYPT_H
#define _KSHIM_LINUX_MEM_ENCRYPT_H
#define sme_me_mask 0ULL
#define __sme_set(x) ((x) | sme_me_mask)
#define __sme_clr(x) ((x) & ~sme_me_mask)
#endif
