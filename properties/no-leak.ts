/**
 * no-leak: after a driver has unmapped and freed everything, every
 * allocator is back where it started (free pages per zone, slab objects,
 * vmap areas, kmap slots, CMA bitmaps, pool fill, an IOMMU domain's IOVA
 * space), and no free along the way
 * handed back something it did not own.
 * @see kernel/dma/direct.c dma_direct_free, mm/page_alloc.c free_pages (Documentation/core-api/dma-api-howto.rst "Using Streaming DMA mappings")
 */
import { type Property, requireCalls } from '../src/conformance/property.ts';

/** Platform violations other properties own. */
const OWNED_ELSEWHERE = new Set(['sleep-in-atomic', 'shared-page-freed', 'free-with-irqs-disabled']);

const property: Property = {
  name: 'no-leak',
  summary: 'after everything is freed, every allocator is back to where it started',
  checks: [
    {
      id: 'accounting-differs',
      level: 'contract',
      rules: ['R39', 'R22', 'R23'],
      summary: 'once every mapping and buffer is gone, the substrate\'s accounting equals its start',
      latitude: 'memory a pool keeps for good (atomic-pool growth) counts as free',
      judge(obs) {
        if (obs.kind !== 'leak' || obs.differences.length === 0) return null;
        return `accounting differs after everything was freed ${obs.differences.join(' ')}`;
      },
    },
    {
      id: 'iova-space-leaked',
      level: 'contract',
      rules: ['R39'],
      see: 'drivers/iommu/dma-iommu.c __iommu_dma_unmap, iommu_dma_free_iova',
      summary: 'once every mapping and buffer is gone, the IOVA space of each IOMMU device is back where it started (what a flush queue still holds excepted)',
      latitude: 'ranges kept in the IOVA range caches or waiting in a flush queue are free',
      needs: (ctx) => requireCalls(ctx, ['iovaState']),
      judge(obs) {
        if (obs.kind !== 'iova-state' || obs.endBytes === obs.startBytes) return null;
        return `the IOVA space of ${obs.dev} is not back where it started after everything was unmapped [start_bytes=${obs.startBytes}] [end_bytes=${obs.endBytes ?? 'null'}]`;
      },
    },
    {
      id: 'bad-free',
      level: 'contract',
      rules: ['R22'],
      summary: 'the DMA layer never frees pages, objects or areas it does not own',
      judge(obs) {
        if (obs.kind !== 'platform-violation' || OWNED_ELSEWHERE.has(obs.violation.kind)) return null;
        return `a free handed back what it did not own: ${obs.violation.message}`;
      },
    },
  ],
  weights: {
    cpuWriteNeighbour: 1, cpuRead: 2, cpuWrite: 2, deviceRead: 2, deviceWrite: 2, speculativeFill: 1, evict: 1,
    alloc: 8, free: 6, kmalloc: 4, allocPages: 4, mapSingle: 6, mapPage: 6, mapSg: 4, unmapSingle: 6, unmapSg: 4, mmap: 2, munmap: 2, getSgtable: 2, setContext: 1,
  },
  needs: (ctx) => (['allocAttrs', 'mapSingle', 'mapPage', 'mapSg'] as const).some((c) => ctx.capabilities.calls.includes(c)) ? null : requireCalls(ctx, ['allocAttrs']),
};

export default property;
