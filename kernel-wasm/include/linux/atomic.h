/* linux/atomic.h (kshim): one CPU and no interrupts inside a call, so atomics are plain operations. */
#ifndef _KSHIM_LINUX_ATOMIC_H
#define _KSHIM_LINUX_ATOMIC_H
#include <linux/types.h>
#define atomic_read(v) ((v)->counter)
#define atomic_set(v, i) ((v)->counter = (i))
#define atomic_long_read(v) ((v)->counter)
#define atomic_long_set(v, i) ((v)->counter = (i))
#define atomic_long_add(i, v) ((v)->counter += (i))
#define atomic_long_sub(i, v) ((v)->counter -= (i))
/* compare-and-exchange on one CPU: store `n` when `*p` holds `o`; the old value */
#define cmpxchg(p, o, n) ({ typeof(*(p)) __kc_old = *(p); if (__kc_old == (o)) *(p) = (n); __kc_old; })
#endif
