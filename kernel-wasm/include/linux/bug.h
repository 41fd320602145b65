/*
 * linux/bug.h (kshim): BUG traps (an oops at the dmacheck step that made
 * the call), WARN logs "WARNING: at file:line" and goes on, as the kernel
 * does without panic_on_warn.
 */
#ifndef _KSHIM_LINUX_BUG_H
#define _KSHIM_LINUX_BUG_H

#include <kshim/runtime.h>
#include <kshim/compiler.h>

#define BUG() kshim_bug(__FILE__, __LINE__)
#define BUG_ON(cond) do { if (unlikely(cond)) BUG(); } while (0)

#define WARN_ON(cond) ({ int __kw_c = !!(cond); if (unlikely(__kw_c)) kshim_warn(__FILE__, __LINE__); unlikely(__kw_c); })
#define WARN(cond, fmt, ...) ({ int __kw_c = !!(cond); \
	if (unlikely(__kw_c)) { kshim_printk(1, fmt, ##__VA_ARGS__); kshim_warn(__FILE__, __LINE__); } unlikely(__kw_c); })
#define WARN_ON_ONCE(cond) ({ static bool __kw_done; int __kw_c = !!(cond); \
	if (unlikely(__kw_c) && !__kw_done) { __kw_done = true; kshim_warn(__FILE__, __LINE__); } unlikely(__kw_c); })
#define WARN_ONCE(cond, fmt, ...) ({ static bool __kw_done; int __kw_c = !!(cond); \
	if (unlikely(__kw_c) && !__kw_done) { __kw_done = true; kshim_printk(1, fmt, ##__VA_ARGS__); kshim_warn(__FILE__, __LINE__); } \
	unlikely(__kw_c); })

#define BUILD_BUG_ON(cond) _Static_assert(!(cond), "BUILD_BUG_ON(" #cond ")")

#endif
