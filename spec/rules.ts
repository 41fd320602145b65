/**
 * The driver-facing contract of the DMA-mapping API as typed data: rules
 * R1–R56, each with its group, its clause and the kernel document it comes
 * from (in Documentation/core-api/: `dma-api.rst` = API, `dma-api-howto.rst`
 * = HOWTO, `dma-attributes.rst` = ATTR; or a named kernel-doc comment).
 *
 * Pure data with no imports, so every layer may name a rule: the model's
 * legality check returns a {@link RuleId}, a property lists the rules it
 * enforces, and a rule id that does not exist here fails the type check.
 */

/** One rule of the contract. */
export interface Rule {
  /** Group heading of the rule (`Streaming ownership`, `Direction`, ...). */
  readonly group: string;
  /** What the driver (or the DMA layer) must do, paraphrasing the kernel document. */
  readonly clause: string;
  /** Kernel documentation section the clause comes from. */
  readonly source: string;
}

/** Every rule, by id. */
export const RULES = {
  R1: { group: 'Addresses and memory', clause: 'A `dma_addr_t` is a device-side bus address and must not be dereferenced by the CPU', source: 'API Part I; HOWTO "CPU and DMA addresses"' },
  R2: { group: 'Addresses and memory', clause: 'Memory from the page allocator, `kmalloc` or `kmem_cache_alloc` may be mapped for streaming DMA', source: 'HOWTO "What memory is DMA\'able?"' },
  R3: { group: 'Addresses and memory', clause: '`vmalloc` memory, kernel/module image addresses, stack memory and `kmap` addresses must not be passed to `dma_map_single`', source: 'HOWTO "What memory is DMA\'able?"' },
  R4: { group: 'Addresses and memory', clause: '`dma_map_single` requires a physically contiguous region; use sg lists otherwise', source: 'API Part Id note' },
  R5: { group: 'Addresses and memory', clause: 'Highmem pages must be mapped with `dma_map_page`, not via CPU pointers', source: 'HOWTO "Using Streaming DMA mappings"' },
  R6: { group: 'Addresses and memory', clause: '`dma_map_resource` is for device MMIO only; mapping RAM with it is not permitted', source: 'API Part Id' },
  R7: { group: 'Addresses and memory', clause: 'Memory mapped with `DMA_ATTR_MMIO` must never be mapped cacheable by the CPU', source: 'ATTR DMA_ATTR_MMIO' },
  R8: { group: 'Alignment / cache lines', clause: 'Streaming buffers should start and end on cache-line boundaries (page boundaries if unsure) so that no two mappings share a line', source: 'API Part Id warning' },
  R9: { group: 'Alignment / cache lines', clause: '`dma_get_cache_alignment()` is the minimum alignment and width for mappings and partial syncs', source: 'API Part II' },
  R10: { group: 'Alignment / cache lines', clause: 'CPU-written fields must not share a cache line with a FROM_DEVICE/BIDIRECTIONAL buffer on non-coherent systems; use the `__dma_from_device_group_begin/end` markers to pad', source: 'HOWTO "__dma_from_device_group_begin/end annotations"' },
  R11: { group: 'Alignment / cache lines', clause: 'Architectures must make `kmalloc` buffers DMA-safe via `ARCH_DMA_MINALIGN`', source: 'HOWTO "Platform Issues"' },
  R12: { group: 'Masks', clause: 'A driver must not perform DMA until a `dma_set_mask*` call has succeeded', source: 'HOWTO "DMA addressing capabilities"' },
  R13: { group: 'Masks', clause: 'Default assumption is 32-bit addressing; coherent allocations stay below 4 GiB unless the coherent mask is raised', source: 'HOWTO "DMA addressing capabilities", "Using Coherent DMA mappings"' },
  R14: { group: 'Masks', clause: '`dma_set_mask_and_coherent` never fails for masks ≥ 32 bits, so retrying with a 32-bit mask after a 64-bit failure is wrong', source: 'HOWTO "DMA addressing capabilities"' },
  R15: { group: 'Masks', clause: 'A coherent mask equal to or smaller than the streaming mask can always be set', source: 'HOWTO "DMA addressing capabilities"' },
  R16: { group: 'Masks', clause: 'A mask means: an address is reachable iff ANDing it with the mask leaves it unchanged', source: 'API Part Ic' },
  R17: { group: 'Masks', clause: 'Mapping sizes should not exceed `dma_max_mapping_size()`', source: 'API Part Ic' },
  R18: { group: 'Coherent allocations', clause: 'Coherent memory is visible to both sides without flushing, but CPU stores may still be reordered, so memory barriers are required for ordering', source: 'HOWTO "Types of DMA mappings"' },
  R19: { group: 'Coherent allocations', clause: '`dma_alloc_coherent` may be called in interrupt context with `GFP_ATOMIC`', source: 'HOWTO "Using Coherent DMA mappings"' },
  R20: { group: 'Coherent allocations', clause: '`dma_free_coherent` must not be called in interrupt context / with IRQs disabled', source: 'API Part Ia; HOWTO' },
  R21: { group: 'Coherent allocations', clause: 'The returned CPU and DMA addresses are aligned to the smallest page order ≥ size (so a ≤64 KiB buffer never crosses a 64 KiB boundary)', source: 'HOWTO "Using Coherent DMA mappings"' },
  R22: { group: 'Coherent allocations', clause: 'Free with the same dev, size and handle, and the CPU address returned by the allocation', source: 'API Part Ia' },
  R23: { group: 'Coherent allocations', clause: '`dma_free_attrs` must receive the same attrs as `dma_alloc_attrs`', source: 'API (5.x) Part II; ATTR NO_KERNEL_MAPPING' },
  R24: { group: 'Coherent allocations', clause: 'GFP zone flags may be ignored by coherent allocators and are rejected by `dma_alloc_pages`/`dma_alloc_noncontiguous`', source: 'API Part Ia, Part II' },
  R25: { group: 'Coherent allocations', clause: 'With `DMA_ATTR_NO_KERNEL_MAPPING` the return value is an opaque cookie that must not be dereferenced and may only be passed to `dma_mmap_attrs` and `dma_free_attrs` with the same attribute', source: 'ATTR' },
  R26: { group: 'Coherent allocations', clause: 'A buffer mapped to user space with `dma_mmap_*` must not be freed until the user mapping is gone', source: '`mapping.c:dma_mmap_attrs` kernel-doc' },
  R27: { group: 'Coherent allocations', clause: '`dma_pool_create`/`dma_pool_destroy` need a sleepable context; all blocks must be freed before destroy; `dma_pool_free` may run in interrupt context', source: 'API Part Ib; HOWTO' },
  R28: { group: 'Direction', clause: 'Use the exact direction when known; `DMA_BIDIRECTIONAL` is always legal but may cost performance; `DMA_NONE` is only a debugging placeholder', source: 'HOWTO "DMA Direction"' },
  R29: { group: 'Direction', clause: 'After `DMA_TO_DEVICE` sync the device must treat the memory as read-only; if it may write, use BIDIRECTIONAL', source: 'API Part Id warning' },
  R30: { group: 'Direction', clause: 'A `DMA_FROM_DEVICE` buffer is read-only for the driver; if the CPU must write it, use BIDIRECTIONAL', source: 'API Part Id warning' },
  R31: { group: 'Direction', clause: 'BIDIRECTIONAL memory must be synced both before handing to the device and before the CPU reads results', source: 'API Part Id warning' },
  R32: { group: 'Direction', clause: 'Coherent mappings implicitly have direction BIDIRECTIONAL', source: 'HOWTO "DMA Direction"' },
  R33: { group: 'Streaming ownership', clause: 'Every map result must be checked with `dma_mapping_error` (single) or for a 0/negative return (sg) before use', source: 'API Part Id; HOWTO "Handling Errors"' },
  R34: { group: 'Streaming ownership', clause: 'On a failure in the middle of a multi-buffer setup, already mapped buffers must be unmapped', source: 'HOWTO "Handling Errors"' },
  R35: { group: 'Streaming ownership', clause: 'After mapping, the buffer belongs to the device; the CPU may touch it only after `dma_sync_*_for_cpu` or unmap', source: '`mapping.c:dma_map_sgtable` kernel-doc; HOWTO' },
  R36: { group: 'Streaming ownership', clause: 'Before handing a CPU-touched buffer back to the device, call `dma_sync_*_for_device`', source: 'HOWTO "Using Streaming DMA mappings"' },
  R37: { group: 'Streaming ownership', clause: 'If the CPU does not touch the data between map and unmap, no sync calls are needed', source: 'HOWTO' },
  R38: { group: 'Streaming ownership', clause: 'Unmap only after the DMA has completed', source: 'HOWTO' },
  R39: { group: 'Streaming ownership', clause: 'Every map needs a matching unmap, because DMA address space is a shared resource', source: 'HOWTO' },
  R40: { group: 'Streaming ownership', clause: 'Unmap parameters (address, size, direction) must be identical to those used/returned at map time', source: 'API Part Id' },
  R41: { group: 'Streaming ownership', clause: '`dma_sync_single_*` may use a sub-range of the mapping for partial syncs', source: 'API Part Id' },
  R42: { group: 'Streaming ownership', clause: 'Streaming map/unmap may be called from interrupt context', source: 'HOWTO' },
  R43: { group: 'Streaming ownership', clause: '`DMA_ATTR_SKIP_CPU_SYNC` assumes the buffer is already in the device domain; on unmap it keeps the buffer there', source: 'ATTR' },
  R44: { group: 'Scatter-gather', clause: '`dma_map_sg` may return fewer entries than `nents` (merging); iterate the returned count with `sg_dma_address`/`sg_dma_len`', source: 'API Part Id' },
  R45: { group: 'Scatter-gather', clause: '`dma_unmap_sg` and `dma_sync_sg_*` take the original `nents`, never the returned count', source: 'API Part Id; HOWTO' },
  R46: { group: 'Scatter-gather', clause: 'An sg list must not be mapped again while mapped; mapping may destroy information in it', source: 'API Part Id' },
  R47: { group: 'Scatter-gather', clause: 'On sg mapping failure the driver must act (abort the request); ignoring it risks corruption', source: 'API Part Id' },
  R48: { group: 'Scatter-gather', clause: '`dma_unmap_sgtable`/`dma_sync_sgtable_*` use `orig_nents`; `dma_map_sgtable` stores the mapped count in `nents`', source: 'dma-mapping.h kernel-doc' },
  R49: { group: 'Non-coherent allocations', clause: 'Memory from `dma_alloc_pages`/`dma_alloc_noncoherent` must be synced with `dma_sync_single_for_device` before device use and `..._for_cpu` before reading device writes', source: 'API Part II' },
  R50: { group: 'Non-coherent allocations', clause: '`dma_free_pages`/`dma_free_noncoherent` need the same dev, size, handle and direction as the allocation', source: 'API Part II' },
  R51: { group: 'Non-coherent allocations', clause: '`dma_alloc_noncontiguous` accepts only attrs 0 or `DMA_ATTR_ALLOC_SINGLE_PAGES`, returns exactly one DMA segment (`nents` 1), and must be synced with `dma_sync_sgtable_*`', source: 'API Part II' },
  R52: { group: 'Non-coherent allocations', clause: 'After `dma_vmap_noncontiguous`, coherency between the vmap and the device must be managed with `flush_kernel_vmap_range`/`invalidate_kernel_vmap_range`', source: 'API Part II' },
  R53: { group: 'Attribute-specific', clause: 'All mappings that intentionally share a cache line must carry `DMA_ATTR_DEBUGGING_IGNORE_CACHELINES`, and the CPU must not dirty those lines while mapped', source: 'ATTR' },
  R54: { group: 'Attribute-specific', clause: '`DMA_ATTR_REQUIRE_COHERENT` must only be used for user memory (`pin_user_pages`), never in purely in-kernel drivers', source: 'ATTR' },
  R55: { group: 'Attribute-specific', clause: '`DMA_ATTR_CC_SHARED` describes already-decrypted memory and must not be passed to `dma_alloc_attrs`', source: 'ATTR' },
  R56: { group: 'Attribute-specific', clause: 'Unsupported optional attributes are silently ignored by platforms', source: 'ATTR, several' },
} as const satisfies Record<string, Rule>;

/** A rule id that exists (`'R25'`); anything else is a type error. */
export type RuleId = keyof typeof RULES;

/** True when `id` names a rule. */
export function isRuleId(id: string): id is RuleId {
  return Object.hasOwn(RULES, id);
}
