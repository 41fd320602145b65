/* linux/of_device.h (kshim): no device tree on x86 (CONFIG_OF off). */
#ifndef _KSHIM_LINUX_OF_DEVICE_H
#define _KSHIM_LINUX_OF_DEVICE_H
#include <linux/device.h>
struct device_node;
#endif
