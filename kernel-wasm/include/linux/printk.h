/*
 * linux/printk.h (kshim): the kernel log goes to dmacheck_printk (the
 * machine's dmesg): pr_err at level 0, pr_warn 1, pr_info/pr_notice 2.
 * pr_debug prints nothing (no dynamic debug). Rate limits are not kept:
 * a _ratelimited message prints every time (it only changes the log).
 */
#ifndef _KSHIM_LINUX_PRINTK_H
#define _KSHIM_LINUX_PRINTK_H

#include <kshim/runtime.h>

#ifndef pr_fmt
#define pr_fmt(fmt) fmt
#endif

#define KERN_ERR ""
#define KERN_WARNING ""
#define KERN_INFO ""
#define KERN_DEBUG ""

#define printk(fmt, ...) kshim_printk(2, fmt, ##__VA_ARGS__)
#define pr_err(fmt, ...) kshim_printk(0, pr_fmt(fmt), ##__VA_ARGS__)
#define pr_warn(fmt, ...) kshim_printk(1, pr_fmt(fmt), ##__VA_ARGS__)
#define pr_notice(fmt, ...) kshim_printk(2, pr_fmt(fmt), ##__VA_ARGS__)
#define pr_info(fmt, ...) kshim_printk(2, pr_fmt(fmt), ##__VA_ARGS__)
#define pr_cont(fmt, ...) kshim_printk(2, fmt, ##__VA_ARGS__)
#define pr_debug(fmt, ...) do { if (0) kshim_printk(2, pr_fmt(fmt), ##__VA_ARGS__); } while (0)
#define __kshim_once(call) do { static bool __kp_done; if (!__kp_done) { __kp_done = true; call; } } while (0)
#define pr_err_once(fmt, ...) __kshim_once(pr_err(fmt, ##__VA_ARGS__))
#define pr_warn_once(fmt, ...) __kshim_once(pr_warn(fmt, ##__VA_ARGS__))
#define pr_info_once(fmt, ...) __kshim_once(pr_info(fmt, ##__VA_ARGS__))
#define pr_err_ratelimited(fmt, ...) pr_err(fmt, ##__VA_ARGS__)
#define pr_warn_ratelimited(fmt, ...) pr_warn(fmt, ##__VA_ARGS__)
#define pr_info_ratelimited(fmt, ...) pr_info(fmt, ##__VA_ARGS__)

#endif
