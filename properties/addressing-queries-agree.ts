/**
 * addressing-queries-agree: the queries a driver asks before it decides how
 * to allocate and map tell the truth about the machine. A driver that sees
 * `dma_addressing_limited` false maps any RAM in place; one that sees
 * `dma_need_unmap` false drops its DMA addresses and never unmaps; one that
 * sizes its buffers by `dma_opt_mapping_size` expects them to map.
 * @see kernel/dma/mapping.c dma_addressing_limited, dma_get_required_mask, dma_opt_mapping_size, dma_need_unmap (Documentation/core-api/dma-api.rst "Part Ic - DMA addressing limitations")
 */
import { type Property, requireCalls } from '../src/conformance/property.ts';
import { hex } from '../src/platform/types.ts';

const property: Property = {
  name: 'addressing-queries-agree',
  summary: 'dma_addressing_limited, dma_get_required_mask, dma_opt_mapping_size and dma_need_unmap agree with what the device reaches and what its mappings did',
  checks: [
    {
      id: 'limited-missed',
      level: 'contract',
      rules: [],
      see: 'Documentation/core-api/dma-api.rst dma_addressing_limited',
      summary: 'dma_addressing_limited is true whenever some RAM lies beyond what the device reaches in place with its mask, bus limit and windows',
      judge(obs) {
        if (obs.kind !== 'addressing' || obs.limited || obs.unreachableRam === null) return null;
        return `dma_addressing_limited is false although ${obs.unreachableRam} [dev=${obs.dev}] [mask_bits=${obs.maskBits}]`;
      },
    },
    {
      id: 'limited-needless',
      level: 'linux',
      rules: [],
      see: 'kernel/dma/mapping.c dma_addressing_limited, kernel/dma/direct.c dma_direct_all_ram_mapped',
      summary: 'dma_addressing_limited is false when the device reaches all RAM in place, as Linux computes it (its required mask rounds the top of RAM up to a power of two)',
      latitude: 'the documentation lets an implementation answer true conservatively; Linux itself does for a bus limit below the rounded required mask',
      judge(obs) {
        if (obs.kind !== 'addressing' || !obs.limited || obs.unreachableRam !== null || obs.linuxLimited) return null;
        return `dma_addressing_limited is true although the device reaches all RAM [dev=${obs.dev}] [mask_bits=${obs.maskBits}] [ram_top_dma=${obs.ramTopDma === null ? 'none' : hex(obs.ramTopDma)}]`;
      },
    },
    {
      id: 'required-mask-short',
      level: 'linux',
      rules: [],
      see: 'kernel/dma/direct.c dma_direct_get_required_mask',
      summary: 'dma_get_required_mask covers the DMA address of every byte of RAM (on dma-direct)',
      latitude: 'the documentation says the mask "usually" covers all memory; an IOMMU reports 32 bits',
      judge(obs) {
        if (obs.kind !== 'addressing' || obs.requiredMask === null || obs.ramTopDma === null || obs.requiredMask >= obs.ramTopDma) return null;
        return `dma_get_required_mask ${hex(obs.requiredMask)} is below the DMA address of the top of RAM ${hex(obs.ramTopDma)} [dev=${obs.dev}]`;
      },
    },
    {
      id: 'opt-above-max',
      level: 'linux',
      rules: [],
      see: 'kernel/dma/mapping.c dma_opt_mapping_size',
      summary: 'dma_opt_mapping_size is no larger than dma_max_mapping_size',
      judge(obs) {
        if (obs.kind !== 'addressing' || obs.optMappingSize === null || obs.maxMappingSize === null || obs.optMappingSize <= obs.maxMappingSize) return null;
        return `dma_opt_mapping_size ${obs.optMappingSize} exceeds dma_max_mapping_size ${obs.maxMappingSize} [dev=${obs.dev}]`;
      },
    },
    {
      id: 'need-unmap-while-bounced',
      level: 'contract',
      rules: ['R39'],
      see: 'kernel/dma/mapping.c dma_need_unmap',
      summary: 'dma_need_unmap is true while a mapping of the device is bounced: skipping its unmap would lose the copy back and the slots',
      judge(obs) {
        if (obs.kind !== 'addressing' || obs.needUnmap !== false || obs.bouncedMapping === null) return null;
        return `dma_need_unmap is false while mapping ${obs.bouncedMapping} is bounced [dev=${obs.dev}]`;
      },
    },
  ],
  weights: {
    queryAddressing: 8, setMask: 6, kmalloc: 4, allocPages: 4, mapSingle: 5, mapPage: 5, mapSg: 2, unmapSingle: 2, unmapSg: 1,
    alloc: 1, free: 1, cpuWrite: 2, cpuRead: 1, deviceWrite: 2, deviceRead: 1, speculativeFill: 0, evict: 0, platform: 0,
  },
  needs: (ctx) => requireCalls(ctx, ['addressingLimited']),
};

export default property;
