/* linux/math.h (kshim): rounding helpers, minimal, written for dmacheck's wasm build. */
#ifndef _KSHIM_LINUX_MATH_H
#define _KSHIM_LINUX_MATH_H

#include <linux/types.h>
#include <linux/limits.h>
#include <kshim/compiler.h>

#define __KSHIM_ALIGN_MASK(x, mask) (((x) + (mask)) & ~(mask))
#define ALIGN(x, a) __KSHIM_ALIGN_MASK(x, (typeof(x))(a) - 1)
#define ALIGN_DOWN(x, a) ((x) & ~((typeof(x))(a) - 1))
#define IS_ALIGNED(x, a) (((x) & ((typeof(x))(a) - 1)) == 0)
/* power-of-two rounding */
#define round_up(x, y) ((((x) - 1) | ((typeof(x))((y) - 1))) + 1)
#define round_down(x, y) ((x) & ~((typeof(x))((y) - 1)))
/* any divisor */
#define roundup(x, y) ({ typeof(y) __kr_y = (y); (((x) + (__kr_y - 1)) / __kr_y) * __kr_y; })
#define rounddown(x, y) ({ typeof(x) __kr_x = (x); __kr_x - (__kr_x % (y)); })
#define DIV_ROUND_UP(n, d) (((n) + (d) - 1) / (d))

#define min(x, y) ({ typeof(x) __km_a = (x); typeof(y) __km_b = (y); __km_a < __km_b ? __km_a : __km_b; })
#define max(x, y) ({ typeof(x) __km_a = (x); typeof(y) __km_b = (y); __km_a > __km_b ? __km_a : __km_b; })
#define min_t(type, x, y) ({ type __km_a = (x); type __km_b = (y); __km_a < __km_b ? __km_a : __km_b; })
#define max_t(type, x, y) ({ type __km_a = (x); type __km_b = (y); __km_a > __km_b ? __km_a : __km_b; })
/* the smaller of two values, a zero one not counting */
#define min_not_zero(x, y) ({ typeof(x) __kz_x = (x); typeof(y) __kz_y = (y); \
	__kz_x == 0 ? __kz_y : (__kz_y == 0 ? __kz_x : min(__kz_x, __kz_y)); })
#define clamp(v, lo, hi) min(max(v, lo), hi)

/* a * b, or SIZE_MAX when the product does not fit a size_t */
static inline size_t array_size(size_t a, size_t b)
{
	size_t r;
	if (__builtin_mul_overflow(a, b, &r))
		return SIZE_MAX;
	return r;
}

#endif
