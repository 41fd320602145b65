/* linux/kernel.h (kshim): the grab bag, just what the DMA code uses. */
#ifndef _KSHIM_LINUX_KERNEL_H
#define _KSHIM_LINUX_KERNEL_H

#include <linux/types.h>
#include <linux/limits.h>
#include <linux/math.h>
#include <linux/log2.h>
#include <linux/bug.h>
#include <linux/printk.h>
#include <linux/string.h>
#include <linux/ctype.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define upper_32_bits(n) ((u32)(((u64)(n)) >> 32))
#define lower_32_bits(n) ((u32)(n))

unsigned long long memparse(const char *ptr, char **retptr);
unsigned long simple_strtoul(const char *cp, char **endp, unsigned int base);
unsigned long long simple_strtoull(const char *cp, char **endp, unsigned int base);

/* One CPU: no SMP in the simulated machine (kernel-wasm/README.md). */
#define num_possible_cpus() 1U
#define num_online_cpus() 1U
#define raw_smp_processor_id() 0
#define smp_processor_id() 0
#define cpu_relax() do { } while (0)

#endif
