/**
 * dma-address-reachable: every DMA address the layer hands out (a coherent
 * handle, a mapping, each mapped sg segment) fits the device's mask, its
 * `bus_dma_limit` and its `dma-ranges` windows over the whole length, leads
 * to RAM, stays inside the device's restricted-dma-pool when it has one, and
 * the device's own accesses through it never fault.
 * @see include/linux/dma-direct.h dma_capable; kernel/dma/swiotlb.c rmem_swiotlb_device_init (Documentation/core-api/dma-api.rst "dma_set_mask")
 */
import { hex } from '../src/platform/types.ts';
import type { Property } from '../src/conformance/property.ts';

const property: Property = {
  name: 'dma-address-reachable',
  summary: 'every DMA address handed to a device fits its mask, bus limit, ranges and restricted pool',
  checks: [
    {
      id: 'unreachable',
      level: 'contract',
      rules: ['R16', 'R13'],
      summary: 'a handed-out DMA range lies within the device\'s mask and bus limit, inside a dma-ranges window, over RAM',
      judge(obs) {
        if (obs.kind !== 'dma-address' || obs.unreachable === null) return null;
        return `DMA address unreachable by ${obs.dev}: ${obs.unreachable} [ref=${obs.ref}] [dma=${hex(obs.dma)}] [size=${obs.sizeBytes}] [mask_bits=${obs.maskBits}]`;
      },
    },
    {
      id: 'device-access-faults',
      level: 'contract',
      rules: ['R16'],
      summary: 'a device access through a handed-out address reaches memory',
      judge(obs) {
        if (obs.kind !== 'device-fault' || obs.faultKind !== 'unreachable') return null;
        return `a device access through ${obs.ref} faulted [dev=${obs.dev}] [dma=${hex(obs.dma)}] [len=${obs.sizeBytes}] [reason=${obs.reason}]`;
      },
    },
    {
      id: 'restricted-pool-escape',
      level: 'contract',
      rules: [],
      see: 'kernel/dma/swiotlb.c rmem_swiotlb_device_init; Documentation/devicetree/bindings/reserved-memory/shared-dma-pool.yaml restricted-dma-pool',
      summary: 'the data of a device confined to a restricted-dma-pool (its mappings and its coherent buffers) lies in that pool',
      judge(obs) {
        if (obs.kind === 'dma-address' && obs.outsidePool !== null) return `a DMA address of restricted device ${obs.dev} leads outside its pool [ref=${obs.ref}] [dma=${hex(obs.dma)}] ${obs.outsidePool}`;
        if (obs.kind === 'device-fault' && obs.faultKind === 'restricted-pool') return `restricted device ${obs.dev} reached outside its pool through ${obs.ref} [dma=${hex(obs.dma)}] [reason=${obs.reason}]`;
        return null;
      },
    },
  ],
  weights: {
    cpuWriteNeighbour: 0, userRead: 0, mmap: 0, getSgtable: 0,
    alloc: 6, kmalloc: 6, allocPages: 6, mapSingle: 8, mapPage: 8, mapSg: 6, unmapSingle: 4, unmapSg: 3, deviceWrite: 6, deviceRead: 6,
    syncForCpu: 2, syncForDevice: 2, cpuWrite: 2, cpuRead: 2,
  },
  paths: ['direct', 'bounced'],
  needs: (ctx) => (['allocAttrs', 'mapSingle', 'mapPage', 'mapSg'] as const).some((c) => ctx.capabilities.calls.includes(c)) ? null : 'backend declares no call that hands out a DMA address',
};

export default property;
