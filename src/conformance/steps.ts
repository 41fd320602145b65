/**
 * Not a kernel mirror: the driver steps of the conformance harness
 * (DESIGN.md "Driver steps and the generator"). A step is plain JSON data,
 * one member of a discriminated union on `op`, so one list of steps can be
 * generated, shrunk, printed, stored as a fixture and replayed on any
 * backend by the one interpreter (`session.ts`).
 *
 * Results of earlier steps are named symbolically: `b` coherent buffers from
 * `dma_alloc_attrs`, `k` kmalloc objects, `p` page blocks from
 * `alloc_pages`, `m` single mappings (`dma_map_single`/`dma_map_page`), `s`
 * scatterlist mappings, `u` user mappings, `n` non-coherent allocations
 * (`dma_alloc_pages`, `_noncoherent`, `_noncontiguous`: an object and its
 * own streaming-like mapping under one name), `r` resource mappings
 * (`dma_map_resource`). Offsets and sizes are bytes,
 * relative to the object or mapping the step names.
 */
import * as dmaMapping from '../linux/include/linux/dma-mapping.ts';
import { MISUSE_INFO, type Misuse } from './misuse.ts';
import { type ProfileOverrides, describeOverrides } from './variation.ts';
import { GFP_ATOMIC, GFP_DMA, GFP_DMA32, GFP_KERNEL, GFP_NOWAIT, __GFP_HIGHMEM, __GFP_NOWARN, __GFP_ZERO, type Gfp } from '../linux/include/linux/gfp.ts';

/** Directions a legal driver uses (`DMA_NONE` is only a placeholder, R28). */
export const DIRECTIONS = ['DMA_TO_DEVICE', 'DMA_FROM_DEVICE', 'DMA_BIDIRECTIONAL'] as const;
/** A direction by its kernel name. */
export type DirName = (typeof DIRECTIONS)[number];

/** Allocation flags the generator uses, by kernel name. */
export const GFP_NAMES = ['GFP_KERNEL', 'GFP_ATOMIC', 'GFP_NOWAIT'] as const;
/** A gfp mask by kernel name. */
export type GfpName = (typeof GFP_NAMES)[number];

/** Attributes the generator passes to `dma_alloc_attrs`, by kernel name. */
export const ALLOC_ATTRS = ['DMA_ATTR_NO_KERNEL_MAPPING', 'DMA_ATTR_WRITE_COMBINE', 'DMA_ATTR_FORCE_CONTIGUOUS'] as const;
/** An allocation attribute by kernel name. */
export type AllocAttrName = (typeof ALLOC_ATTRS)[number];

/**
 * Attributes the generator passes to the streaming calls, by kernel name.
 * `DMA_ATTR_SKIP_CPU_SYNC` changes ownership (the driver syncs explicitly,
 * R43); the others are hints a backend may ignore (R56) but must accept.
 */
export const MAP_ATTRS = ['DMA_ATTR_SKIP_CPU_SYNC', 'DMA_ATTR_WEAK_ORDERING', 'DMA_ATTR_PRIVILEGED', 'DMA_ATTR_NO_WARN'] as const;
/** A streaming attribute by kernel name. */
export type MapAttrName = (typeof MAP_ATTRS)[number];

/**
 * gfp modifiers the generator adds to an allocation, by kernel name: zone
 * modifiers (which `dma_alloc_attrs` strips, R24, and `kmalloc`/`alloc_pages`
 * honour), zeroing and no-warn.
 */
export const GFP_FLAGS = ['__GFP_ZERO', 'GFP_DMA', 'GFP_DMA32', '__GFP_NOWARN'] as const;
/** A gfp modifier by kernel name. */
export type GfpFlagName = (typeof GFP_FLAGS)[number];

/**
 * The three non-coherent allocators of Documentation/core-api/dma-api.rst
 * Part II: `dma_alloc_pages` (a page), `dma_alloc_noncoherent` (a kernel
 * address), `dma_alloc_noncontiguous` (an sg table, used through
 * `dma_vmap_noncontiguous` and synced whole with `dma_sync_sgtable_*`).
 */
export const NC_APIS = ['pages', 'noncoherent', 'noncontiguous'] as const;
/** One non-coherent allocator. */
export type NcApi = (typeof NC_APIS)[number];

/** Which mask a `setMask` step sets: `dma_set_mask`, `dma_set_coherent_mask` or `dma_set_mask_and_coherent`. */
export const MASK_CALLS = ['mask', 'coherent', 'both'] as const;

/** Invalid calls the `badCall` step makes; each has a documented failure value (see `session.ts`). */
export const BAD_CALLS = [
  'allocZeroSize',
  'allocGfpComp',
  'mapSingleZeroSize',
  'mapSingleDmaNone',
  'mapSingleVmalloc',
  'mapPageMmio',
  'unmapUnknownHandle',
  'unmapOtherSize',
  'syncPastEnd',
  'freeOtherSize',
  'mmapTooLarge',
  'getSgtableUnknownHandle',
  'mapSgZeroNents',
] as const;
/** One kind of invalid call. */
export type BadCall = (typeof BAD_CALLS)[number];

/**
 * Who refuses each invalid call: `linux` where the kernel itself checks
 * (`__GFP_COMP` and `DMA_ATTR_MMIO` WARN and fail, a vmalloc address is
 * refused by `dma_map_single`, zero sg entries map to 0), `hardening` where
 * the kernel trusts the caller and the reference's refusal goes beyond it
 * (`DMA_NONE` is a `BUG()`, sizes and handles are not checked, `dma_mmap`
 * trusts the size it is given). The generator draws a bad call only for a
 * backend claiming its level.
 * @see kernel/dma/mapping.c dma_alloc_attrs, dma_map_page_attrs, __dma_map_sg_attrs; include/linux/dma-mapping.h dma_map_single_attrs
 */
export const BAD_CALL_LEVEL: Readonly<Record<BadCall, 'linux' | 'hardening'>> = {
  allocZeroSize: 'hardening',
  allocGfpComp: 'linux',
  mapSingleZeroSize: 'hardening',
  mapSingleDmaNone: 'hardening',
  mapSingleVmalloc: 'linux',
  mapPageMmio: 'linux',
  unmapUnknownHandle: 'hardening',
  unmapOtherSize: 'hardening',
  syncPastEnd: 'hardening',
  freeOtherSize: 'hardening',
  mmapTooLarge: 'hardening',
  getSgtableUnknownHandle: 'hardening',
  mapSgZeroNents: 'linux',
};

/** One scatterlist segment: bytes `[offset, offset + size)` of object `ref` (a `k` or `p`). */
export interface SgSeg {
  readonly ref: string;
  readonly offset: number;
  readonly size: number;
}

/** One driver step. */
export type Step =
  | { readonly op: 'alloc'; readonly id: string; readonly dev: string; readonly size: number; readonly gfp: GfpName; readonly attrs: readonly AllocAttrName[]; readonly flags?: readonly GfpFlagName[] }
  | { readonly op: 'free'; readonly ref: string }
  | { readonly op: 'mmap'; readonly id: string; readonly ref: string; readonly api?: 'pages' | 'noncontiguous' }
  | { readonly op: 'munmap'; readonly ref: string }
  | { readonly op: 'getSgtable'; readonly ref: string }
  | { readonly op: 'kmalloc'; readonly id: string; readonly size: number; readonly gfp: GfpName; readonly flags?: readonly GfpFlagName[] }
  | { readonly op: 'kfree'; readonly ref: string }
  | { readonly op: 'allocPages'; readonly id: string; readonly order: number; readonly gfp: GfpName; readonly highmem: boolean; readonly flags?: readonly GfpFlagName[] }
  | { readonly op: 'freePages'; readonly ref: string }
  | { readonly op: 'mapSingle'; readonly id: string; readonly ref: string; readonly dev: string; readonly dir: DirName; readonly attrs?: readonly MapAttrName[] }
  | { readonly op: 'mapPage'; readonly id: string; readonly ref: string; readonly dev: string; readonly offset: number; readonly size: number; readonly dir: DirName; readonly attrs?: readonly MapAttrName[] }
  | { readonly op: 'mapSg'; readonly id: string; readonly dev: string; readonly segs: readonly SgSeg[]; readonly dir: DirName; readonly attrs?: readonly MapAttrName[] }
  | { readonly op: 'unmapSingle'; readonly ref: string; readonly attrs?: readonly MapAttrName[] }
  | { readonly op: 'unmapSg'; readonly ref: string; readonly attrs?: readonly MapAttrName[] }
  | { readonly op: 'setMask'; readonly dev: string; readonly which: (typeof MASK_CALLS)[number]; readonly bits: number }
  | { readonly op: 'platform'; readonly overrides: ProfileOverrides }
  | { readonly op: 'syncForCpu'; readonly ref: string; readonly offset: number; readonly size: number }
  | { readonly op: 'syncForDevice'; readonly ref: string; readonly offset: number; readonly size: number }
  | { readonly op: 'cpuWrite'; readonly ref: string; readonly offset: number; readonly size: number; readonly pattern: number }
  | { readonly op: 'cpuRead'; readonly ref: string; readonly offset: number; readonly size: number }
  | { readonly op: 'cpuWriteNeighbour'; readonly ref: string; readonly pattern: number }
  | { readonly op: 'deviceWrite'; readonly ref: string; readonly offset: number; readonly size: number; readonly pattern: number }
  | { readonly op: 'deviceRead'; readonly ref: string; readonly offset: number; readonly size: number }
  | { readonly op: 'userRead'; readonly ref: string; readonly offset: number; readonly size: number }
  | { readonly op: 'dmaWmb' }
  | { readonly op: 'setContext'; readonly context: 'process' | 'atomic' }
  | { readonly op: 'speculativeFill'; readonly ref: string; readonly offset: number }
  | { readonly op: 'evict'; readonly ref: string; readonly offset: number }
  | { readonly op: 'wcDrain' }
  | { readonly op: 'cmaPin'; readonly area: string; readonly page: number }
  | { readonly op: 'runWork' }
  | { readonly op: 'badCall'; readonly call: BadCall; readonly ref?: string }
  | { readonly op: 'allocNc'; readonly id: string; readonly dev: string; readonly api: NcApi; readonly size: number; readonly dir: DirName; readonly gfp: GfpName; readonly flags?: readonly GfpFlagName[] }
  | { readonly op: 'freeNc'; readonly ref: string; readonly api: NcApi }
  | { readonly op: 'mapResource'; readonly id: string; readonly dev: string; readonly resource: string; readonly offset: number; readonly size: number; readonly dir: DirName }
  | { readonly op: 'unmapResource'; readonly ref: string }
  | { readonly op: 'queryAddressing'; readonly dev: string }
  | { readonly op: 'misuse'; readonly misuse: Misuse; readonly ref: string };

/** A step's `op`. */
export type StepOp = Step['op'];

/** Every op, in the order the pretty printer documents them. */
export const STEP_OPS = [
  'alloc', 'free', 'mmap', 'munmap', 'getSgtable', 'kmalloc', 'kfree', 'allocPages', 'freePages',
  'mapSingle', 'mapPage', 'mapSg', 'unmapSingle', 'unmapSg', 'syncForCpu', 'syncForDevice',
  'cpuWrite', 'cpuRead', 'cpuWriteNeighbour', 'deviceWrite', 'deviceRead', 'userRead',
  'dmaWmb', 'setContext', 'speculativeFill', 'evict', 'wcDrain', 'cmaPin', 'runWork', 'badCall', 'setMask', 'platform',
  'allocNc', 'freeNc', 'mapResource', 'unmapResource', 'queryAddressing', 'misuse',
] as const satisfies readonly StepOp[];

/** The symbolic id a step creates, if any. */
export function definedId(step: Step): string | null {
  return 'id' in step ? step.id : null;
}

/** The symbolic ids a step uses. */
export function usedIds(step: Step): string[] {
  if (step.op === 'mapSg') return step.segs.map((s) => s.ref);
  if ('ref' in step && step.ref !== undefined) return [step.ref];
  return [];
}

/** Kernel value of a direction name. */
export function dirValue(d: DirName): number {
  return dmaMapping[d];
}

const GFP_FLAG_VALUES: Readonly<Record<GfpFlagName, Gfp>> = { __GFP_ZERO, GFP_DMA, GFP_DMA32, __GFP_NOWARN };

/** Kernel value of a gfp name with its modifiers. */
export function gfpValue(g: GfpName, highmem = false, flags: readonly GfpFlagName[] = []): Gfp {
  let v = g === 'GFP_KERNEL' ? GFP_KERNEL : g === 'GFP_ATOMIC' ? GFP_ATOMIC : GFP_NOWAIT;
  if (highmem) v |= __GFP_HIGHMEM;
  for (const f of flags) v |= GFP_FLAG_VALUES[f];
  return v;
}

/** Kernel value of a list of attribute names. */
export function attrsValue(names: readonly (AllocAttrName | MapAttrName)[]): number {
  let v = 0;
  for (const n of names) v |= dmaMapping[n];
  return v;
}

/**
 * The bytes a `cpuWrite`/`deviceWrite`/`cpuWriteNeighbour` step stores:
 * byte `i` of the data for `pattern`, a small integer hash, so a step stays
 * a few numbers in JSON and two patterns differ in almost every byte.
 */
export function patternBytes(pattern: number, sizeBytes: number): Uint8Array {
  const out = new Uint8Array(sizeBytes);
  let x = (pattern ^ 0x9e3779b9) >>> 0 || 1;
  for (let i = 0; i < sizeBytes; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

function attrText(attrs: readonly string[] | undefined): string {
  return attrs === undefined || attrs.length === 0 ? '0' : attrs.join(' | ');
}

function withAttrs(attrs: readonly string[] | undefined): string {
  return attrs === undefined || attrs.length === 0 ? '' : '_attrs';
}

function attrArg(attrs: readonly string[] | undefined): string {
  return attrs === undefined || attrs.length === 0 ? '' : `, ${attrText(attrs)}`;
}

function gfpText(gfp: GfpName, flags: readonly GfpFlagName[] | undefined): string {
  return [gfp, ...(flags ?? [])].join(' | ');
}

function range(offset: number, size: number): string {
  return offset === 0 ? `${size}` : `${offset}, ${size}`;
}

/**
 * One step in kernel call syntax, as a driver would write it
 * (`b1 = dma_alloc_attrs(gpu0, 8192, GFP_KERNEL, DMA_ATTR_NO_KERNEL_MAPPING)`).
 * Harness actions that are not kernel calls (device DMA, cache events) are
 * written as `device_write(m1 + 0, 64, pattern 7)` and `event: ...`.
 */
export function formatStep(step: Step): string {
  switch (step.op) {
    case 'alloc':
      return `${step.id} = dma_alloc_attrs(${step.dev}, ${step.size}, ${gfpText(step.gfp, step.flags)}, ${attrText(step.attrs)})`;
    case 'free':
      return `dma_free_attrs(${step.ref})`;
    case 'mmap':
      return `${step.id} = dma_mmap_${step.api ?? 'attrs'}(${step.ref})`;
    case 'munmap':
      return `munmap(${step.ref})`;
    case 'getSgtable':
      return `dma_get_sgtable_attrs(${step.ref})`;
    case 'kmalloc':
      return `${step.id} = kmalloc(${step.size}, ${gfpText(step.gfp, step.flags)})`;
    case 'kfree':
      return `kfree(${step.ref})`;
    case 'allocPages':
      return `${step.id} = alloc_pages(${gfpText(step.gfp, step.flags)}${step.highmem ? ' | __GFP_HIGHMEM' : ''}, ${step.order})`;
    case 'freePages':
      return `__free_pages(${step.ref})`;
    case 'mapSingle':
      return step.attrs === undefined || step.attrs.length === 0 ? `${step.id} = dma_map_single(${step.dev}, ${step.ref}, ${step.dir})` : `${step.id} = dma_map_single_attrs(${step.dev}, ${step.ref}, ${step.dir}, ${attrText(step.attrs)})`;
    case 'mapPage':
      return `${step.id} = dma_map_page${withAttrs(step.attrs)}(${step.dev}, ${step.ref}, ${step.offset}, ${step.size}, ${step.dir}${attrArg(step.attrs)})`;
    case 'mapSg':
      return `${step.id} = dma_map_sg${withAttrs(step.attrs)}(${step.dev}, [${step.segs.map((s) => `${s.ref}+${s.offset}:${s.size}`).join(', ')}], ${step.dir}${attrArg(step.attrs)})`;
    case 'unmapSingle':
      return `dma_unmap_single${withAttrs(step.attrs)}(${step.ref}${attrArg(step.attrs)})`;
    case 'unmapSg':
      return `dma_unmap_sg${withAttrs(step.attrs)}(${step.ref}${attrArg(step.attrs)})`;
    case 'platform':
      return `platform: the profile with ${describeOverrides(step.overrides)}`;
    case 'setMask':
      return `${step.which === 'mask' ? 'dma_set_mask' : step.which === 'coherent' ? 'dma_set_coherent_mask' : 'dma_set_mask_and_coherent'}(${step.dev}, DMA_BIT_MASK(${step.bits}))`;
    case 'syncForCpu':
      return `dma_sync_for_cpu(${step.ref}, ${range(step.offset, step.size)})`;
    case 'syncForDevice':
      return `dma_sync_for_device(${step.ref}, ${range(step.offset, step.size)})`;
    case 'cpuWrite':
      return `cpu_write(${step.ref} + ${step.offset}, ${step.size}, pattern ${step.pattern})`;
    case 'cpuRead':
      return `cpu_read(${step.ref} + ${step.offset}, ${step.size})`;
    case 'cpuWriteNeighbour':
      return `cpu_write(neighbour of ${step.ref}, pattern ${step.pattern})`;
    case 'deviceWrite':
      return `device_write(${step.ref} + ${step.offset}, ${step.size}, pattern ${step.pattern})`;
    case 'deviceRead':
      return `device_read(${step.ref} + ${step.offset}, ${step.size})`;
    case 'userRead':
      return `user_read(${step.ref} + ${step.offset}, ${step.size})`;
    case 'dmaWmb':
      return 'dma_wmb()';
    case 'setContext':
      return step.context === 'atomic' ? 'local_irq_disable()  /* atomic context */' : 'local_irq_enable()  /* process context */';
    case 'speculativeFill':
      return `event: speculative fill of the line at ${step.ref} + ${step.offset}`;
    case 'evict':
      return `event: eviction of the line at ${step.ref} + ${step.offset}`;
    case 'wcDrain':
      return 'event: write-combine buffer drains';
    case 'cmaPin':
      return `event: a long-term pin lands on page ${step.page} of CMA area ${step.area}`;
    case 'runWork':
      return 'event: time passes: expired kernel timers (an IOMMU flush queue) and the system workqueue run';
    case 'badCall':
      return `bad call: ${step.call}${step.ref === undefined ? '' : `(${step.ref})`}`;
    case 'allocNc':
      return step.api === 'noncontiguous'
        ? `${step.id} = dma_vmap_noncontiguous(dma_alloc_noncontiguous(${step.dev}, ${step.size}, ${step.dir}, ${gfpText(step.gfp, step.flags)}, 0))`
        : `${step.id} = dma_alloc_${step.api}(${step.dev}, ${step.size}, ${step.dir}, ${gfpText(step.gfp, step.flags)})`;
    case 'freeNc':
      return step.api === 'noncontiguous' ? `dma_free_noncontiguous(${step.ref})  /* after dma_vunmap_noncontiguous */` : `dma_free_${step.api}(${step.ref})`;
    case 'mapResource':
      return `${step.id} = dma_map_resource(${step.dev}, ${step.resource} + ${step.offset}, ${step.size}, ${step.dir}, 0)`;
    case 'unmapResource':
      return `dma_unmap_resource(${step.ref})`;
    case 'misuse':
      return `misuse: ${step.misuse}(${step.ref})  /* ${MISUSE_INFO[step.misuse].summary} */`;
    case 'queryAddressing':
      return `dma_addressing_limited(${step.dev}), dma_get_required_mask(${step.dev}), dma_opt_mapping_size(${step.dev}), dma_need_unmap(${step.dev}), dma_get_merge_boundary(${step.dev})`;
  }
}

/**
 * Rename the symbolic ids of a sequence in order of definition (`b1`, `b2`,
 * `k1`, ...), so a shrunk trace reads from 1 again. Names are only symbols:
 * the renamed sequence does exactly what the original did.
 */
export function renumber(steps: readonly Step[]): Step[] {
  const names = new Map<string, string>();
  const counters = new Map<string, number>();
  const name = (id: string) => names.get(id) ?? id;
  return steps.map((step) => {
    let out: Step = step;
    if (out.op === 'mapSg') out = { ...out, segs: out.segs.map((s) => ({ ...s, ref: name(s.ref) })) };
    else if ('ref' in out && out.ref !== undefined) out = { ...out, ref: name(out.ref) };
    if ('id' in out) {
      const prefix = out.id.replace(/\d+$/, '');
      const n = (counters.get(prefix) ?? 0) + 1;
      counters.set(prefix, n);
      names.set(out.id, `${prefix}${n}`);
      out = { ...out, id: `${prefix}${n}` };
    }
    return out;
  });
}
