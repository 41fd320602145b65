/**
 * swiotlb-slots-sound: the swiotlb allocator hands out sound slots. No two
 * live bounce buffers overlap, and none overlaps a live driver buffer; every
 * bounce address keeps the original's bits under the device's
 * `min_align_mask`, is page aligned for a page or more when no mask applies,
 * and stays inside one segment-boundary window; and once every mapping and
 * allocation is gone, the pool's used counts and every slot's free-run count
 * are back where they started (read through the backend's `swiotlbState`).
 * @see kernel/dma/swiotlb.c swiotlb_search_pool_area, swiotlb_release_slots, swiotlb_alloc (kernel-dma.md §1.10, §2.7)
 */
import { hex } from '../src/platform/types.ts';
import { type Property, requireCalls, requireSwiotlb, violation } from '../src/conformance/property.ts';

const property: Property = {
  name: 'swiotlb-slots-sound',
  summary: 'bounce buffers never overlap, keep min_align_mask bits and alignment, and the pool is whole again afterwards',
  rules: ['R39', 'R16', 'R17'],
  weights: {
    mmap: 0, munmap: 0, getSgtable: 0, userRead: 0, cpuWriteNeighbour: 0, speculativeFill: 0, evict: 0, badCall: 0,
    alloc: 4, free: 3, kmalloc: 6, allocPages: 6, mapSingle: 8, mapPage: 8, mapSg: 5, unmapSingle: 4, unmapSg: 3,
    deviceWrite: 2, deviceRead: 2, syncForCpu: 2, syncForDevice: 2, cpuWrite: 1, cpuRead: 1,
  },
  generator: { bigBuffers: true },
  needs: (ctx) => requireSwiotlb(ctx) ?? requireCalls(ctx, ['mapSingle', 'mapPage', 'mapSg', 'unmapSingle', 'unmapSg']),
  check(obs) {
    if (obs.kind === 'bounce' && obs.problems.length > 0) {
      return violation(property, obs, `${obs.problems[0]} [ref=${obs.ref}] [dev=${obs.dev}] [dma=${hex(obs.dma)}] [orig_phys=${hex(obs.origPhys)}]`);
    }
    if (obs.kind === 'alloc') {
      const p = obs.problems.find((x) => x.includes('bounce buffer'));
      if (p !== undefined) return violation(property, obs, `coherent allocation of ${obs.dev} ${p} [ref=${obs.ref}]`);
    }
    if (obs.kind === 'swiotlb-state' && obs.differences.length > 0) {
      return violation(property, obs, `swiotlb accounting of ${obs.dev} differs after everything was unmapped and freed ${obs.differences.join(' ')}`);
    }
    return null;
  },
};

export default property;
