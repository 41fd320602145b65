/**
 * sgtable-describes-buffer: `dma_get_sgtable_attrs` returns a table whose
 * pages are the buffer's pages, in order, covering its size, so another
 * device importing it sees the same memory. The pages come from the
 * platform (the buffer's kernel mapping, or for a cookie the bus
 * translation), never from treating the DMA handle as a physical address
 * (R1), which breaks wherever `dma-ranges` offset the bus.
 * @see kernel/dma/direct.c dma_direct_get_sgtable (Documentation/core-api/dma-api.rst "dma_get_sgtable")
 */
import { errnoName } from '../src/linux/include/linux/errno.ts';
import { linuxCannotShare } from '../src/conformance/judge.ts';
import { PAGE_SIZE, hex } from '../src/platform/types.ts';
import { type Property, requireCalls } from '../src/conformance/property.ts';

const property: Property = {
  name: 'sgtable-describes-buffer',
  summary: "dma_get_sgtable describes the buffer's own pages, in order",
  checks: [
    {
      id: 'sgtable-fails',
      level: 'contract',
      rules: ['R1'],
      summary: 'dma_get_sgtable_attrs of a live coherent buffer succeeds',
      latitude: 'the ARM32 IOMMU ops refuse atomic-pool buffers with -ENXIO',
      judge(obs, ctx) {
        if (obs.kind !== 'sgtable' || obs.ret === 0 || linuxCannotShare(ctx.profile, obs.dev, obs.region)) return null;
        return `dma_get_sgtable_attrs of ${obs.ref} failed [ret=${obs.ret} (${errnoName(obs.ret)})] [size=${obs.sizeBytes}]`;
      },
    },
    {
      id: 'wrong-pages',
      level: 'contract',
      rules: ['R1'],
      summary: "the table names the buffer's own pages, in order, covering its size",
      judge(obs) {
        if (obs.kind !== 'sgtable' || obs.ret !== 0) return null;
        for (let i = 0; i < obs.expectedPfns.length; i++) {
          if (obs.seenPfns[i] === obs.expectedPfns[i]) continue;
          const seen = obs.seenPfns[i];
          return `sg table of ${obs.ref} names another page [page_index=${i}] [expected_phys=${hex((obs.expectedPfns[i] as number) * PAGE_SIZE)}] [seen_phys=${seen === undefined ? 'none' : hex(seen * PAGE_SIZE)}] [pages_in_table=${obs.seenPfns.length}]`;
        }
        return null;
      },
    },
  ],
  weights: {
    kmalloc: 0, allocPages: 0, mapSingle: 0, mapPage: 0, mapSg: 0, cpuWriteNeighbour: 0,
    alloc: 8, getSgtable: 10, free: 4, cpuWrite: 1, deviceWrite: 1,
  },
  runs: 60,
  needs: (ctx) => requireCalls(ctx, ['allocAttrs', 'freeAttrs', 'getSgtableAttrs']),
};

export default property;
