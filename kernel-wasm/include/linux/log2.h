/* linux/log2.h (kshim): bit-scan helpers, written for dmacheck's wasm build. */
#ifndef _KSHIM_LINUX_LOG2_H
#define _KSHIM_LINUX_LOG2_H

#include <linux/types.h>

/* 1-based index of the highest set bit, 0 for 0 */
static inline int fls(unsigned int x) { return x ? 32 - __builtin_clz(x) : 0; }
static inline int fls64(u64 x) { return x ? 64 - __builtin_clzll(x) : 0; }
static inline int fls_long(unsigned long x) { return fls64(x); }
/* 0-based index of the lowest set bit; undefined for 0 as in the kernel */
static inline unsigned long __ffs(unsigned long word) { return __builtin_ctzl(word); }
static inline unsigned long __fls(unsigned long word) { return 8 * sizeof(long) - 1 - __builtin_clzl(word); }

static inline bool is_power_of_2(unsigned long n)
{
	return n != 0 && (n & (n - 1)) == 0;
}
/* the smallest power of two >= n (n >= 1) */
static inline unsigned long roundup_pow_of_two(unsigned long n)
{
	return n <= 1 ? 1UL : 1UL << fls_long(n - 1);
}
static inline unsigned long rounddown_pow_of_two(unsigned long n)
{
	return 1UL << (fls_long(n) - 1);
}
/* floor(log2(n)), n > 0 */
#define ilog2(n) (fls64((u64)(n)) - 1)
static inline int order_base_2(unsigned long n) { return n > 1 ? ilog2(n - 1) + 1 : 0; }

#endif
