/*
 * linux/types.h (kshim) - the kernel's scalar types for the wasm build.
 *
 * x86-64 has 64-bit phys_addr_t and dma_addr_t, and so does this build.
 * wasm32 has 32-bit `long`, `size_t` and pointers where x86-64 has 64: the
 * departures that follow from it are listed in kernel-wasm/README.md
 * ("wasm32 widths").
 */
#ifndef _KSHIM_LINUX_TYPES_H
#define _KSHIM_LINUX_TYPES_H

#include <kshim/abi.h> /* u8, u32, s32, u64, s64 */

typedef signed char s8;
typedef unsigned short u16;
typedef short s16;
typedef u8 __u8;
typedef u16 __u16;
typedef u32 __u32;
typedef u64 __u64;
typedef s32 __s32;
typedef s64 __s64;

typedef _Bool bool;
#define true 1
#define false 0
#define NULL ((void *)0)

typedef __SIZE_TYPE__ size_t;
typedef __PTRDIFF_TYPE__ ssize_t;
typedef __UINTPTR_TYPE__ uintptr_t;
typedef long long loff_t;

typedef u64 phys_addr_t;
typedef u64 dma_addr_t;
typedef u64 resource_size_t;
typedef unsigned int gfp_t;
typedef unsigned int fmode_t;

typedef struct {
	int counter;
} atomic_t;
typedef struct {
	long counter;
} atomic_long_t;

struct list_head {
	struct list_head *next, *prev;
};

#endif /* _KSHIM_LINUX_TYPES_H */
