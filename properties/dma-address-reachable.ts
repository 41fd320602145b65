/**
 * dma-address-reachable: every DMA address the layer hands out (a coherent
 * handle, a mapping, each mapped sg segment) fits the device's mask, its
 * `bus_dma_limit` and its `dma-ranges` windows, over the whole length, and
 * the device's own accesses through it never fault.
 * @see include/linux/dma-direct.h dma_capable (kernel-dma.md §2.2)
 */
import { hex } from '../src/platform/types.ts';
import { type Property, requireCalls, violation } from '../src/conformance/property.ts';

const property: Property = {
  name: 'dma-address-reachable',
  summary: 'every DMA address handed to a device fits its mask, bus limit and ranges',
  rules: ['R16', 'R13'],
  weights: {
    cpuWriteNeighbour: 0, userRead: 0, mmap: 0, getSgtable: 0,
    alloc: 6, kmalloc: 6, allocPages: 6, mapSingle: 8, mapPage: 8, mapSg: 6, unmapSingle: 4, unmapSg: 3, deviceWrite: 6, deviceRead: 6,
    syncForCpu: 2, syncForDevice: 2, cpuWrite: 2, cpuRead: 2,
  },
  needs: (ctx) => requireCalls(ctx, ['allocAttrs', 'mapSingle', 'mapPage', 'mapSg']),
  check(obs) {
    if (obs.kind !== 'dma-address' || obs.problem === null) return null;
    return violation(property, obs, `DMA address unreachable by ${obs.dev}: ${obs.problem} [ref=${obs.ref}] [dma=${hex(obs.dma)}] [size=${obs.sizeBytes}] [mask_bits=${obs.maskBits}]`);
  },
};

export default property;
