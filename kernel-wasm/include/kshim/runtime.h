/*
 * kshim/runtime.h - the services the shim headers are built on, implemented
 * in kernel-wasm/glue.c ("shim runtime").
 *
 * Pointers. wasm32 pointers are 32 bits, x86-64 kernel virtual addresses 48.
 * The shim gives the kernel code three kinds of pointer values:
 *
 *   below KSHIM_PAGE_PTR_BASE   the module's own memory (kernel data
 *                               structures: io_tlb_mem, slots, areas,
 *                               devices, scatterlists)
 *   KSHIM_PAGE_PTR_BASE..       struct page *: pfn_to_page(pfn) is
 *                               KSHIM_PAGE_PTR_BASE + pfn * 4, never
 *                               dereferenced (a load traps: out of bounds)
 *   KSHIM_KVA_PTR_BASE..        kernel virtual addresses of the simulated
 *                               machine, through a table of 64 windows of
 *                               32 MiB (16 MiB-aligned bases, so alignment
 *                               and page offsets survive, and any object of
 *                               up to 16 MiB that starts in a window's first
 *                               half lies inside it). A load or store through
 *                               one traps; memcpy/memset/... recognise them
 *                               and go through the simulated CPU.
 */
#ifndef KSHIM_RUNTIME_H
#define KSHIM_RUNTIME_H

#include <kshim/abi.h>

#define KSHIM_PAGE_PTR_BASE 0x40000000u
#define KSHIM_KVA_PTR_BASE 0x80000000u

/* The x86-64 profile's virtual layout (src/platform/profiles.ts X86_64.va). */
#define KSHIM_PAGE_OFFSET 0x0000800000000000ULL
#define KSHIM_VMALLOC_START 0x0000c00000000000ULL
#define KSHIM_VMALLOC_END (KSHIM_VMALLOC_START + (1ULL << 40))

struct page;

/* kernel virtual address <-> the pointer the kernel code holds */
void *kshim_ptr(u64 kva);
u64 kshim_kva(const volatile void *p);
static inline int kshim_is_kva(const volatile void *p)
{
	return (unsigned long)p >= KSHIM_KVA_PTR_BASE;
}
static inline int kshim_is_page_ptr(const volatile void *p)
{
	return (unsigned long)p >= KSHIM_PAGE_PTR_BASE && (unsigned long)p < KSHIM_KVA_PTR_BASE;
}

struct page *kshim_pfn_to_page(u64 pfn);
u64 kshim_page_to_pfn(const struct page *page);

/* the module's own heap (memblock metadata, kmalloc) */
void *kshim_heap_alloc(unsigned long size, int zero);
void kshim_heap_free(void *p);

/* pages of the simulated machine */
struct page *kshim_alloc_pages(unsigned int gfp, unsigned int order);
void kshim_free_pages(struct page *page, unsigned int order);

/* the kernel log, BUG and WARN */
void kshim_printk(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kshim_dev_printk(int level, const void *dev, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void kshim_bug(const char *file, int line) __attribute__((noreturn));
void kshim_warn(const char *file, int line);
void kshim_unreachable(const char *what) __attribute__((noreturn));

#endif /* KSHIM_RUNTIME_H */
