/**
 * no-stale-cpu-read: once a streaming buffer is back with the CPU
 * (`dma_sync_*_for_cpu` or unmap), a CPU read returns every byte the device
 * wrote and every byte the CPU wrote before, never a stale cache line; and a
 * CPU write to a kmalloc neighbour sharing a cache line is never lost.
 * @see kernel/dma/direct.h dma_direct_sync_single_for_cpu, arch_sync_dma_for_cpu (kernel-dma.md §2.5, §2.8)
 */
import { describeMismatch, firstMismatch } from '../src/conformance/oracle.ts';
import { type Property, requireCalls, violation } from '../src/conformance/property.ts';

const property: Property = {
  name: 'no-stale-cpu-read',
  summary: 'after dma_sync_*_for_cpu or unmap the CPU sees every device write, and CPU writes next to a DMA buffer are not lost',
  rules: ['R35', 'R31', 'R11'],
  weights: {
    alloc: 0, free: 0, mmap: 0, munmap: 0, getSgtable: 0, userRead: 0,
    kmalloc: 6, allocPages: 4, mapSingle: 6, mapPage: 5, mapSg: 2, unmapSingle: 4, unmapSg: 2,
    deviceWrite: 12, syncForCpu: 8, syncForDevice: 3, speculativeFill: 10, cpuRead: 12, cpuWrite: 4, cpuWriteNeighbour: 3, deviceRead: 1,
  },
  needs: (ctx) => requireCalls(ctx, ['mapSingle', 'unmapSingle', 'syncSingleForCpu', 'syncSingleForDevice']),
  check(obs) {
    if ((obs.kind !== 'cpu-read' || obs.objKind === 'coherent') && obs.kind !== 'neighbour-read') return null;
    const m = firstMismatch(obs);
    if (m === null) return null;
    const what = obs.kind === 'neighbour-read' ? 'a CPU write to a kmalloc neighbour sharing a cache line was lost' : 'CPU read stale data from a buffer it owns';
    return violation(property, obs, `${what} ${describeMismatch(obs, m)}`);
  },
};

export default property;
