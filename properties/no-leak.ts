/**
 * no-leak: after a driver has unmapped and freed everything, every
 * allocator is back where it started (free pages per zone, slab objects,
 * vmap areas, kmap slots), and no free along the way handed back something
 * it did not own.
 * @see kernel/dma/direct.c dma_direct_free, mm/page_alloc.c free_pages (kernel-dma.md §1.11)
 */
import { type Property, requireCalls, violation } from '../src/conformance/property.ts';

const property: Property = {
  name: 'no-leak',
  summary: 'after everything is freed, every allocator is back to where it started',
  rules: ['R39', 'R22', 'R23'],
  weights: {
    cpuWriteNeighbour: 1, cpuRead: 2, cpuWrite: 2, deviceRead: 2, deviceWrite: 2, speculativeFill: 1, evict: 1,
    alloc: 8, free: 6, kmalloc: 4, allocPages: 4, mapSingle: 6, mapPage: 6, mapSg: 4, unmapSingle: 6, unmapSg: 4, mmap: 2, munmap: 2, getSgtable: 2, setContext: 1,
  },
  needs: (ctx) => requireCalls(ctx, ['allocAttrs', 'freeAttrs', 'mapSingle', 'unmapSingle']),
  check(obs) {
    if (obs.kind === 'leak' && obs.differences.length > 0) return violation(property, obs, `accounting differs after everything was freed ${obs.differences.join(' ')}`);
    if (obs.kind === 'platform-violation' && obs.violation.kind !== 'sleep-in-atomic') return violation(property, obs, `a free handed back what it did not own: ${obs.violation.message}`);
    return null;
  },
};

export default property;
