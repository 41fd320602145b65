/* linux/interrupt.h (kshim) */
#ifndef _KSHIM_LINUX_INTERRUPT_H
#define _KSHIM_LINUX_INTERRUPT_H
#define in_interrupt() 0
#define in_nmi() 0
#endif
