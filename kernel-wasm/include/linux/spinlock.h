/*
 * linux/spinlock.h (kshim): one CPU and no preemption inside a dmacheck
 * call, so locks have nothing to exclude and are no-ops; irqsave flags are
 * set to 0. (dmacheck's context rules are checked on what may sleep, which
 * the imports report; a spinlock never sleeps.)
 */
#ifndef _KSHIM_LINUX_SPINLOCK_H
#define _KSHIM_LINUX_SPINLOCK_H
typedef struct {
	int unused;
} spinlock_t;
#define DEFINE_SPINLOCK(x) spinlock_t x = { 0 }
#define spin_lock_init(l) ((void)(l))
#define spin_lock(l) ((void)(l))
#define spin_unlock(l) ((void)(l))
#define spin_lock_irqsave(l, flags) do { (void)(l); (flags) = 0; } while (0)
#define spin_unlock_irqrestore(l, flags) do { (void)(l); (void)(flags); } while (0)
#define local_irq_save(flags) do { (flags) = 0; } while (0)
#define local_irq_restore(flags) ((void)(flags))
#define irqs_disabled() 0
#endif
