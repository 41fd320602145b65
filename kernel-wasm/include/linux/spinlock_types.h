/* linux/spinlock_types.h (kshim) */
#include <linux/spinlock.h>
