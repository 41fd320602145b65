/**
 * bounce-preserves-data: a bounce buffer is invisible to the data. CPU →
 * device and device → CPU round trips through a bounce buffer keep every
 * byte in every direction; bytes the device does not write in a FROM_DEVICE
 * or BIDIRECTIONAL transfer keep their earlier value (never a previous
 * user's data left in the slot: the map-time copy of the v5.17 info-leak
 * fix); a partial sync moves exactly the synced range; and a kmalloc
 * neighbour the CPU writes while its cache-line twin is bounced is neither
 * lost nor corrupts the DMA data.
 * @see kernel/dma/swiotlb.c swiotlb_tbl_map_single, swiotlb_bounce, swiotlb_sync_single_for_cpu (Documentation/core-api/swiotlb.rst)
 */
import { describeMismatch, firstMismatch } from '../src/conformance/oracle.ts';
import { type Property, requireCalls, requireSwiotlb } from '../src/conformance/property.ts';

const property: Property = {
  name: 'bounce-preserves-data',
  summary: 'bounce round trips keep data, partial device writes keep untouched bytes, no bounce slot leaks old data',
  checks: [
    {
      id: 'bounced-data-differs',
      level: 'contract',
      rules: ['R35', 'R36', 'R31', 'R41'],
      summary: 'a read of a streaming buffer whose mapping bounces shows exactly what its owners wrote, the synced range and nothing else having moved',
      judge(obs) {
        if ((obs.kind !== 'cpu-read' && obs.kind !== 'device-read') || !obs.bounced || obs.objKind === 'coherent') return null;
        const m = firstMismatch(obs);
        if (m === null) return null;
        const what =
          obs.kind === 'device-read'
            ? 'the device read a bounce buffer that does not hold the data the CPU handed over'
            : m.origin === 'device write'
              ? 'the CPU did not get the device write back from the bounce buffer'
              : 'bytes the device did not write changed on the way back from the bounce buffer';
        return `${what} ${describeMismatch(obs, m)}`;
      },
    },
    {
      id: 'neighbour-write-lost',
      level: 'contract',
      rules: ['R11'],
      summary: 'a CPU write next to a bounced kmalloc buffer is not lost',
      judge(obs) {
        if (obs.kind !== 'neighbour-read' || !obs.bounced) return null;
        const m = firstMismatch(obs);
        return m === null ? null : `a CPU write next to a bounced buffer was lost ${describeMismatch(obs, m)}`;
      },
    },
  ],
  weights: {
    alloc: 1, free: 1, mmap: 0, munmap: 0, getSgtable: 0, userRead: 0, badCall: 0,
    kmalloc: 6, allocPages: 5, mapSingle: 7, mapPage: 7, mapSg: 3, unmapSingle: 5, unmapSg: 2,
    deviceWrite: 8, deviceRead: 6, syncForCpu: 11, syncForDevice: 5, cpuWrite: 10, cpuRead: 12, cpuWriteNeighbour: 3, speculativeFill: 2, evict: 1,
  },
  generator: { bigBuffers: true },
  paths: ['bounced'],
  runs: 200,
  needs: (ctx) => requireSwiotlb(ctx) ?? requireCalls(ctx, ['mapSingle', 'unmapSingle']),
};

export default property;
