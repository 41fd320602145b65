/*
 * linux/workqueue.h (kshim). dmacheck's ABI has no workqueue, so the glue
 * keeps the one the DMA code uses (the atomic pools' growth) and runs
 * pending work, in process context, at the next point where the caller is
 * known to be allowed to sleep: the start of a dma_alloc_attrs with a
 * blocking gfp (kernel-wasm/README.md).
 */
#ifndef _KSHIM_LINUX_WORKQUEUE_H
#define _KSHIM_LINUX_WORKQUEUE_H
#include <linux/types.h>
struct work_struct;
typedef void (*work_func_t)(struct work_struct *work);
struct work_struct {
	work_func_t func;
	bool pending;
};
#define INIT_WORK(w, f) do { (w)->func = (f); (w)->pending = false; } while (0)
bool schedule_work(struct work_struct *work);
#endif
