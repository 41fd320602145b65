/*
 * linux/init.h (kshim). Initcalls do not run by themselves: the glue boots
 * what it needs in the kernel's order. early_param() leaves a pointer to
 * its handler, `kshim_early_param_<handler>`, so the glue can hand it a
 * boot option string as the kernel's command-line parser would.
 */
#ifndef _KSHIM_LINUX_INIT_H
#define _KSHIM_LINUX_INIT_H

#include <kshim/compiler.h>

#define early_param(str, fn) int (*const kshim_early_param_##fn)(char *) __attribute__((used)) = fn
#define __setup(str, fn) early_param(str, fn)
#define __kshim_initcall(fn) int (*const kshim_initcall_##fn)(void) __attribute__((used)) = fn
#define core_initcall(fn) __kshim_initcall(fn)
#define postcore_initcall(fn) __kshim_initcall(fn)
#define arch_initcall(fn) __kshim_initcall(fn)
#define subsys_initcall(fn) __kshim_initcall(fn)
#define fs_initcall(fn) __kshim_initcall(fn)
#define device_initcall(fn) __kshim_initcall(fn)
#define late_initcall(fn) __kshim_initcall(fn)

#endif
