/**
 * no-stale-device-read: once a streaming buffer is the device's (map or
 * `dma_sync_*_for_device`), a device read returns every byte the CPU wrote
 * before the transfer, even when the line was still dirty in the CPU cache.
 * @see kernel/dma/direct.h dma_direct_sync_single_for_device, arch_sync_dma_for_device (Documentation/core-api/dma-api-howto.rst "Using Streaming DMA mappings")
 */
import { describeMismatch, firstMismatch } from '../src/conformance/oracle.ts';
import { type Property, requireCalls } from '../src/conformance/property.ts';

const property: Property = {
  name: 'no-stale-device-read',
  summary: 'after map or dma_sync_*_for_device the device sees every CPU write',
  checks: [
    {
      id: 'stale-read',
      level: 'contract',
      rules: ['R36', 'R31', 'R37'],
      summary: 'a device read of a streaming buffer the device owns returns every byte the CPU wrote before it handed the buffer over',
      judge(obs) {
        if (obs.kind !== 'device-read' || obs.objKind === 'coherent') return null;
        const m = firstMismatch(obs);
        return m === null ? null : `device read stale data from a buffer it owns ${describeMismatch(obs, m)}`;
      },
    },
  ],
  weights: {
    alloc: 0, free: 0, mmap: 0, munmap: 0, getSgtable: 0, userRead: 0, cpuWriteNeighbour: 1,
    kmalloc: 6, allocPages: 4, mapSingle: 6, mapPage: 5, mapSg: 2, unmapSingle: 3, unmapSg: 2,
    cpuWrite: 12, syncForDevice: 8, syncForCpu: 5, evict: 6, speculativeFill: 3, deviceRead: 12, deviceWrite: 3, cpuRead: 2,
  },
  paths: ['direct', 'bounced', 'highmem'],
  needs: (ctx) => requireCalls(ctx, ['mapSingle', 'unmapSingle']),
};

export default property;
