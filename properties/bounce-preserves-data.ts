/**
 * bounce-preserves-data: a swiotlb bounce buffer is invisible to the data.
 * CPU → device and device → CPU round trips through a bounce buffer keep
 * every byte in every direction; bytes the device does not write in a
 * FROM_DEVICE or BIDIRECTIONAL transfer keep their earlier value (never a
 * previous user's data left in the slot: the map-time copy of the v5.17
 * info-leak fix); a partial sync moves exactly the synced range; and a
 * kmalloc neighbour the CPU writes while its cache-line twin is bounced is
 * neither lost nor corrupts the DMA data.
 * @see kernel/dma/swiotlb.c swiotlb_tbl_map_single, swiotlb_bounce, swiotlb_sync_single_for_cpu (kernel-dma.md §2.6–2.7)
 */
import { describeMismatch, firstMismatch } from '../src/conformance/oracle.ts';
import { type Property, requireCalls, requireSwiotlb, violation } from '../src/conformance/property.ts';

const property: Property = {
  name: 'bounce-preserves-data',
  summary: 'swiotlb round trips keep data, partial device writes keep untouched bytes, no bounce slot leaks old data',
  rules: ['R35', 'R36', 'R31', 'R41'],
  weights: {
    alloc: 1, free: 1, mmap: 0, munmap: 0, getSgtable: 0, userRead: 0, badCall: 0,
    kmalloc: 6, allocPages: 5, mapSingle: 7, mapPage: 7, mapSg: 3, unmapSingle: 5, unmapSg: 2,
    deviceWrite: 8, deviceRead: 6, syncForCpu: 11, syncForDevice: 5, cpuWrite: 10, cpuRead: 12, cpuWriteNeighbour: 3, speculativeFill: 2, evict: 1,
  },
  generator: { bigBuffers: true },
  needs: (ctx) => requireSwiotlb(ctx) ?? requireCalls(ctx, ['mapSingle', 'mapPage', 'unmapSingle', 'syncSingleForCpu', 'syncSingleForDevice']),
  check(obs) {
    if (obs.kind !== 'cpu-read' && obs.kind !== 'device-read' && obs.kind !== 'neighbour-read') return null;
    if (!obs.bounced || obs.objKind === 'coherent') return null;
    const m = firstMismatch(obs);
    if (m === null) return null;
    const what =
      obs.kind === 'neighbour-read'
        ? 'a CPU write next to a bounced buffer was lost'
        : obs.kind === 'device-read'
          ? 'the device read a bounce buffer that does not hold the data the CPU handed over'
          : m.origin === 'device write'
            ? 'the CPU did not get the device write back from the bounce buffer'
            : 'bytes the device did not write changed on the way back from the bounce buffer';
    return violation(property, obs, `${what} ${describeMismatch(obs, m)}`);
  },
};

export default property;
