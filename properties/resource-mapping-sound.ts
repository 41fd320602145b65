/**
 * resource-mapping-sound: `dma_map_resource` hands a DMA engine device MMIO
 * (a FIFO, a peer's BAR). The address it returns must lead to those
 * registers through the device's bus — never to a bounce buffer or to RAM —
 * so what the engine writes lands in the registers and what it reads comes
 * from them; and MMIO has no cache lines for the call to maintain.
 * @see kernel/dma/mapping.c dma_map_resource, kernel/dma/direct.h dma_direct_map_phys (Documentation/core-api/dma-api.rst dma_map_resource)
 */
import { type Property, requireCalls } from '../src/conformance/property.ts';
import { hex } from '../src/platform/types.ts';
import { resourceUsers } from '../src/conformance/model.ts';

const property: Property = {
  name: 'resource-mapping-sound',
  summary: 'dma_map_resource returns an address that leads the device to the MMIO registers, with no copy and no cache maintenance',
  checks: [
    {
      id: 'misdirected',
      level: 'contract',
      rules: ['R6'],
      summary: 'the DMA address of a resource mapping leads, through the device\'s windows and within its address lines and bus limit, to the MMIO it maps',
      judge(obs) {
        if (obs.kind !== 'resource' || !obs.ok || obs.misdirected === null) return null;
        return `dma_map_resource(${obs.resource} + ${hex(obs.phys)}) ${obs.misdirected} [ref=${obs.ref}] [dev=${obs.dev}] [size=${obs.sizeBytes}]`;
      },
    },
    {
      id: 'registers-missed',
      level: 'contract',
      rules: ['R6'],
      summary: 'what the device writes through a resource mapping lands in the registers, and what it reads comes from them (no bounce buffer in between)',
      judge(obs) {
        if (obs.kind !== 'resource-io' || obs.mismatch === null) return null;
        return `a device ${obs.access} through resource mapping ${obs.ref} missed the registers: ${obs.mismatch} [dev=${obs.dev}]`;
      },
    },
    {
      id: 'cache-maintenance',
      level: 'linux',
      rules: [],
      see: 'kernel/dma/direct.h dma_direct_map_phys (DMA_ATTR_MMIO skips arch_sync_dma_for_device)',
      summary: 'mapping a resource does no CPU cache maintenance: MMIO is never cached',
      latitude: 'maintenance on an uncached range changes no data; the documentation does not forbid it',
      judge(obs) {
        if (obs.kind !== 'resource' || obs.cacheOps === 0) return null;
        return `dma_map_resource made ${obs.cacheOps} cache maintenance operation(s) on MMIO [ref=${obs.ref}] [dev=${obs.dev}] [phys=${hex(obs.phys)}]`;
      },
    },
  ],
  weights: {
    mapResource: 10, unmapResource: 3, deviceWrite: 8, deviceRead: 6, setMask: 1,
    alloc: 0, free: 0, mmap: 0, munmap: 0, getSgtable: 0, kmalloc: 1, kfree: 1, allocPages: 1, freePages: 1, mapSingle: 1, mapPage: 1, mapSg: 0, unmapSingle: 1, unmapSg: 0,
    cpuWrite: 1, cpuRead: 1, cpuWriteNeighbour: 0, userRead: 0, speculativeFill: 0, evict: 0, allocNc: 0, freeNc: 0, queryAddressing: 0,
  },
  needs: (ctx) => {
    const calls = requireCalls(ctx, ['mapResource', 'unmapResource']);
    if (calls !== null) return calls;
    return [...resourceUsers(ctx.profile).values()].some((r) => r.users.length > 0) ? null : 'the profile has no MMIO a device can target';
  },
};

export default property;
