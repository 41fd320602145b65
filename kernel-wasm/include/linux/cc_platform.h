/*
 * linux/cc_platform.h (kshim): the confidential-computing attributes come
 * from dmacheck's platform_info.mem_encrypt. A mem_encrypt machine is a
 * guest whose memory is encrypted (CC_ATTR_MEM_ENCRYPT and
 * CC_ATTR_GUEST_MEM_ENCRYPT); no profile is an SME host.
 */
#ifndef _KSHIM_LINUX_CC_PLATFORM_H
#define _KSHIM_LINUX_CC_PLATFORM_H
#include <linux/types.h>
enum cc_attr {
	CC_ATTR_MEM_ENCRYPT,
	CC_ATTR_HOST_MEM_ENCRYPT,
	CC_ATTR_GUEST_MEM_ENCRYPT,
	CC_ATTR_GUEST_STATE_ENCRYPT,
	CC_ATTR_GUEST_UNROLL_STRING_IO,
	CC_ATTR_GUEST_SEV_SNP,
	CC_ATTR_HOTPLUG_DISABLED,
};
bool cc_platform_has(enum cc_attr attr);
#endif
