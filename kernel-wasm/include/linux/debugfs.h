/* linux/debugfs.h (kshim): no debugfs (CONFIG_DEBUG_FS off in this build). */
#ifndef _KSHIM_LINUX_DEBUGFS_H
#define _KSHIM_LINUX_DEBUGFS_H
#include <linux/types.h>
struct dentry;
#define DEFINE_DEBUGFS_ATTRIBUTE(fops, get, set, fmt) \
	static __attribute__((unused)) int (*const fops)(void *, u64 *) = get
static inline struct dentry *debugfs_create_dir(const char *name, struct dentry *parent) { (void)name, (void)parent; return NULL; }
static inline void debugfs_create_ulong(const char *name, unsigned short mode, struct dentry *parent, unsigned long *value) { (void)name, (void)mode, (void)parent, (void)value; }
#define debugfs_create_file(name, mode, parent, data, fops) ((void)(fops), (struct dentry *)NULL)
#endif
