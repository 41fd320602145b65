/**
 * GFP flags: how an allocation may behave (block or not, which zone, zero,
 * warn). Mirrors include/linux/gfp_types.h and the helpers of gfp.h that the
 * DMA layer uses.
 */

/** A set of `__GFP_*` bits. */
export type Gfp = number;

export const __GFP_DMA = 0x01;
export const __GFP_HIGHMEM = 0x02;
export const __GFP_DMA32 = 0x04;
export const __GFP_MOVABLE = 0x08;
export const __GFP_HIGH = 0x20;
export const __GFP_IO = 0x40;
export const __GFP_FS = 0x80;
export const __GFP_ZERO = 0x100;
export const __GFP_DIRECT_RECLAIM = 0x400;
export const __GFP_KSWAPD_RECLAIM = 0x800;
export const __GFP_NOWARN = 0x2000;
export const __GFP_NORETRY = 0x10000;
export const __GFP_COMP = 0x40000;

/** `GFP_ZONEMASK`: the zone modifier bits. */
export const GFP_ZONEMASK = __GFP_DMA | __GFP_HIGHMEM | __GFP_DMA32 | __GFP_MOVABLE;
export const __GFP_RECLAIM = __GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM;
/** May sleep, may do I/O: process context. */
export const GFP_KERNEL = __GFP_RECLAIM | __GFP_IO | __GFP_FS;
/** May not sleep; may use reserves: interrupt context. */
export const GFP_ATOMIC = __GFP_HIGH | __GFP_KSWAPD_RECLAIM;
/** May not sleep, no reserves. */
export const GFP_NOWAIT = __GFP_KSWAPD_RECLAIM;
export const GFP_DMA = __GFP_DMA;
export const GFP_DMA32 = __GFP_DMA32;

/** `gfpflags_allow_blocking`: true when the allocation may sleep. */
export function gfpflagsAllowBlocking(gfp: Gfp): boolean {
  return (gfp & __GFP_DIRECT_RECLAIM) !== 0;
}

const NAMES: [number, string][] = [
  [GFP_KERNEL, 'GFP_KERNEL'],
  [GFP_ATOMIC, 'GFP_ATOMIC'],
  [GFP_NOWAIT, 'GFP_NOWAIT'],
  [__GFP_DMA, 'GFP_DMA'],
  [__GFP_DMA32, 'GFP_DMA32'],
  [__GFP_HIGHMEM, '__GFP_HIGHMEM'],
  [__GFP_MOVABLE, '__GFP_MOVABLE'],
  [__GFP_ZERO, '__GFP_ZERO'],
  [__GFP_NOWARN, '__GFP_NOWARN'],
  [__GFP_NORETRY, '__GFP_NORETRY'],
  [__GFP_COMP, '__GFP_COMP'],
  [__GFP_HIGH, '__GFP_HIGH'],
  [__GFP_IO, '__GFP_IO'],
  [__GFP_FS, '__GFP_FS'],
  [__GFP_DIRECT_RECLAIM, '__GFP_DIRECT_RECLAIM'],
  [__GFP_KSWAPD_RECLAIM, '__GFP_KSWAPD_RECLAIM'],
];

/** Kernel-style spelling of a gfp value (`GFP_KERNEL|GFP_DMA|__GFP_ZERO`), as `%pGg` prints it (include/trace/events/mmflags.h names the zone modifiers GFP_DMA, GFP_DMA32). */
export function gfpToString(gfp: Gfp): string {
  const parts: string[] = [];
  let rest = gfp;
  for (const [bits, name] of NAMES) {
    if (bits !== 0 && (rest & bits) === bits) {
      parts.push(name);
      rest &= ~bits;
    }
  }
  if (rest !== 0) parts.push(`0x${(rest >>> 0).toString(16)}`);
  return parts.length === 0 ? '0' : parts.join('|');
}
