/**
 * no-stale-cpu-read: once a streaming buffer is back with the CPU
 * (`dma_sync_*_for_cpu` or unmap), a CPU read returns every byte the device
 * wrote and every byte the CPU wrote before, never a stale cache line; and a
 * CPU write to a kmalloc neighbour sharing a cache line is never lost.
 * @see kernel/dma/direct.h dma_direct_sync_single_for_cpu, arch_sync_dma_for_cpu (Documentation/core-api/dma-api-howto.rst "Using Streaming DMA mappings")
 */
import { describeMismatch, firstMismatch } from '../src/conformance/oracle.ts';
import { hex } from '../src/platform/types.ts';
import { type Property, requireCalls } from '../src/conformance/property.ts';

const property: Property = {
  name: 'no-stale-cpu-read',
  summary: 'after dma_sync_*_for_cpu or unmap the CPU sees every device write, and CPU writes next to a DMA buffer are not lost',
  checks: [
    {
      id: 'stale-read',
      level: 'contract',
      rules: ['R35', 'R31'],
      summary: 'a CPU read of a streaming buffer the CPU owns returns what the device and the CPU last wrote there',
      latitude: 'bytes a DMA_FROM_DEVICE mapping was allowed to discard (ARM32 and arm64 before 2022 invalidate at map) and the device did not write are not compared',
      judge(obs) {
        if (obs.kind !== 'cpu-read' || obs.objKind === 'coherent') return null;
        const m = firstMismatch(obs);
        return m === null ? null : `CPU read stale data from a buffer it owns ${describeMismatch(obs, m)}`;
      },
    },
    {
      id: 'neighbour-write-lost',
      level: 'contract',
      rules: ['R11', 'R10'],
      summary: 'a CPU write to a kmalloc object sharing a cache line with a DMA buffer is never lost to the buffer\'s cache maintenance',
      judge(obs) {
        if (obs.kind !== 'neighbour-read') return null;
        const m = firstMismatch(obs);
        return m === null ? null : `a CPU write to a kmalloc neighbour sharing a cache line was lost ${describeMismatch(obs, m)}`;
      },
    },
    {
      id: 'kmalloc-line-shared-in-place',
      level: 'contract',
      rules: ['R11', 'R10'],
      summary: 'a kmalloc buffer mapped in place for a non-coherent device that may write it never shares a cache line with another slab object (the DMA layer bounces it, or kmalloc aligns it)',
      latitude: 'TO_DEVICE mappings, coherent devices, and lines inside the object\'s own slab slot are not judged',
      judge(obs) {
        if (obs.kind !== 'kmalloc-in-place' || obs.coherent || obs.dir === 'DMA_TO_DEVICE') return null;
        const L = obs.lineBytes;
        const lo = Math.floor(obs.phys / L) * L;
        const hi = Math.ceil((obs.phys + obs.sizeBytes) / L) * L;
        if (lo >= obs.slotPhys && hi <= obs.slotPhys + obs.slotBytes) return null;
        return `a kmalloc buffer was mapped in place for a non-coherent device while its cache lines reach beyond its slab slot: CPU writes to the neighbouring object and the device's writes can destroy each other [ref=${obs.ref}] [obj=${obs.obj}] [dev=${obs.dev}] [dir=${obs.dir}] [phys=${hex(obs.phys)}] [size=${obs.sizeBytes}] [slot=${hex(obs.slotPhys)}+${obs.slotBytes}] [lines=${hex(lo)}-${hex(hi)}]`;
      },
    },
  ],
  weights: {
    alloc: 0, free: 0, mmap: 0, munmap: 0, getSgtable: 0, userRead: 0,
    kmalloc: 6, allocPages: 4, mapSingle: 6, mapPage: 5, mapSg: 2, unmapSingle: 4, unmapSg: 2,
    deviceWrite: 12, syncForCpu: 8, syncForDevice: 3, speculativeFill: 10, cpuRead: 12, cpuWrite: 4, cpuWriteNeighbour: 8, deviceRead: 1,
  },
  paths: ['direct', 'bounced', 'highmem'],
  runs: 150,
  needs: (ctx) => requireCalls(ctx, ['mapSingle', 'unmapSingle']),
};

export default property;
