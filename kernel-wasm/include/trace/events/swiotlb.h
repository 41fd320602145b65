/* trace/events/swiotlb.h (kshim): no tracepoints. */
#ifndef _KSHIM_TRACE_SWIOTLB_H
#define _KSHIM_TRACE_SWIOTLB_H
#define trace_swiotlb_bounced(dev, dev_addr, size) ((void)(dev), (void)(dev_addr), (void)(size))
#endif
