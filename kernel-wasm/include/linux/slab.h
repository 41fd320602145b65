/*
 * linux/slab.h (kshim): kmalloc for the kernel's own bookkeeping lives in
 * the module's memory (a small heap in kernel-wasm/glue.c), not in the
 * simulated machine's RAM: nothing the DMA code kmallocs is ever seen by a
 * device (sg tables, dma_range_map arrays).
 */
#ifndef _KSHIM_LINUX_SLAB_H
#define _KSHIM_LINUX_SLAB_H
#include <linux/types.h>
#include <linux/gfp.h>
#include <linux/math.h>
static inline void *kmalloc(size_t size, gfp_t gfp) { return kshim_heap_alloc(size, !!(gfp & __GFP_ZERO)); }
static inline void *kzalloc(size_t size, gfp_t gfp) { (void)gfp; return kshim_heap_alloc(size, 1); }
static inline void *kcalloc(size_t n, size_t size, gfp_t gfp) { (void)gfp; return kshim_heap_alloc(array_size(n, size), 1); }
static inline void *kmalloc_array(size_t n, size_t size, gfp_t gfp) { return kmalloc(array_size(n, size), gfp); }
static inline void kfree(const void *p) { kshim_heap_free((void *)p); }
static inline void *kmalloc_node(size_t size, gfp_t gfp, int node) { (void)node; return kmalloc(size, gfp); }
/* Pool names are string literals here: nothing to copy or free. */
static inline const char *kstrdup_const(const char *s, gfp_t gfp) { (void)gfp; return s; }
static inline void kfree_const(const void *p) { (void)p; }
#endif
