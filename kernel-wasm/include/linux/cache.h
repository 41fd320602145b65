/* linux/cache.h (kshim): x86-64 cache geometry (64-byte lines, no ARCH_DMA_MINALIGN). */
#ifndef _KSHIM_LINUX_CACHE_H
#define _KSHIM_LINUX_CACHE_H

#define L1_CACHE_SHIFT 6
#define L1_CACHE_BYTES (1 << L1_CACHE_SHIFT)
#define SMP_CACHE_BYTES L1_CACHE_BYTES
#define ____cacheline_aligned __attribute__((aligned(SMP_CACHE_BYTES)))
#define ____cacheline_aligned_in_smp ____cacheline_aligned

#endif
