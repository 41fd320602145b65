/**
 * cookie-never-dereferenced: with `DMA_ATTR_NO_KERNEL_MAPPING` the value
 * `dma_alloc_attrs` returns is an opaque cookie (dma-direct: the `struct
 * page` pointer). The DMA layer must never read or write through it, in
 * `free`, `mmap` or `get_sgtable` alike; the platform faults on any such
 * access. That mmap and get_sgtable still show the buffer is judged by
 * mmap-shows-buffer and sgtable-describes-buffer, which this property's
 * test drives too.
 * @see kernel/dma/direct.c dma_direct_alloc_no_mapping (Documentation/core-api/dma-attributes.rst DMA_ATTR_NO_KERNEL_MAPPING)
 */
import { DMA_ATTR_NO_KERNEL_MAPPING } from '../src/linux/include/linux/dma-mapping.ts';
import { hex } from '../src/platform/types.ts';
import { type Property, requireCalls } from '../src/conformance/property.ts';

const property: Property = {
  name: 'cookie-never-dereferenced',
  summary: 'a NO_KERNEL_MAPPING cookie is never read or written through by the DMA layer',
  checks: [
    {
      id: 'cookie-dereferenced',
      level: 'contract',
      rules: ['R25'],
      summary: 'the DMA layer never reads or writes through the cookie it handed out for a NO_KERNEL_MAPPING buffer',
      judge(obs) {
        if (obs.kind !== 'oops' || obs.cookieOf === null) return null;
        return `the DMA layer dereferenced the NO_KERNEL_MAPPING cookie of ${obs.cookieOf} [fault_addr=${hex(obs.faultAddress ?? 0)}] [${obs.message}]`;
      },
    },
  ],
  weights: {
    kmalloc: 0, allocPages: 0, mapSingle: 0, mapPage: 0, mapSg: 0, cpuWriteNeighbour: 0, cpuWrite: 1, cpuRead: 1,
    alloc: 8, free: 6, mmap: 6, getSgtable: 6, userRead: 4, munmap: 3, deviceWrite: 4, deviceRead: 1, speculativeFill: 1, evict: 1,
  },
  generator: { allocAttrs: [['DMA_ATTR_NO_KERNEL_MAPPING'], ['DMA_ATTR_NO_KERNEL_MAPPING'], []] },
  paths: ['no-kernel-mapping'],
  runs: 60,
  needs: (ctx) =>
    requireCalls(ctx, ['allocAttrs', 'freeAttrs']) ??
    ((ctx.capabilities.attrs & DMA_ATTR_NO_KERNEL_MAPPING) === 0 ? 'backend does not declare DMA_ATTR_NO_KERNEL_MAPPING' : null),
};

export default property;
