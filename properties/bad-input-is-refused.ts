/**
 * bad-input-is-refused: an invalid call (zero size, `__GFP_COMP`, `DMA_NONE`,
 * a vmalloc address to `dma_map_single`, `DMA_ATTR_MMIO` on `map_page`, an
 * unknown handle, another size than was mapped or allocated, a sync past the
 * end, an mmap larger than the buffer, no sg entries) gets the kernel's
 * failure value and changes nothing: no page, object, cache line or
 * write-combine store moves.
 * @see kernel/dma/mapping.c dma_map_phys, dma_alloc_attrs (kernel-dma.md §2.0, §2.11)
 */
import { type Property, requireCalls, violation } from '../src/conformance/property.ts';

const property: Property = {
  name: 'bad-input-is-refused',
  summary: 'invalid sizes, directions, handles and attrs give the documented error, with nothing changed',
  rules: ['R28', 'R33', 'R40', 'R41', 'R22'],
  weights: {
    cpuWriteNeighbour: 0, userRead: 0,
    badCall: 12, alloc: 3, kmalloc: 3, allocPages: 2, mapSingle: 3, mapPage: 2, mmap: 1, cpuWrite: 3, deviceWrite: 1, speculativeFill: 2,
  },
  needs: (ctx) => requireCalls(ctx, ['allocAttrs', 'freeAttrs', 'mapSingle', 'mapPage', 'unmapSingle', 'syncSingleForDevice', 'mapSg', 'mmapAttrs', 'getSgtableAttrs', 'mappingError']),
  check(obs) {
    if (obs.kind !== 'refusal') return null;
    if (obs.got !== obs.expected) return violation(property, obs, `invalid call ${obs.call} was not refused [expected=${obs.expected}] [got=${obs.got}]`);
    if (obs.changed !== null) return violation(property, obs, `refused call ${obs.call} changed state: ${obs.changed}`);
    return null;
  },
};

export default property;
