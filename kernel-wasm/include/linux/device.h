/*
 * linux/device.h (kshim): the DMA fields of struct device, nothing else.
 * The glue fills one per dmacheck device index at dma_attach, as
 * device_initialize() + pci_setup_device() + pci_dma_configure() would on
 * x86: 32-bit masks, dma_parms from the device's facts, the bus limit, the
 * dma-ranges map, and the default swiotlb.
 */
#ifndef _KSHIM_LINUX_DEVICE_H
#define _KSHIM_LINUX_DEVICE_H

#include <linux/types.h>
#include <linux/printk.h>
#include <linux/bug.h>

struct bus_type;
struct bus_dma_region;
struct io_tlb_mem;
struct dma_map_ops;
struct cma;
struct dma_coherent_mem;
struct iommu_ops;

struct device_dma_parameters {
	unsigned int max_segment_size;
	unsigned int min_align_mask;
	unsigned long segment_boundary_mask;
};

struct device {
	const char *init_name;
	struct bus_type *bus;
	u64 *dma_mask;
	u64 coherent_dma_mask;
	u64 bus_dma_limit;
	const struct bus_dma_region *dma_range_map;
	struct device_dma_parameters *dma_parms;
	struct io_tlb_mem *dma_io_tlb_mem;
	const struct dma_map_ops *dma_ops;
	bool dma_coherent;
	int numa_node;
};

#define NUMA_NO_NODE (-1)
static inline int dev_to_node(struct device *dev) { return dev->numa_node; }
static inline const char *dev_name(const struct device *dev) { return dev->init_name; }

#define dev_err(dev, fmt, ...) kshim_dev_printk(0, dev, fmt, ##__VA_ARGS__)
#define dev_warn(dev, fmt, ...) kshim_dev_printk(1, dev, fmt, ##__VA_ARGS__)
#define dev_info(dev, fmt, ...) kshim_dev_printk(2, dev, fmt, ##__VA_ARGS__)
#define dev_dbg(dev, fmt, ...) do { if (0) kshim_dev_printk(2, dev, fmt, ##__VA_ARGS__); } while (0)
#define __kshim_dev_once(call) do { static bool __kd_done; if (!__kd_done) { __kd_done = true; call; } } while (0)
#define dev_err_once(dev, fmt, ...) __kshim_dev_once(dev_err(dev, fmt, ##__VA_ARGS__))
#define dev_warn_once(dev, fmt, ...) __kshim_dev_once(dev_warn(dev, fmt, ##__VA_ARGS__))
#define dev_err_ratelimited(dev, fmt, ...) dev_err(dev, fmt, ##__VA_ARGS__)
#define dev_warn_ratelimited(dev, fmt, ...) dev_warn(dev, fmt, ##__VA_ARGS__)
#define dev_WARN_ONCE(dev, cond, fmt, ...) ({ static bool __kd_done; int __kd_c = !!(cond); \
	if (unlikely(__kd_c) && !__kd_done) { __kd_done = true; kshim_dev_printk(1, dev, fmt, ##__VA_ARGS__); kshim_warn(__FILE__, __LINE__); } \
	unlikely(__kd_c); })

#endif
