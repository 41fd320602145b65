/**
 * coherent-buffer-agrees: a `dma_alloc_attrs` buffer needs no sync; the CPU
 * (through the returned address) and the device (through the handle) see
 * each other's writes at every step, given `dma_wmb()` after CPU stores to a
 * write-combine buffer. Zeroing is allocation-contract's to judge.
 * @see kernel/dma/direct.c dma_direct_alloc (Documentation/core-api/dma-api-howto.rst "Using Coherent DMA mappings")
 */
import { ORIGIN, describeMismatch, firstMismatch } from '../src/conformance/oracle.ts';
import { type Property, requireCalls } from '../src/conformance/property.ts';

const property: Property = {
  name: 'coherent-buffer-agrees',
  summary: 'coherent allocations never need a sync: CPU and device agree at every step, barriers given',
  checks: [
    {
      id: 'sides-disagree',
      level: 'contract',
      rules: ['R18', 'R32'],
      summary: 'a CPU or device read of a coherent buffer returns what either side last wrote (after dma_wmb() for CPU stores)',
      latitude: 'bytes still holding the allocation\'s zeroes are allocation-contract\'s',
      judge(obs) {
        if ((obs.kind !== 'cpu-read' && obs.kind !== 'device-read') || obs.objKind !== 'coherent') return null;
        const m = firstMismatch(obs, (o) => o !== ORIGIN.allocZero);
        if (m === null) return null;
        return `${obs.kind === 'cpu-read' ? 'CPU' : 'device'} read of a coherent buffer disagrees with the other side's write ${describeMismatch(obs, m)}`;
      },
    },
  ],
  weights: {
    kmalloc: 0, allocPages: 0, mapSingle: 0, mapPage: 0, mapSg: 0, mmap: 0, getSgtable: 0, cpuWriteNeighbour: 0,
    alloc: 6, free: 2, cpuWrite: 10, deviceWrite: 10, cpuRead: 10, deviceRead: 10, dmaWmb: 3, speculativeFill: 6, evict: 4, wcDrain: 2, setContext: 1,
  },
  paths: ['remap'],
  needs: (ctx) => requireCalls(ctx, ['allocAttrs', 'freeAttrs']),
};

export default property;
