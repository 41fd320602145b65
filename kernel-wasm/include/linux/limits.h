/* linux/limits.h (kshim): integer limits; long and size_t are 32-bit on wasm32. */
#ifndef _KSHIM_LINUX_LIMITS_H
#define _KSHIM_LINUX_LIMITS_H

#define USHRT_MAX 0xffff
#define INT_MAX 0x7fffffff
#define INT_MIN (-INT_MAX - 1)
#define UINT_MAX 0xffffffffU
#define LONG_MAX __LONG_MAX__
#define ULONG_MAX (~0UL)
#define LLONG_MAX __LONG_LONG_MAX__
#define ULLONG_MAX (~0ULL)
#define SIZE_MAX (~(size_t)0)
#define U8_MAX 0xff
#define U16_MAX 0xffff
#define U32_MAX 0xffffffffU
#define S32_MAX 0x7fffffff
#define U64_MAX (~0ULL)
#define PHYS_ADDR_MAX (~(phys_addr_t)0)
#define BITS_PER_LONG (8 * (int)sizeof(long))
#define BITS_PER_LONG_LONG 64

#endif
