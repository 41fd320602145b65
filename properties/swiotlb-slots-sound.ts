/**
 * swiotlb-slots-sound: the bounce buffers a layer hands out are sound. No
 * two live bounce buffers overlap, and none overlaps a live driver buffer;
 * every bounce address keeps the original's bits under the device's
 * `min_align_mask` and stays inside one segment-boundary window; Linux's
 * allocator also page-aligns a bounce buffer of a page or more when no mask
 * applies, and once every mapping and allocation is gone its pool's used
 * counts and every slot's free-run count are back where they started (read
 * through the backend's `swiotlbState`).
 * @see kernel/dma/swiotlb.c swiotlb_search_pool_area, swiotlb_release_slots, swiotlb_alloc (Documentation/core-api/swiotlb.rst)
 */
import { deviceConfig } from '../src/conformance/judge.ts';
import { hex } from '../src/platform/types.ts';
import { PAGE_SIZE } from '../src/platform/types.ts';
import { type Property, requireCalls, requireSwiotlb } from '../src/conformance/property.ts';

const ev = (o: { ref: string; dev: string; dma: number; origPhys: number }) => `[ref=${o.ref}] [dev=${o.dev}] [dma=${hex(o.dma)}] [orig_phys=${hex(o.origPhys)}]`;

const property: Property = {
  name: 'swiotlb-slots-sound',
  summary: 'bounce buffers never overlap, keep min_align_mask bits and segment boundaries, and the pool is whole again afterwards',
  checks: [
    {
      id: 'min-align-bits-dropped',
      level: 'contract',
      rules: [],
      see: 'include/linux/dma-mapping.h dma_set_min_align_mask; kernel/dma/swiotlb.c swiotlb_align_offset',
      summary: "a bounce address keeps the original's bits under the device's min_align_mask",
      judge(obs, ctx) {
        if (obs.kind !== 'bounce') return null;
        const m = deviceConfig(ctx.profile, obs.dev).minAlignMask;
        if (((obs.bouncePhys ^ obs.origPhys) & m) === 0) return null;
        return `bounce address drops the min_align_mask bits [min_align_mask=${hex(m)}] [orig_bits=${hex(obs.origPhys & m)}] [bounce_bits=${hex(obs.bouncePhys & m)}] ${ev(obs)}`;
      },
    },
    {
      id: 'segment-boundary-crossed',
      level: 'contract',
      rules: [],
      see: 'include/linux/dma-mapping.h dma_set_seg_boundary',
      summary: "a bounce buffer stays inside one window of the device's segment boundary",
      judge(obs, ctx) {
        if (obs.kind !== 'bounce') return null;
        const b = deviceConfig(ctx.profile, obs.dev).segmentBoundaryMask;
        if (Math.floor(obs.dma / (b + 1)) === Math.floor((obs.dma + obs.sizeBytes - 1) / (b + 1))) return null;
        return `bounce buffer crosses the segment boundary [boundary_mask=${hex(b)}] [size=${obs.sizeBytes}] ${ev(obs)}`;
      },
    },
    {
      id: 'overlaps-live',
      level: 'contract',
      rules: ['R39'],
      summary: 'a bounce buffer overlaps no other live bounce buffer and no live driver buffer',
      judge(obs) {
        if (obs.kind === 'bounce' && obs.overlaps !== null) return `bounce buffer overlaps ${obs.overlaps} [bounce_phys=${hex(obs.bouncePhys)}] [size=${obs.sizeBytes}] ${ev(obs)}`;
        if (obs.kind === 'alloc' && obs.ok && obs.overlaps?.includes('bounce buffer') === true) return `coherent allocation of ${obs.dev} overlaps ${obs.overlaps} [ref=${obs.ref}]`;
        return null;
      },
    },
    {
      id: 'not-page-aligned',
      level: 'linux',
      rules: [],
      see: 'kernel/dma/swiotlb.c swiotlb_search_pool_area (page alignment for a page or more without a mask)',
      summary: 'with no min_align_mask, a bounce buffer of a page or more is page aligned',
      judge(obs, ctx) {
        if (obs.kind !== 'bounce' || deviceConfig(ctx.profile, obs.dev).minAlignMask !== 0 || obs.sizeBytes < PAGE_SIZE || obs.bouncePhys % PAGE_SIZE === 0) return null;
        return `bounce buffer of a page or more is not page aligned [bounce_phys=${hex(obs.bouncePhys)}] [size=${obs.sizeBytes}] ${ev(obs)}`;
      },
    },
    {
      id: 'pool-accounting',
      level: 'linux',
      rules: ['R39'],
      see: 'kernel/dma/swiotlb.c swiotlb_release_slots (free-run counts restored, area used counts)',
      summary: "once everything is unmapped and freed, the pool's used counts and every slot's free-run count are back at their start",
      needs: (ctx) => requireCalls(ctx, ['swiotlbState']),
      judge(obs) {
        if (obs.kind !== 'swiotlb-state' || obs.differences.length === 0) return null;
        return `swiotlb accounting of ${obs.dev} differs after everything was unmapped and freed ${obs.differences.join(' ')}`;
      },
    },
    {
      id: 'pool-size',
      level: 'linux',
      rules: [],
      see: 'kernel/dma/swiotlb.c swiotlb_init_remap, setup_io_tlb_npages (swiotlb=<slots>); rmem_swiotlb_device_init (a restricted pool is its reserved region)',
      summary: 'the boot-time swiotlb has the slots the profile configures (swiotlb=), a restricted pool one slot per 2 KiB of its region',
      judge(obs, ctx) {
        if (obs.kind !== 'boot') return null;
        for (const [dev, slots] of Object.entries(obs.swiotlbSlots)) {
          const region = ctx.profile.devices.find((d) => d.name === dev)?.restrictedDmaPool ?? null;
          const want = region !== null ? region.sizeBytes / 2048 : ctx.profile.swiotlb?.slots;
          if (want !== undefined && slots !== want) return `the swiotlb of ${dev} has ${slots} slots at boot, not the ${want} configured [swiotlb=${ctx.profile.swiotlb?.slots ?? 'none'}]`;
        }
        return null;
      },
    },
  ],
  weights: {
    mmap: 0, munmap: 0, getSgtable: 0, userRead: 0, cpuWriteNeighbour: 0, speculativeFill: 0, evict: 0, badCall: 0,
    alloc: 4, free: 3, kmalloc: 6, allocPages: 6, mapSingle: 8, mapPage: 8, mapSg: 5, unmapSingle: 4, unmapSg: 3,
    deviceWrite: 2, deviceRead: 2, syncForCpu: 2, syncForDevice: 2, cpuWrite: 1, cpuRead: 1,
  },
  generator: { bigBuffers: true },
  paths: ['bounced'],
  needs: (ctx) => requireSwiotlb(ctx) ?? requireCalls(ctx, ['mapSingle', 'unmapSingle']),
};

export default property;
