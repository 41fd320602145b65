/* linux/kmsan-checks.h (kshim): no KMSAN. */
#ifndef _KSHIM_LINUX_KMSAN_CHECKS_H
#define _KSHIM_LINUX_KMSAN_CHECKS_H
#define kmsan_unpoison_memory(addr, size) ((void)(addr), (void)(size))
#define kmsan_check_memory(addr, size) ((void)(addr), (void)(size))
#endif
