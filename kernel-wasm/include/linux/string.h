/*
 * linux/string.h (kshim). memcpy/memset/memmove accept kernel virtual
 * addresses of the simulated machine (kshim/runtime.h) as well as the
 * module's own memory: a copy that touches a kernel address is done by the
 * simulated CPU (dmacheck_cpu_memcpy, cpu_read, cpu_write, cpu_memset), so
 * dmacheck's cache model sees every byte swiotlb_bounce() moves.
 * Implemented in kernel-wasm/glue.c.
 */
#ifndef _KSHIM_LINUX_STRING_H
#define _KSHIM_LINUX_STRING_H

#include <linux/types.h>

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);

#endif
