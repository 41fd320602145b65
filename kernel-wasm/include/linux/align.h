/* linux/align.h (kshim) */
#include <linux/math.h>
