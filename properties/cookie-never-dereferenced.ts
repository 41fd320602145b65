/**
 * cookie-never-dereferenced: with `DMA_ATTR_NO_KERNEL_MAPPING` the value
 * `dma_alloc_attrs` returns is an opaque cookie (dma-direct: the `struct
 * page` pointer). The DMA layer must never read or write through it, in
 * `free`, `mmap` or `get_sgtable` alike; the platform faults on any such
 * access. That mmap and get_sgtable still show the buffer is judged by
 * mmap-shows-buffer and sgtable-describes-buffer, which this property's
 * test drives too.
 * @see kernel/dma/direct.c dma_direct_alloc_no_mapping (kernel-dma.md §1.8)
 */
import { hex } from '../src/platform/types.ts';
import { type Property, requireCalls, violation } from '../src/conformance/property.ts';

const property: Property = {
  name: 'cookie-never-dereferenced',
  summary: 'a NO_KERNEL_MAPPING cookie is never read or written through by the DMA layer',
  rules: ['R25'],
  weights: {
    kmalloc: 0, allocPages: 0, mapSingle: 0, mapPage: 0, mapSg: 0, cpuWriteNeighbour: 0, cpuWrite: 1, cpuRead: 1,
    alloc: 8, free: 6, mmap: 6, getSgtable: 6, userRead: 4, munmap: 3, deviceWrite: 4, deviceRead: 1, speculativeFill: 1, evict: 1,
  },
  generator: { allocAttrs: [['DMA_ATTR_NO_KERNEL_MAPPING'], ['DMA_ATTR_NO_KERNEL_MAPPING'], []] },
  needs: (ctx) => requireCalls(ctx, ['allocAttrs', 'freeAttrs']),
  check(obs) {
    if (obs.kind !== 'oops' || obs.cookieOf === null) return null;
    return violation(property, obs, `the DMA layer dereferenced the NO_KERNEL_MAPPING cookie of ${obs.cookieOf} [fault_addr=${hex(obs.faultAddress ?? 0)}] [${obs.message}]`);
  },
};

export default property;
