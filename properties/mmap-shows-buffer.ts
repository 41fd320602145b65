/**
 * mmap-shows-buffer: `dma_mmap_attrs` of a buffer into user space succeeds
 * where `dma_can_mmap` says it can, populates every page of the VMA, and a
 * user read shows the same bytes the CPU and the device put in the buffer.
 * @see kernel/dma/direct.c dma_direct_mmap, kernel/dma/mapping.c dma_mmap_attrs (Documentation/core-api/dma-api.rst "dma_mmap_attrs")
 */
import { ORIGIN, describeMismatch, firstMismatch } from '../src/conformance/oracle.ts';
import { errnoName } from '../src/linux/include/linux/errno.ts';
import { linuxCannotShare } from '../src/conformance/judge.ts';
import { type Property, requireCalls } from '../src/conformance/property.ts';

const property: Property = {
  name: 'mmap-shows-buffer',
  summary: 'mapping a buffer to user space shows the same bytes, on every page',
  checks: [
    {
      id: 'mmap-fails',
      level: 'contract',
      rules: ['R26'],
      summary: 'dma_mmap_attrs of a live buffer (where dma_can_mmap allows it) succeeds and populates every page of the VMA',
      latitude: 'the ARM32 IOMMU ops refuse atomic-pool buffers with -ENXIO',
      judge(obs, ctx) {
        if (obs.kind !== 'mmap' || (obs.ret === 0 && obs.populatedPages === obs.expectedPages)) return null;
        if (obs.ret !== 0 && linuxCannotShare(ctx.profile, obs.dev, obs.region)) return null;
        const ret = obs.ret === 0 ? '0' : `${obs.ret} (${errnoName(obs.ret)})`;
        return `dma_mmap_attrs of ${obs.ref} did not map the buffer [ret=${ret}] [pages_mapped=${obs.populatedPages}] [pages_expected=${obs.expectedPages}]`;
      },
    },
    {
      id: 'user-view-differs',
      level: 'contract',
      rules: ['R25', 'R26'],
      summary: 'a user read of the mapping shows the bytes the CPU and the device last wrote',
      judge(obs) {
        if (obs.kind !== 'user-read') return null;
        const m = firstMismatch(obs, (o) => o !== ORIGIN.allocZero);
        return m === null ? null : `user mapping shows other bytes than the buffer ${describeMismatch(obs, m)}`;
      },
    },
  ],
  weights: {
    kmalloc: 0, allocPages: 0, mapSingle: 0, mapPage: 0, mapSg: 0, cpuWriteNeighbour: 0,
    alloc: 6, mmap: 8, userRead: 10, cpuWrite: 6, deviceWrite: 6, munmap: 2, free: 2, dmaWmb: 2, speculativeFill: 2,
  },
  runs: 60,
  needs: (ctx) => requireCalls(ctx, ['allocAttrs', 'freeAttrs', 'mmapAttrs']),
};

export default property;
