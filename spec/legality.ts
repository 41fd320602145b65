/**
 * Why the symbolic driver model (`src/conformance/model.ts`) forbids a step:
 * every reason it can give, the steps it applies to, what it forbids and
 * why, and where that comes from. A rule id reason is a rule of
 * `rules.ts`; the other reasons are the harness's. `stricter` says where
 * the model forbids something Linux would let a driver do, and why it
 * still does (the generator then never draws that pattern; the oracle
 * never has to judge it).
 *
 * Audited against Documentation/core-api/dma-api.rst, dma-api-howto.rst,
 * dma-attributes.rst and the kernel (v6.18): where the model was stricter
 * than the documentation without a reason, it was relaxed (mappings and sg
 * entries at any offset and length; `dma_sync_*_for_cpu` of bytes the CPU
 * already owns and has not written; `DMA_ATTR_SKIP_CPU_SYNC`).
 *
 * Pure data with no imports beyond `rules.ts`.
 */
import type { RuleId } from './rules.ts';

/** One reason the model forbids a step. */
export interface Restriction {
  /** The step ops it applies to. */
  readonly steps: readonly string[];
  /** What it forbids, and why that is a driver bug. */
  readonly clause: string;
  /** The document or kernel source it rests on. */
  readonly source: string;
  /** Where the model is stricter than Linux, and why it stays so. */
  readonly stricter?: string;
}

/** Every reason, by what `ModelState.check` returns. */
export const LEGALITY = {
  R1: { steps: ['deviceWrite', 'deviceRead'], clause: 'a device reaches a streaming buffer only through its DMA address, a mapping', source: 'dma-api-howto.rst "CPU and DMA addresses"' },
  R6: { steps: ['mapResource'], clause: 'dma_map_resource maps device MMIO (a region of the profile), never RAM', source: 'dma-api.rst Part Id dma_map_resource' },
  R8: {
    steps: ['mapSingle', 'mapPage', 'mapSg', 'mapResource'],
    clause: 'a buffer is mapped by one mapping at a time: two live mappings would share its cache lines (for MMIO: two non-TO_DEVICE resource mappings starting in one line, which dma-debug reports too)',
    source: 'dma-api.rst Part Id (cache-line sharing warning); kernel/dma/debug.c active cacheline tracking',
    stricter: 'Linux lets a buffer be mapped more than once for DMA_TO_DEVICE (dma-debug only tracks overlapping non-TO_DEVICE mappings); the model keeps one owner per byte, so that pattern is not generated',
  },
  R18: { steps: ['deviceWrite', 'deviceRead', 'userRead'], clause: 'CPU stores to a coherent buffer are ordered (dma_wmb) before the device or user space reads it: a write-combining mapping may still hold them', source: 'dma-api-howto.rst "Types of DMA mappings"' },
  R19: { steps: ['alloc', 'kmalloc', 'allocPages', 'allocNc'], clause: 'in atomic context an allocation must not sleep: GFP_ATOMIC or GFP_NOWAIT, never GFP_KERNEL', source: 'dma-api-howto.rst "Using Coherent DMA mappings"' },
  R20: { steps: ['free', 'freeNc'], clause: 'dma_free_coherent (and dma_free_pages, which may re-encrypt) is not called with interrupts disabled (it may vunmap or sleep)', source: 'dma-api.rst Part Ia; kernel/dma/mapping.c dma_free_attrs; kernel/dma/direct.c dma_direct_free_pages' },
  R25: { steps: ['cpuWrite', 'cpuRead'], clause: 'a DMA_ATTR_NO_KERNEL_MAPPING return value is a cookie, never dereferenced', source: 'dma-attributes.rst DMA_ATTR_NO_KERNEL_MAPPING' },
  R26: { steps: ['free', 'freeNc'], clause: 'a buffer mapped to user space is not freed while the user mapping exists', source: 'kernel/dma/mapping.c dma_mmap_attrs kernel-doc' },
  R28: { steps: ['deviceRead'], clause: 'a device does not read a DMA_FROM_DEVICE mapping', source: 'dma-api-howto.rst "DMA Direction"' },
  R29: { steps: ['deviceWrite'], clause: 'a device does not write a DMA_TO_DEVICE mapping', source: 'dma-api.rst Part Id warning' },
  R30: { steps: ['cpuWrite'], clause: 'the CPU does not write a DMA_FROM_DEVICE buffer while it is mapped, even where it owns it (BIDIRECTIONAL is for that)', source: 'dma-api.rst Part Id warning' },
  R35: {
    steps: ['cpuWrite', 'cpuRead', 'deviceWrite', 'deviceRead', 'syncForCpu', 'syncForDevice', 'userRead'],
    clause: 'each byte of a mapping (or of non-coherent memory, which the CPU owns from allocation) is touched only by its owner: the device from map (or sync_for_device) to sync_for_cpu or unmap, the CPU otherwise; sync_for_cpu takes back only what the CPU has not written since it last owned it, sync_for_device hands over only what the device has not written',
    source: 'kernel/dma/mapping.c dma_map_sgtable kernel-doc; dma-api-howto.rst "Using Streaming DMA mappings"',
  },
  R36: { steps: ['unmapSingle', 'unmapSg'], clause: 'what the CPU wrote in a mapping it took back is handed over with sync_for_device before unmap: unmap does the for-cpu maintenance, which may discard the lines', source: 'dma-api-howto.rst "Using Streaming DMA mappings"' },
  R39: { steps: ['kfree', 'freePages'], clause: 'memory is not freed while a mapping of it is live: every map is unmapped first', source: 'dma-api-howto.rst; kernel/dma/debug.c debug_check_no_obj_freed' },
  R40: { steps: ['unmapSingle', 'unmapSg'], clause: 'a mapping is undone by the call matching the one that made it', source: 'dma-api.rst Part Id' },
  R41: { steps: ['syncForCpu', 'syncForDevice'], clause: 'a partial sync stays inside its mapping', source: 'dma-api.rst Part Id' },
  R43: { steps: ['unmapSingle', 'unmapSg'], clause: 'unmapping with DMA_ATTR_SKIP_CPU_SYNC transfers nothing, so what the device wrote must already have been taken back with sync_for_cpu', source: 'dma-attributes.rst DMA_ATTR_SKIP_CPU_SYNC' },
  R45: { steps: ['syncForCpu', 'syncForDevice'], clause: 'an sg list (and a dma_alloc_noncontiguous table, with dma_sync_sgtable_*) is synced whole (dma_sync_sg_* takes the list, not a range)', source: 'dma-api.rst Part Id' },
  R46: {
    steps: ['mapSg'],
    clause: 'an sg entry names a buffer not mapped elsewhere, and a list names each buffer once',
    source: 'dma-api.rst Part Id (an sg list is not mapped again while mapped)',
    stricter: 'two entries of one list may legally point into one buffer at disjoint ranges; the model does not generate that',
  },
  'no-such-object': { steps: ['*'], clause: 'a step names an object, mapping, user mapping or device that exists', source: 'the harness' },
  'wrong-object-kind': { steps: ['*'], clause: 'a step names an object of the kind its call takes (dma_map_single a kmalloc object, dma_map_page pages)', source: 'dma-api-howto.rst "What memory is DMA\'able?"' },
  'out-of-range': { steps: ['*'], clause: 'offsets and lengths stay inside the object or mapping they name, and are not empty', source: 'dma-api.rst Part Id' },
  'process-context-only': { steps: ['mmap', 'getSgtable', 'free'], clause: 'dma_mmap_attrs and dma_get_sgtable_attrs allocate and may sleep', source: 'kernel/dma/ops_helpers.c dma_common_get_sgtable (sg_alloc_table with GFP_KERNEL)' },
  'mask-while-mapped': {
    steps: ['setMask'],
    clause: 'masks are set while the device has no live mapping or buffer',
    source: 'dma-api-howto.rst "DMA addressing capabilities" (masks are set at probe)',
    stricter: 'Linux accepts dma_set_mask at any time, and from v6.9 it then recomputes dma_skip_sync, which skips the syncs of a coherent device\'s live bounce buffers (modelled, see mapping.ts dmaSetupNeedSync); the model keeps drivers to the documented probe-time use',
  },
  'platform-not-first': { steps: ['platform'], clause: 'the machine variant is chosen before the first step', source: 'the harness' },
  'resource-through-window': {
    steps: ['mapResource'],
    clause: 'a resource is mapped only for a DMA engine that sees it at its CPU physical address: dma_map_resource does not translate through the dma-ranges windows, so for a device whose windows move or miss that address the DMA address leads elsewhere',
    source: 'kernel/dma/direct.h dma_direct_map_phys (DMA_ATTR_MMIO: the DMA address is the physical address, v6.18)',
  },
  'not-synced': { steps: ['syncForCpu', 'syncForDevice'], clause: 'a resource mapping has no CPU side: it is never synced', source: 'dma-api.rst Part Id dma_map_resource' },
} as const satisfies Record<string, Restriction>;

/** A reason the model may give. */
export type LegalityReason = keyof typeof LEGALITY;

/** The rule ids among the reasons (each is also a rule of `rules.ts`). */
export type LegalityRule = Extract<LegalityReason, RuleId>;
