/**
 * iommu-isolates: behind an IOMMU a device reaches only what is mapped for
 * it. After every step the translations its IOMMU can use (page tables and
 * IOTLB, read from the trusted hardware) are covered by a live allocation or
 * mapping of that device, with no permission beyond its direction
 * (TO_DEVICE read, FROM_DEVICE write); an unmapped IOVA stops translating
 * when the unmap returns (strict) or by the next flush event (lazy), and is
 * never handed out again while the IOTLB may still translate it. An
 * untrusted device never sees a byte outside its buffer in the granules it
 * is given. The DMA segments of an sg mapping, on any profile, carry the
 * bytes of the entries and respect the device's `max_segment_size` and
 * segment boundary when entries are merged.
 * @see drivers/iommu/dma-iommu.c __iommu_dma_unmap, iommu_dma_map_phys, __finalise_sg; drivers/iommu/iommu.c iommu_unmap (Documentation/core-api/dma-api.rst "dma_map_sg", Documentation/admin-guide/kernel-parameters.txt iommu.strict)
 */
import { type Property } from '../src/conformance/property.ts';
import { hex } from '../src/platform/types.ts';

/** How many input entries each DMA segment carries, or null when the lengths do not add up. */
function composition(entryBytes: readonly number[], segments: readonly { len: number }[]): number[] | null {
  const out: number[] = [];
  let e = 0;
  for (const s of segments) {
    let left = s.len;
    let n = 0;
    while (left > 0 && e < entryBytes.length) {
      left -= entryBytes[e] as number;
      e++;
      n++;
    }
    if (left !== 0) return null;
    out.push(n);
  }
  return e === entryBytes.length ? out : null;
}

const property: Property = {
  name: 'iommu-isolates',
  summary: 'behind an IOMMU a device reaches only what is live for it, with its direction\'s permission, and nothing after the unmap is complete',
  checks: [
    {
      id: 'unmapped-reachable',
      level: 'contract',
      rules: ['R39'],
      see: 'drivers/iommu/dma-iommu.c __iommu_dma_unmap',
      summary: 'every IOMMU page-table entry of a device is covered by one of its live allocations or mappings (granules rounded out)',
      judge(obs) {
        if (obs.kind !== 'iommu' || obs.unexpected === null) return null;
        return `the IOMMU of ${obs.dev} translates an IOVA that nothing live covers ${obs.unexpected}`;
      },
    },
    {
      id: 'permission-beyond-direction',
      level: 'contract',
      rules: ['R29', 'R32'],
      see: 'drivers/iommu/dma-iommu.c dma_info_to_prot',
      summary: 'a mapping grants the device only its direction\'s access: read for DMA_TO_DEVICE, write for DMA_FROM_DEVICE',
      latitude: 'coherent buffers and DMA_BIDIRECTIONAL mappings may be read and written',
      judge(obs) {
        if (obs.kind !== 'iommu' || obs.overPermission === null) return null;
        return `the IOMMU of ${obs.dev} grants more than the direction allows ${obs.overPermission}`;
      },
    },
    {
      id: 'iotlb-outlives-unmap',
      level: 'contract',
      rules: ['R39'],
      see: 'drivers/iommu/dma-iommu.c queue_iova, fq_flush_timeout',
      summary: 'an unmapped IOVA stops translating when the unmap returns (strict) or by the next flush event (lazy), and is not reused before',
      latitude: 'in lazy mode the IOTLB may keep an unmapped translation until the flush-queue timer fires',
      judge(obs) {
        if (obs.kind !== 'iommu' || obs.stale === null) return null;
        return `${obs.dev}: ${obs.stale}`;
      },
    },
    {
      id: 'untrusted-sees-neighbours',
      level: 'contract',
      rules: [],
      see: 'drivers/iommu/dma-iommu.c iommu_dma_map_phys (dev_use_swiotlb, untrusted devices)',
      summary: 'an untrusted device\'s mapping that does not fill whole IOMMU granules is bounced, so the device cannot read the memory around the buffer',
      judge(obs) {
        if (obs.kind !== 'iommu-exposure' || !obs.inPlace || obs.outsideBytes === 0) return null;
        return `untrusted ${obs.dev} can reach ${obs.outsideBytes} bytes around its buffer in its granules [ref=${obs.ref}] [dma=${hex(obs.dma)}] [size=${obs.sizeBytes}] [granule=${obs.granuleBytes}]`;
      },
    },
    {
      id: 'untrusted-padding-leaks',
      level: 'linux',
      rules: [],
      see: 'drivers/iommu/dma-iommu.c iommu_dma_map_swiotlb (v6.18: the pre- and post-padding zeroed for untrusted devices)',
      summary: 'the bounce buffer of an untrusted device holds zeroes outside the buffer, never an earlier user\'s bytes',
      latitude: 'another filler that carries no data would do; Linux writes zeroes',
      judge(obs) {
        if (obs.kind !== 'iommu-exposure' || obs.inPlace || obs.nonZero === 0) return null;
        return `untrusted ${obs.dev} can read ${obs.nonZero} non-zero bytes of the bounce buffer's padding [ref=${obs.ref}] [dma=${hex(obs.dma)}] [size=${obs.sizeBytes}] [padding=${obs.outsideBytes}] [granule=${obs.granuleBytes}]`;
      },
    },
    {
      id: 'sg-segments-misdescribe',
      level: 'contract',
      rules: ['R44'],
      see: 'drivers/iommu/dma-iommu.c __finalise_sg',
      summary: 'the DMA segments of an sg mapping carry exactly the bytes of the entries, in order',
      judge(obs) {
        if (obs.kind !== 'sg-segments' || composition(obs.entryBytes, obs.segments) !== null) return null;
        return `the DMA segments of ${obs.ref} do not add up to its entries [dev=${obs.dev}] [entries=${obs.entryBytes.join(',')}] [segments=${obs.segments.map((s) => s.len).join(',')}]`;
      },
    },
    {
      id: 'sg-merge-beyond-limits',
      level: 'contract',
      rules: ['R44'],
      see: 'include/linux/dma-mapping.h dma_set_max_seg_size, dma_set_seg_boundary; drivers/iommu/dma-iommu.c __finalise_sg',
      summary: 'a DMA segment merged from several entries is at most max_segment_size long and does not cross the segment boundary',
      judge(obs) {
        if (obs.kind !== 'sg-segments') return null;
        const comp = composition(obs.entryBytes, obs.segments);
        if (comp === null) return null;
        for (let i = 0; i < comp.length; i++) {
          const s = obs.segments[i] as { dma: number; len: number };
          if ((comp[i] as number) < 2) continue;
          const b = obs.segmentBoundaryMask + 1;
          if (s.len > obs.maxSegmentSize) return `merged DMA segment ${i} of ${obs.ref} is longer than max_segment_size [dev=${obs.dev}] [len=${s.len}] [max_segment_size=${obs.maxSegmentSize}] [entries=${comp[i]}]`;
          if (Math.floor(s.dma / b) !== Math.floor((s.dma + s.len - 1) / b)) return `merged DMA segment ${i} of ${obs.ref} crosses the segment boundary [dev=${obs.dev}] [dma=${hex(s.dma)}] [len=${s.len}] [boundary_mask=${hex(obs.segmentBoundaryMask)}]`;
        }
        return null;
      },
    },
  ],
  weights: {
    mapSingle: 6, mapPage: 6, mapSg: 6, unmapSingle: 5, unmapSg: 4, alloc: 3, free: 3, allocNc: 2, freeNc: 2, mapResource: 1, unmapResource: 1,
    runWork: 4, deviceWrite: 3, deviceRead: 3, syncForCpu: 2, syncForDevice: 2, kmalloc: 4, kfree: 1, allocPages: 3, freePages: 1,
    cpuWrite: 2, cpuRead: 1, speculativeFill: 0, evict: 0, queryAddressing: 0, setMask: 1,
  },
  paths: ['sg-merged', 'iotlb-stale'],
  needs: () => null,
};

export default property;
