/*
 * kshim/compiler.h - compiler glue the kernel sources expect (attributes,
 * branch hints, IS_ENABLED), written for dmacheck's wasm build.
 */
#ifndef KSHIM_COMPILER_H
#define KSHIM_COMPILER_H

/* IS_ENABLED(CONFIG_FOO): 1 when CONFIG_FOO is defined to 1, else 0. */
#define __kshim_one_if_1 0,
#define __kshim_second(a, b, ...) b
#define __kshim_probe(junk_or_zero) __kshim_second(junk_or_zero 1, 0, 0)
#define __kshim_paste(v) __kshim_probe(__kshim_one_if_##v)
#define __kshim_defined(v) __kshim_paste(v)
#define IS_ENABLED(option) __kshim_defined(option)
#define IS_BUILTIN(option) __kshim_defined(option)
#define IS_REACHABLE(option) __kshim_defined(option)

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define __init
#define __initdata
#define __initconst
#define __exit
#define __ro_after_init
#define __read_mostly
#define __iomem
#define __user
#define __force
#define __rcu
#define __percpu
#define __must_check __attribute__((warn_unused_result))
#define __maybe_unused __attribute__((unused))
#define __always_unused __attribute__((unused))
#define __always_inline inline __attribute__((always_inline))
#define noinline __attribute__((noinline))
#define __noreturn __attribute__((noreturn))
#define __printf(a, b) __attribute__((format(printf, a, b)))
#define __aligned(x) __attribute__((aligned(x)))
#define __packed __attribute__((packed))
#define __cold __attribute__((cold))
#define fallthrough __attribute__((fallthrough))
#define barrier() __asm__ __volatile__("" ::: "memory")

#define typeof(x) __typeof__(x)
#define offsetof(t, m) __builtin_offsetof(t, m)
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

#define READ_ONCE(x) (*(const volatile typeof(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile typeof(x) *)&(x) = (v))

/* No module loader: exports are plain global symbols. */
#define EXPORT_SYMBOL(sym) extern int __kshim_exported
#define EXPORT_SYMBOL_GPL(sym) extern int __kshim_exported

#endif /* KSHIM_COMPILER_H */
