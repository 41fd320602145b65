/* linux/minmax.h (kshim) */
#include <linux/math.h>
