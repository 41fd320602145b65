/* linux/errno.h (kshim): the ABI's errno values plus the few more the DMA code names. */
#ifndef _KSHIM_LINUX_ERRNO_H
#define _KSHIM_LINUX_ERRNO_H
#include <kshim/abi.h>
#define EPERM 1
#define ENOENT 2
#define EAGAIN 11
#define EFAULT 14
#define EEXIST 17
#define ENOSPC 28
#define ERANGE 34
#define ENOSYS 38
#define EOPNOTSUPP 95
#define EREMOTEIO 121
#endif
