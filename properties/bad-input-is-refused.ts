/**
 * bad-input-is-refused: an invalid call gets the failure value and changes
 * nothing: no page, object, cache line or write-combine store moves. The
 * kernel itself refuses some (`__GFP_COMP`, `DMA_ATTR_MMIO` on
 * `dma_map_page_attrs`, a vmalloc address to `dma_map_single`, zero sg
 * entries): those are `linux` checks. The rest the kernel does not check
 * (a zero size, `DMA_NONE`, which is a `BUG()`, an unknown handle, another
 * size than was mapped or allocated, a sync past the end, an mmap larger
 * than the buffer): refusing them is the reference's hardening, held only
 * against backends that claim it. The DMA API contract says nothing of any
 * of them, so a backend claiming `contract` alone is never fed one.
 * @see kernel/dma/mapping.c dma_alloc_attrs, dma_map_page_attrs, __dma_map_sg_attrs; include/linux/dma-mapping.h dma_map_single_attrs
 */
import type { Observation } from '../src/conformance/oracle.ts';
import { type Check, type Property, requireCalls } from '../src/conformance/property.ts';
import { BAD_CALL_LEVEL } from '../src/conformance/steps.ts';

function refusal(level: 'linux' | 'hardening'): Check['judge'] {
  return (obs: Observation) => {
    if (obs.kind !== 'refusal' || BAD_CALL_LEVEL[obs.call] !== level) return null;
    if (obs.got !== obs.expected) return `invalid call ${obs.call} was not refused [expected=${obs.expected}] [got=${obs.got}]`;
    if (obs.changed !== null) return `refused call ${obs.call} changed state: ${obs.changed}`;
    return null;
  };
}

const property: Property = {
  name: 'bad-input-is-refused',
  summary: 'invalid sizes, directions, handles and attrs give the failure value, with nothing changed',
  checks: [
    {
      id: 'kernel-refusal',
      level: 'linux',
      rules: ['R24', 'R3', 'R7'],
      see: 'kernel/dma/mapping.c dma_alloc_attrs (__GFP_COMP), dma_map_page_attrs (DMA_ATTR_MMIO), __dma_map_sg_attrs; include/linux/dma-mapping.h dma_map_single_attrs (vmalloc)',
      summary: 'a call the kernel itself refuses returns its failure value and changes nothing',
      judge: refusal('linux'),
    },
    {
      id: 'hardening-refusal',
      level: 'hardening',
      rules: ['R28', 'R40', 'R41', 'R22'],
      summary: 'a call the kernel trusts (zero size, DMA_NONE, unknown handle, other size, sync past the end, oversized mmap) is refused with the failure value and changes nothing',
      latitude: 'the kernel has none of these refusals: only a backend that claims hardening is held to them',
      judge: refusal('hardening'),
    },
  ],
  weights: {
    cpuWriteNeighbour: 0, userRead: 0,
    badCall: 12, alloc: 3, kmalloc: 3, allocPages: 2, mapSingle: 3, mapPage: 2, mmap: 1, cpuWrite: 3, deviceWrite: 1, speculativeFill: 2,
  },
  runs: 60,
  needs: (ctx) => requireCalls(ctx, ['allocAttrs', 'freeAttrs', 'mapSingle', 'mapPage', 'unmapSingle', 'syncSingleForDevice', 'mapSg', 'mmapAttrs', 'getSgtableAttrs']),
};

export default property;
