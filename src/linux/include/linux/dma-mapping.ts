/**
 * The driver-facing constants of include/linux/dma-mapping.h and
 * dma-direction.h: directions, attributes, `DMA_MAPPING_ERROR`,
 * `DMA_BIT_MASK`, and their kernel spellings for traces and diagnostics.
 */
import { type DmaAddr, maskLimit } from '../../../platform/types.ts';

/** `enum dma_data_direction`. */
export const DMA_BIDIRECTIONAL = 0;
export const DMA_TO_DEVICE = 1;
export const DMA_FROM_DEVICE = 2;
export const DMA_NONE = 3;
/** A direction value (legal ones: {@link validDmaDirection}). */
export type DmaDataDirection = number;

/** `valid_dma_direction`: BIDIRECTIONAL, TO_DEVICE or FROM_DEVICE (never DMA_NONE). */
export function validDmaDirection(dir: number): boolean {
  return dir === DMA_BIDIRECTIONAL || dir === DMA_TO_DEVICE || dir === DMA_FROM_DEVICE;
}

const DIR_NAMES = ['DMA_BIDIRECTIONAL', 'DMA_TO_DEVICE', 'DMA_FROM_DEVICE', 'DMA_NONE'];

/** Kernel spelling of a direction (`DMA_FROM_DEVICE`), or the raw number when invalid. */
export function dirToString(dir: number): string {
  return DIR_NAMES[dir] ?? String(dir);
}

/** `DMA_ATTR_*` bits (values as in include/linux/dma-mapping.h). */
export const DMA_ATTR_WEAK_ORDERING = 1 << 1;
export const DMA_ATTR_WRITE_COMBINE = 1 << 2;
/**
 * Removed in v5.10 ("dma-mapping: remove DMA_ATTR_NON_CONSISTENT"): asked
 * `dma_alloc_attrs` for cacheable memory whose ownership moved with
 * `dma_cache_sync()`. Only the kernel-history knobs of seed 003 use it.
 */
export const DMA_ATTR_NON_CONSISTENT = 1 << 3;
export const DMA_ATTR_NO_KERNEL_MAPPING = 1 << 4;
export const DMA_ATTR_SKIP_CPU_SYNC = 1 << 5;
export const DMA_ATTR_FORCE_CONTIGUOUS = 1 << 6;
export const DMA_ATTR_ALLOC_SINGLE_PAGES = 1 << 7;
export const DMA_ATTR_NO_WARN = 1 << 8;
export const DMA_ATTR_PRIVILEGED = 1 << 9;
export const DMA_ATTR_MMIO = 1 << 10;
export const DMA_ATTR_DEBUGGING_IGNORE_CACHELINES = 1 << 11;
export const DMA_ATTR_REQUIRE_COHERENT = 1 << 12;

const ATTR_NAMES: [number, string][] = [
  [DMA_ATTR_WEAK_ORDERING, 'DMA_ATTR_WEAK_ORDERING'],
  [DMA_ATTR_WRITE_COMBINE, 'DMA_ATTR_WRITE_COMBINE'],
  [DMA_ATTR_NO_KERNEL_MAPPING, 'DMA_ATTR_NO_KERNEL_MAPPING'],
  [DMA_ATTR_SKIP_CPU_SYNC, 'DMA_ATTR_SKIP_CPU_SYNC'],
  [DMA_ATTR_FORCE_CONTIGUOUS, 'DMA_ATTR_FORCE_CONTIGUOUS'],
  [DMA_ATTR_ALLOC_SINGLE_PAGES, 'DMA_ATTR_ALLOC_SINGLE_PAGES'],
  [DMA_ATTR_NO_WARN, 'DMA_ATTR_NO_WARN'],
  [DMA_ATTR_PRIVILEGED, 'DMA_ATTR_PRIVILEGED'],
  [DMA_ATTR_MMIO, 'DMA_ATTR_MMIO'],
  [DMA_ATTR_DEBUGGING_IGNORE_CACHELINES, 'DMA_ATTR_DEBUGGING_IGNORE_CACHELINES'],
  [DMA_ATTR_REQUIRE_COHERENT, 'DMA_ATTR_REQUIRE_COHERENT'],
];

/** Every attribute bit the model knows. */
export const DMA_ATTR_ALL = ATTR_NAMES.reduce((m, [b]) => m | b, 0);

/** Kernel spelling of an attribute set (`DMA_ATTR_NO_KERNEL_MAPPING|DMA_ATTR_NO_WARN`, or `0`). */
export function attrsToString(attrs: number): string {
  const parts = ATTR_NAMES.filter(([b]) => (attrs & b) !== 0).map(([, n]) => n);
  const rest = (attrs & ~DMA_ATTR_ALL) >>> 0;
  if (rest !== 0) parts.push(`0x${rest.toString(16)}`);
  return parts.length === 0 ? '0' : parts.join('|');
}

/**
 * `DMA_MAPPING_ERROR`: the all-ones `dma_addr_t` that single mappings return
 * on failure. Modelled as 2^53 - 1, above every simulated address, and equal
 * to `DMA_BIT_MASK(64)` as in the kernel.
 */
export const DMA_MAPPING_ERROR = Number.MAX_SAFE_INTEGER as DmaAddr;

/** `DMA_BIT_MASK(bits)`: the highest address a mask of this width covers. */
export const DMA_BIT_MASK = maskLimit;

/** `SIZE_MAX` as `dma_max_mapping_size` reports "no limit". */
export const SIZE_MAX = Number.MAX_SAFE_INTEGER;
