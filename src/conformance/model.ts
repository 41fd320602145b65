/**
 * Not a kernel mirror: the symbolic driver model, the part of the contract
 * model (DESIGN.md "The contract model") that knows which objects and
 * mappings exist, who owns which bytes, and so which step is legal now.
 *
 * Ownership is kept per {@link GRANULE_BYTES} granule of each object: the
 * CPU owns an object until it is mapped; mapping and `dma_sync_*_for_device`
 * give the mapped granules to the device (R35/R36); `dma_sync_*_for_cpu` and
 * unmap give them back. {@link ModelState.check} names the rule a step would
 * break, so the generator draws only legal steps, shrinking can re-check
 * legality, and a later misuse mode can say which step broke which rule.
 * The model holds no addresses and no bytes: those are the session's and the
 * oracle's.
 */
import type { LegalityReason } from '../../spec/legality.ts';
import { PAGE_SIZE } from '../platform/types.ts';
import { rangePhysToDma } from '../platform/bus.ts';
import type { PlatformProfile } from '../platform/profiles.ts';
import { type NcApi, type SgSeg, type Step, definedId, usedIds } from './steps.ts';
import { legalPrefix, misuseTargetProblem, modelEffect } from './misuse.ts';

/** An MMIO region a driver may map with `dma_map_resource`: its size, the devices that reach it as it is, where it lies and the CPU's cache line (what dma-debug keys its overlap tracking by). */
export interface ResourceInfo {
  readonly sizeBytes: number;
  readonly users: readonly string[];
  readonly basePhys?: number;
  readonly lineBytes?: number;
}

/**
 * For each MMIO region of `profile`, its size and the devices that may
 * target it with `dma_map_resource`: those that see it at its CPU physical
 * address (no `dma-ranges`, or a window mapping it 1:1), and every device
 * behind an IOMMU (dma-iommu maps the resource at an IOVA). Linux does not
 * translate a resource through `dma_range_map` (kernel/dma/direct.h
 * `dma_direct_map_phys` with `DMA_ATTR_MMIO`, v6.18), so for any other
 * device the mapping would lead elsewhere: a driver does not do that.
 */
export function resourceUsers(profile: PlatformProfile): Map<string, ResourceInfo> {
  const out = new Map<string, ResourceInfo>();
  for (const r of profile.mmio) {
    const users = profile.devices
      .filter((d) => d.iommu !== null || rangePhysToDma(d.dmaRanges, r.basePhys) === r.basePhys && rangePhysToDma(d.dmaRanges, r.basePhys + r.sizeBytes - 1) === r.basePhys + r.sizeBytes - 1)
      .map((d) => d.name);
    out.set(r.name, { sizeBytes: r.sizeBytes, users, basePhys: r.basePhys, lineBytes: profile.cache.lineSizeBytes });
  }
  return out;
}

/**
 * Ownership granule, bytes: the largest `dma_get_cache_alignment()` of any
 * profile (arm64's `ARCH_DMA_MINALIGN`), so that partial syncs and mapping
 * edges the generator draws are legal on every profile (R9).
 */
export const GRANULE_BYTES = 128;

/** Why a step is not legal now: a rule it breaks, or a harness reason; each is listed, with its source, in spec/legality.ts. */
export type Illegal = LegalityReason;

/**
 * Kinds of memory object a driver holds. A `noncoherent` object (from
 * `dma_alloc_pages`, `dma_alloc_noncoherent` or `dma_alloc_noncontiguous`)
 * comes with a mapping of the same name that holds it for as long as it
 * lives: ownership moves with the syncs alone (dma-api.rst Part II).
 */
export type ObjKind = 'coherent' | 'kmalloc' | 'pages' | 'noncoherent';

/** A live memory object. */
export interface ModelObject {
  readonly id: string;
  readonly kind: ObjKind;
  /** Bytes requested (`dma_alloc_attrs` size, `kmalloc` size, or `PAGE_SIZE << order`). */
  readonly sizeBytes: number;
  /** Allocating device (coherent buffers only). */
  readonly dev: string | null;
  /** The object has a kernel virtual address the CPU may use (false for NO_KERNEL_MAPPING). */
  readonly kernelMapping: boolean;
  /** How a coherent buffer was allocated (gfp and attribute names); empty for the others. */
  readonly alloc?: { readonly gfp: string; readonly attrs: readonly string[] };
  /** Which allocator a non-coherent object came from. */
  readonly api?: NcApi;
  /** Mapping that holds the object now, if any. */
  mappedBy: string | null;
  /** Live user mappings of it. */
  readonly vmas: Set<string>;
  /** Owner per granule, one of {@link OWNER}. Coherent buffers stay CPU (both sides own them, R32). */
  readonly owner: Uint8Array;
}

/** One segment of a mapping: bytes of an object, placed at `mapOffset` in the mapping. */
export interface ModelSegment {
  readonly obj: string;
  readonly objOffset: number;
  readonly sizeBytes: number;
  readonly mapOffset: number;
}

/**
 * A live streaming mapping: `single`/`page`/`sg` from the map calls; `nc`
 * and `ncsg`, the lifelong mapping of a non-coherent object (synced in
 * ranges, or whole as an sg table); `resource`, device MMIO (no object,
 * no ownership, no syncs).
 */
export interface ModelMapping {
  readonly id: string;
  readonly kind: 'single' | 'page' | 'sg' | 'nc' | 'ncsg' | 'resource';
  readonly dev: string;
  readonly dir: 'DMA_TO_DEVICE' | 'DMA_FROM_DEVICE' | 'DMA_BIDIRECTIONAL';
  readonly segs: readonly ModelSegment[];
  /** Total bytes. */
  readonly sizeBytes: number;
  /** A resource mapping's MMIO region and first byte in it. */
  readonly resource?: { readonly name: string; readonly offset: number };
}

/** A live user mapping of a coherent buffer. */
export interface ModelVma {
  readonly id: string;
  readonly obj: string;
}

/**
 * Granule owners. `cpuDirty`: the CPU owns a mapped granule and has written
 * it; only `dma_sync_*_for_device` may follow (R36), because the for-cpu
 * maintenance of a second sync or of unmap may discard lines the CPU dirtied
 * (arm64 and ARM32 invalidate whole lines). `deviceDirty`: the device owns a
 * granule and has written it; the CPU must take the results with
 * `dma_sync_*_for_cpu` or unmap before it hands the granule back with
 * `dma_sync_*_for_device` (R35): on a bounced BIDIRECTIONAL mapping that
 * sync copies the CPU's copy over what the device wrote (swiotlb copy rules,
 * kernel/dma/swiotlb.c `swiotlb_bounce`).
 */
export const OWNER = { cpu: 0, device: 1, cpuDirty: 2, deviceDirty: 3 } as const;

function granules(sizeBytes: number): number {
  return Math.ceil(sizeBytes / GRANULE_BYTES);
}


/** The symbolic state one driver sequence walks through. */
export class ModelState {
  readonly objects = new Map<string, ModelObject>();
  readonly mappings = new Map<string, ModelMapping>();
  readonly vmas = new Map<string, ModelVma>();
  context: 'process' | 'atomic' = 'process';
  /**
   * A CPU store to a coherent buffer (the allocation's own zeroing included)
   * has not been ordered by `dma_wmb()` yet (R18). Coherent buffers of
   * non-coherent devices are mapped write-combine on arm64 and ARM32
   * (`pgprot_dmacoherent`), so such stores may still sit in the CPU's
   * write buffer; a driver orders them before the device or user space looks.
   */
  wcPending = false;
  private readonly counters = new Map<string, number>();
  /** The parameters of the coherent buffer freed last: the generator may allocate the same again (drivers free and refill rings; pools hand the same memory back). */
  lastFreed: { readonly dev: string; readonly sizeBytes: number; readonly gfp: string; readonly attrs: readonly string[] } | null = null;
  /** When each id was last defined or used (a step count): the generator's locality bias reads it. */
  readonly lastUse = new Map<string, number>();
  private clock = 0;

  /**
   * @param devices device names of the profile
   * @param resources MMIO regions with their size and the devices that may map them ({@link resourceUsers})
   */
  constructor(
    readonly devices: readonly string[],
    readonly resources: ReadonlyMap<string, ResourceInfo> = new Map(),
  ) {}

  /** The next unused id with `prefix` (`b1`, `b2`, ...). */
  nextId(prefix: string): string {
    const n = (this.counters.get(prefix) ?? 0) + 1;
    return `${prefix}${n}`;
  }

  private noteId(id: string): void {
    const m = /^([a-z]+)(\d+)$/.exec(id);
    if (m === null) return;
    const prefix = m[1] as string;
    const n = Number(m[2]);
    if (n > (this.counters.get(prefix) ?? 0)) this.counters.set(prefix, n);
  }

  private obj(ref: string, ...kinds: ObjKind[]): ModelObject | Illegal {
    const o = this.objects.get(ref);
    if (o === undefined) return 'no-such-object';
    if (!kinds.includes(o.kind)) return 'wrong-object-kind';
    return o;
  }

  /** Segments of an sg step, or why they are not legal. */
  private sgSegments(segs: readonly SgSeg[]): ModelSegment[] | Illegal {
    const out: ModelSegment[] = [];
    const seen = new Set<string>();
    let at = 0;
    for (const s of segs) {
      const o = this.obj(s.ref, 'kmalloc', 'pages');
      if (typeof o === 'string') return o;
      if (seen.has(s.ref) || o.mappedBy !== null) return 'R46';
      seen.add(s.ref);
      if (s.size <= 0 || s.offset < 0 || s.offset + s.size > o.sizeBytes) return 'out-of-range';
      out.push({ obj: s.ref, objOffset: s.offset, sizeBytes: s.size, mapOffset: at });
      at += s.size;
    }
    return out.length === 0 ? 'out-of-range' : out;
  }

  /** True when every granule of `[offset, offset+size)` of `o` has an owner in `who`. */
  private owned(o: ModelObject, offset: number, size: number, ...who: number[]): boolean {
    const g1 = Math.ceil((offset + size) / GRANULE_BYTES);
    for (let g = Math.floor(offset / GRANULE_BYTES); g < g1; g++) if (!who.includes(o.owner[g] as number)) return false;
    return true;
  }

  /** True when every granule under `[offset, offset+size)` of mapping `m` has an owner in `who`. */
  mappingOwned(m: ModelMapping, offset: number, size: number, ...who: number[]): boolean {
    return this.segmentsIn(m, offset, size).every((s) => this.owned(this.objects.get(s.obj) as ModelObject, s.objOffset, s.sizeBytes, ...who));
  }

  /** Maximal runs `[offset, offset+size)` of mapping `m` whose granules are all `who` (see {@link runsOwnedBy}). */
  runsOwned(m: ModelMapping, who: number): { offset: number; size: number }[] {
    return this.runsOwnedBy(m, [who]);
  }

  /**
   * The cuts of `[offset, offset+size)` of mapping `m`: its ends, and the
   * ownership-granule boundaries of the objects under it that are also
   * granule-aligned in mapping offsets, ascending. A partial sync keeps to
   * these cuts (R9): aligned in the buffer's own addresses and in the
   * mapping's, because a bounce buffer keeps the mapping's alignment (from
   * its slot), not the buffer's, unless the device has a `min_align_mask`.
   * A mapping that starts inside a granule therefore syncs whole.
   */
  granuleCuts(m: ModelMapping, offset: number, size: number): number[] {
    const cuts = new Set<number>([offset, offset + size]);
    for (const sg of m.segs) {
      const first = Math.ceil(sg.objOffset / GRANULE_BYTES) * GRANULE_BYTES;
      for (let g = first; g < sg.objOffset + sg.sizeBytes; g += GRANULE_BYTES) {
        const at = sg.mapOffset + (g - sg.objOffset);
        if (at > offset && at < offset + size && at % GRANULE_BYTES === 0) cuts.add(at);
      }
    }
    return [...cuts].sort((a, b) => a - b);
  }

  /** Maximal runs of mapping `m`, between {@link granuleCuts}, whose granules all have an owner in `who`. */
  runsOwnedBy(m: ModelMapping, who: readonly number[]): { offset: number; size: number }[] {
    const cuts = this.granuleCuts(m, 0, m.sizeBytes);
    const out: { offset: number; size: number }[] = [];
    let start = -1;
    for (let i = 0; i + 1 < cuts.length; i++) {
      const lo = cuts[i] as number;
      const hi = cuts[i + 1] as number;
      if (this.mappingOwned(m, lo, hi - lo, ...who)) {
        if (start < 0) start = lo;
      } else if (start >= 0) {
        out.push({ offset: start, size: lo - start });
        start = -1;
      }
    }
    if (start >= 0) out.push({ offset: start, size: m.sizeBytes - start });
    return out;
  }

  /** Maximal granule runs of object `o` (clipped to its size) whose owner is in `who`. */
  objectRunsOwnedBy(o: ModelObject, who: readonly number[]): { offset: number; size: number }[] {
    const out: { offset: number; size: number }[] = [];
    let start = -1;
    const n = o.owner.length;
    for (let g = 0; g <= n; g++) {
      const ok = g < n && who.includes(o.owner[g] as number);
      if (ok && start < 0) start = g * GRANULE_BYTES;
      if (!ok && start >= 0) {
        out.push({ offset: start, size: Math.min(g * GRANULE_BYTES, o.sizeBytes) - start });
        start = -1;
      }
    }
    return out;
  }

  /** For each object segment under `[offset, offset+size)` of mapping `m`: the object range. */
  segmentsIn(m: ModelMapping, offset: number, size: number): { obj: string; objOffset: number; sizeBytes: number; at: number }[] {
    const out = [];
    for (const s of m.segs) {
      const lo = Math.max(offset, s.mapOffset);
      const hi = Math.min(offset + size, s.mapOffset + s.sizeBytes);
      if (lo < hi) out.push({ obj: s.obj, objOffset: s.objOffset + (lo - s.mapOffset), sizeBytes: hi - lo, at: lo - offset });
    }
    return out;
  }

  private mappingRange(ref: string, offset: number, size: number): ModelMapping | Illegal {
    const m = this.mappings.get(ref);
    if (m === undefined) return 'no-such-object';
    if (size <= 0 || offset < 0 || offset + size > m.sizeBytes) return 'R41';
    return m;
  }

  /** The rule `step` would break in this state, or null when it is legal. */
  check(step: Step): Illegal | null {
    const atomic = this.context === 'atomic';
    switch (step.op) {
      case 'alloc':
      case 'allocNc':
        if (!this.devices.includes(step.dev)) return 'no-such-object';
        if (step.size <= 0) return 'out-of-range';
        return atomic && step.gfp === 'GFP_KERNEL' ? 'R19' : null;
      case 'free': {
        const o = this.obj(step.ref, 'coherent');
        if (typeof o === 'string') return o;
        if (atomic) return 'R20';
        return o.vmas.size > 0 ? 'R26' : null;
      }
      case 'mmap':
      case 'getSgtable': {
        const o = this.obj(step.ref, ...(step.op === 'mmap' ? (['coherent', 'noncoherent'] as const) : (['coherent'] as const)));
        if (typeof o === 'string') return o;
        if (step.op === 'mmap' && (o.kind === 'noncoherent') !== (step.api !== undefined)) return 'wrong-object-kind';
        // dma_mmap_pages serves dma_alloc_pages and dma_alloc_noncoherent memory (through virt_to_page), dma_mmap_noncontiguous its tables.
        if (step.op === 'mmap' && o.kind === 'noncoherent' && (o.api === 'noncontiguous' ? 'noncontiguous' : 'pages') !== step.api) return 'wrong-object-kind';
        return atomic ? 'process-context-only' : null;
      }
      case 'munmap':
        return this.vmas.has(step.ref) ? null : 'no-such-object';
      case 'kmalloc':
      case 'allocPages':
        return atomic && step.gfp === 'GFP_KERNEL' ? 'R19' : null;
      case 'freeNc': {
        const o = this.obj(step.ref, 'noncoherent');
        if (typeof o === 'string') return o;
        if (o.api !== step.api) return 'wrong-object-kind';
        if (atomic) return 'R20';
        return o.vmas.size > 0 ? 'R26' : null;
      }
      case 'mapResource': {
        if (!this.devices.includes(step.dev)) return 'no-such-object';
        const r = this.resources.get(step.resource);
        if (r === undefined) return 'R6';
        if (!r.users.includes(step.dev)) return 'resource-through-window';
        if (step.size <= 0 || step.offset < 0 || step.offset + step.size > r.sizeBytes) return 'out-of-range';
        // dma-debug tracks the first cache line of every non-TO_DEVICE mapping, MMIO included (by physical address): two would overlap (D21).
        const lineOf = (offset: number) => Math.floor(((r.basePhys ?? 0) + offset) / (r.lineBytes ?? GRANULE_BYTES));
        const clash = [...this.mappings.values()].some((m) => m.resource?.name === step.resource && lineOf(m.resource.offset) === lineOf(step.offset) && m.dir !== 'DMA_TO_DEVICE' && step.dir !== 'DMA_TO_DEVICE');
        return clash ? 'R8' : null;
      }
      case 'unmapResource': {
        const m = this.mappings.get(step.ref);
        if (m === undefined) return 'no-such-object';
        return m.kind === 'resource' ? null : 'R40';
      }
      case 'queryAddressing':
        return this.devices.includes(step.dev) ? null : 'no-such-object';
      case 'kfree':
      case 'freePages': {
        const o = this.obj(step.ref, step.op === 'kfree' ? 'kmalloc' : 'pages');
        if (typeof o === 'string') return o;
        return o.mappedBy !== null ? 'R39' : null;
      }
      case 'mapSingle': {
        if (!this.devices.includes(step.dev)) return 'no-such-object';
        const o = this.obj(step.ref, 'kmalloc');
        if (typeof o === 'string') return o;
        return o.mappedBy !== null ? 'R8' : null;
      }
      case 'mapPage': {
        if (!this.devices.includes(step.dev)) return 'no-such-object';
        const o = this.obj(step.ref, 'pages');
        if (typeof o === 'string') return o;
        if (o.mappedBy !== null) return 'R8';
        // Any offset and length: the granules the mapping touches are the device's while it is mapped, so no CPU access shares a line with it (R8, R10).
        return step.size <= 0 || step.offset < 0 || step.offset + step.size > o.sizeBytes ? 'out-of-range' : null;
      }
      case 'mapSg': {
        if (!this.devices.includes(step.dev)) return 'no-such-object';
        const segs = this.sgSegments(step.segs);
        return typeof segs === 'string' ? segs : null;
      }
      case 'unmapSingle':
      case 'unmapSg': {
        const m = this.mappings.get(step.ref);
        if (m === undefined) return 'no-such-object';
        if (m.kind === 'nc' || m.kind === 'ncsg' || m.kind === 'resource') return 'R40';
        if ((m.kind === 'sg') !== (step.op === 'unmapSg')) return 'R40';
        if (!this.mappingOwned(m, 0, m.sizeBytes, OWNER.cpu, OWNER.device, OWNER.deviceDirty)) return 'R36';
        // Unmapping with DMA_ATTR_SKIP_CPU_SYNC transfers nothing: what the device wrote must already be the CPU's (R43).
        return step.attrs?.includes('DMA_ATTR_SKIP_CPU_SYNC') === true && !this.mappingOwned(m, 0, m.sizeBytes, OWNER.cpu, OWNER.device) ? 'R43' : null;
      }
      case 'platform':
        return this.clock === 0 ? null : 'platform-not-first';
      case 'setMask': {
        if (!this.devices.includes(step.dev)) return 'no-such-object';
        const busy = [...this.mappings.values()].some((m) => m.dev === step.dev) || [...this.objects.values()].some((o) => o.dev === step.dev);
        return busy ? 'mask-while-mapped' : null;
      }
      case 'syncForCpu':
      case 'syncForDevice': {
        const m = this.mappingRange(step.ref, step.offset, step.size);
        if (typeof m === 'string') return m;
        if (m.kind === 'resource') return 'not-synced';
        if ((m.kind === 'sg' || m.kind === 'ncsg') && (step.offset !== 0 || step.size !== m.sizeBytes)) return 'R45';
        // Taking back again what the CPU owns and has not written is harmless (the copy and the invalidate change nothing).
        if (step.op === 'syncForCpu' && !this.mappingOwned(m, step.offset, step.size, OWNER.device, OWNER.deviceDirty, OWNER.cpu)) return 'R35';
        if (step.op === 'syncForDevice' && !this.mappingOwned(m, step.offset, step.size, OWNER.cpu, OWNER.cpuDirty, OWNER.device)) return 'R35';
        return null;
      }
      case 'cpuWrite':
      case 'cpuRead': {
        const o = this.obj(step.ref, 'coherent', 'kmalloc', 'pages', 'noncoherent');
        if (typeof o === 'string') return o;
        if (step.size <= 0 || step.offset < 0 || step.offset + step.size > o.sizeBytes) return 'out-of-range';
        if (o.kind === 'coherent') return o.kernelMapping ? null : 'R25';
        if (!this.owned(o, step.offset, step.size, OWNER.cpu, OWNER.cpuDirty)) return 'R35';
        if (step.op === 'cpuWrite' && o.mappedBy !== null) {
          const m = this.mappings.get(o.mappedBy) as ModelMapping;
          if (m.dir === 'DMA_FROM_DEVICE' && this.mapped(m, step.ref, step.offset, step.size)) return 'R30';
        }
        return null;
      }
      case 'cpuWriteNeighbour': {
        const o = this.obj(step.ref, 'kmalloc');
        return typeof o === 'string' ? o : null;
      }
      case 'deviceWrite':
      case 'deviceRead': {
        const b = this.objects.get(step.ref);
        if (b !== undefined && b.kind !== 'noncoherent') {
          if (b.kind !== 'coherent') return 'R1';
          if (step.size <= 0 || step.offset < 0 || step.offset + step.size > b.sizeBytes) return 'out-of-range';
          return this.wcPending ? 'R18' : null;
        }
        const m = this.mappingRange(step.ref, step.offset, step.size);
        if (typeof m === 'string') return m === 'R41' ? 'out-of-range' : m;
        if (step.op === 'deviceWrite' && m.dir === 'DMA_TO_DEVICE') return 'R29';
        if (step.op === 'deviceRead' && m.dir === 'DMA_FROM_DEVICE') return 'R28';
        return this.mappingOwned(m, step.offset, step.size, OWNER.device, OWNER.deviceDirty) ? null : 'R35';
      }
      case 'userRead': {
        const v = this.vmas.get(step.ref);
        if (v === undefined) return 'no-such-object';
        const o = this.objects.get(v.obj) as ModelObject;
        if (this.wcPending) return 'R18';
        if (step.size <= 0 || step.offset < 0 || step.offset + step.size > o.sizeBytes) return 'out-of-range';
        // User space sees non-coherent memory through a cacheable mapping, like the CPU: only what the CPU owns.
        return o.kind === 'noncoherent' && !this.owned(o, step.offset, step.size, OWNER.cpu, OWNER.cpuDirty) ? 'R35' : null;
      }
      case 'speculativeFill':
      case 'evict': {
        const o = this.obj(step.ref, 'coherent', 'kmalloc', 'pages', 'noncoherent');
        if (typeof o === 'string') return o;
        return step.offset < 0 || step.offset >= o.sizeBytes ? 'out-of-range' : null;
      }
      case 'dmaWmb':
      case 'setContext':
      case 'wcDrain':
      case 'runWork':
        return null;
      case 'cmaPin':
        return Number.isInteger(step.page) && step.page >= 0 && step.area.length > 0 ? null : 'out-of-range';
      case 'badCall':
        return this.checkBadCall(step);
      case 'misuse': {
        // The misuse itself is the point; what must hold is its target, and the legal calls it makes first.
        const why = misuseTargetProblem(step.misuse, step.ref, this);
        if (why !== null) return why;
        for (const inner of legalPrefix(step, this)) {
          const r = this.check(inner);
          if (r !== null) return r;
        }
        return null;
      }
    }
  }

  private checkBadCall(step: Extract<Step, { op: 'badCall' }>): Illegal | null {
    const needs: Partial<Record<typeof step.call, ObjKind | 'mapping'>> = {
      mapSingleZeroSize: 'kmalloc',
      mapSingleDmaNone: 'kmalloc',
      mapSingleVmalloc: 'coherent',
      mapPageMmio: 'pages',
      unmapOtherSize: 'mapping',
      syncPastEnd: 'mapping',
      freeOtherSize: 'coherent',
      mmapTooLarge: 'coherent',
      getSgtableUnknownHandle: 'coherent',
    };
    const need = needs[step.call];
    if (need === undefined) return null;
    if (step.ref === undefined) return 'no-such-object';
    if (need === 'mapping') {
      const m = this.mappings.get(step.ref);
      return m === undefined ? 'no-such-object' : m.kind === 'sg' ? 'wrong-object-kind' : null;
    }
    const o = this.obj(step.ref, need);
    if (typeof o === 'string') return o;
    if (need === 'coherent' && this.context === 'atomic') return 'process-context-only';
    return null;
  }

  /** True when `[offset, offset+size)` of object `ref` lies in mapping `m`. */
  private mapped(m: ModelMapping, ref: string, offset: number, size: number): boolean {
    return m.segs.some((s) => s.obj === ref && s.objOffset < offset + size && offset < s.objOffset + s.sizeBytes);
  }

  private setOwner(m: ModelMapping, offset: number, size: number, who: number): void {
    for (const s of this.segmentsIn(m, offset, size)) {
      const o = this.objects.get(s.obj) as ModelObject;
      const g1 = Math.ceil((s.objOffset + s.sizeBytes) / GRANULE_BYTES);
      for (let g = Math.floor(s.objOffset / GRANULE_BYTES); g < g1; g++) o.owner[g] = who;
    }
  }

  private addObject(id: string, kind: ObjKind, sizeBytes: number, dev: string | null, kernelMapping: boolean, alloc?: ModelObject['alloc'], api?: NcApi): void {
    this.noteId(id);
    this.objects.set(id, { id, kind, sizeBytes, dev, kernelMapping, mappedBy: null, vmas: new Set(), owner: new Uint8Array(granules(sizeBytes)), ...(alloc === undefined ? {} : { alloc }), ...(api === undefined ? {} : { api }) });
  }

  /**
   * A new mapping. With `DMA_ATTR_SKIP_CPU_SYNC` nothing was cleaned, so the
   * CPU keeps the buffer as if it had written it: only
   * `dma_sync_*_for_device` may hand it over (R43, R36), and an unmap before
   * that would let the for-cpu maintenance discard the CPU's lines.
   */
  private addMapping(id: string, kind: ModelMapping['kind'], dev: string, dir: ModelMapping['dir'], segs: ModelSegment[], attrs: readonly string[] | undefined): void {
    this.noteId(id);
    const m: ModelMapping = { id, kind, dev, dir, segs, sizeBytes: segs.reduce((n, s) => n + s.sizeBytes, 0) };
    this.mappings.set(id, m);
    for (const s of segs) (this.objects.get(s.obj) as ModelObject).mappedBy = id;
    this.setOwner(m, 0, m.sizeBytes, attrs?.includes('DMA_ATTR_SKIP_CPU_SYNC') === true ? OWNER.cpuDirty : OWNER.device);
  }

  /** Apply a legal step (check it first). Steps whose result failed are not applied by the session. */
  apply(step: Step): void {
    this.clock++;
    for (const id of [...usedIds(step), ...(definedId(step) === null ? [] : [definedId(step) as string])]) {
      this.lastUse.set(id, this.clock);
      // A step on a mapping is a step on the objects under it too.
      for (const seg of this.mappings.get(id)?.segs ?? []) this.lastUse.set(seg.obj, this.clock);
    }
    switch (step.op) {
      case 'alloc':
        this.addObject(step.id, 'coherent', step.size, step.dev, !step.attrs.includes('DMA_ATTR_NO_KERNEL_MAPPING'), { gfp: step.gfp, attrs: step.attrs });
        this.wcPending = true;
        return;
      case 'kmalloc':
        this.addObject(step.id, 'kmalloc', step.size, null, true);
        return;
      case 'allocNc': {
        this.addObject(step.id, 'noncoherent', step.size, step.dev, true, undefined, step.api);
        // Its lifelong mapping, under the same name: the CPU owns the memory until the first sync_for_device.
        const m: ModelMapping = { id: step.id, kind: step.api === 'noncontiguous' ? 'ncsg' : 'nc', dev: step.dev, dir: step.dir, segs: [{ obj: step.id, objOffset: 0, sizeBytes: step.size, mapOffset: 0 }], sizeBytes: step.size };
        this.mappings.set(step.id, m);
        const o = this.objects.get(step.id) as ModelObject;
        o.mappedBy = step.id;
        // The allocator zeroed it through the cache: the CPU has written it, so only sync_for_device may hand it over (a sync_for_cpu would invalidate the zeroes away).
        o.owner.fill(OWNER.cpuDirty);
        return;
      }
      case 'freeNc':
        this.objects.delete(step.ref);
        this.mappings.delete(step.ref);
        return;
      case 'mapResource':
        this.noteId(step.id);
        this.mappings.set(step.id, { id: step.id, kind: 'resource', dev: step.dev, dir: step.dir, segs: [], sizeBytes: step.size, resource: { name: step.resource, offset: step.offset } });
        return;
      case 'unmapResource':
        this.mappings.delete(step.ref);
        return;
      case 'allocPages':
        this.addObject(step.id, 'pages', PAGE_SIZE << step.order, null, true);
        return;
      case 'misuse':
        for (const inner of modelEffect(step, this)) this.apply(inner);
        return;
      case 'free':
      case 'kfree':
      case 'freePages': {
        const o = this.objects.get(step.ref);
        if (step.op === 'free' && o?.alloc !== undefined && o.dev !== null) this.lastFreed = { dev: o.dev, sizeBytes: o.sizeBytes, ...o.alloc };
        this.objects.delete(step.ref);
        return;
      }
      case 'mmap':
        this.noteId(step.id);
        this.vmas.set(step.id, { id: step.id, obj: step.ref });
        this.objects.get(step.ref)?.vmas.add(step.id);
        return;
      case 'munmap': {
        const v = this.vmas.get(step.ref);
        if (v !== undefined) this.objects.get(v.obj)?.vmas.delete(step.ref);
        this.vmas.delete(step.ref);
        return;
      }
      case 'mapSingle': {
        const o = this.objects.get(step.ref) as ModelObject;
        this.addMapping(step.id, 'single', step.dev, step.dir, [{ obj: step.ref, objOffset: 0, sizeBytes: o.sizeBytes, mapOffset: 0 }], step.attrs);
        return;
      }
      case 'mapPage':
        this.addMapping(step.id, 'page', step.dev, step.dir, [{ obj: step.ref, objOffset: step.offset, sizeBytes: step.size, mapOffset: 0 }], step.attrs);
        return;
      case 'mapSg':
        this.addMapping(step.id, 'sg', step.dev, step.dir, this.sgSegments(step.segs) as ModelSegment[], step.attrs);
        return;
      case 'unmapSingle':
      case 'unmapSg': {
        const m = this.mappings.get(step.ref) as ModelMapping;
        this.setOwner(m, 0, m.sizeBytes, OWNER.cpu);
        for (const s of m.segs) (this.objects.get(s.obj) as ModelObject).mappedBy = null;
        this.mappings.delete(step.ref);
        return;
      }
      case 'syncForCpu':
      case 'syncForDevice':
        this.setOwner(this.mappings.get(step.ref) as ModelMapping, step.offset, step.size, step.op === 'syncForCpu' ? OWNER.cpu : OWNER.device);
        return;
      case 'cpuWrite': {
        const o = this.objects.get(step.ref) as ModelObject;
        if (o.kind === 'coherent') this.wcPending = true;
        else if (o.mappedBy !== null) {
          const m = this.mappings.get(o.mappedBy) as ModelMapping;
          for (const sg of m.segs) {
            if (sg.obj !== o.id) continue;
            const lo = Math.max(step.offset, sg.objOffset);
            const hi = Math.min(step.offset + step.size, sg.objOffset + sg.sizeBytes);
            for (let g = Math.floor(lo / GRANULE_BYTES); g < Math.ceil(hi / GRANULE_BYTES); g++) o.owner[g] = OWNER.cpuDirty;
          }
        }
        return;
      }
      case 'deviceWrite': {
        const m = this.mappings.get(step.ref);
        if (m !== undefined) this.setOwner(m, step.offset, step.size, OWNER.deviceDirty);
        return;
      }
      case 'dmaWmb':
      case 'wcDrain':
        this.wcPending = false;
        return;
      case 'setContext':
        this.context = step.context;
        return;
      default:
        return;
    }
  }
}

/**
 * The steps a legal driver takes to tear down what is live in `s`: hand
 * back to the device each run (between partial-sync cuts) of a mapping the
 * CPU owns and wrote (R36; a run the device owns is left alone, R35),
 * unmap every mapping, unmap every user mapping, free every object. The session runs them at the end of every sequence; the
 * differential run sends them to the kernel too, so both sides make the
 * same calls. Leaves `s` unchanged.
 */
export function teardownSteps(s: ModelState): Step[] {
  const out: Step[] = [];
  for (const [id, m] of s.mappings) {
    if (m.kind === 'nc' || m.kind === 'ncsg') continue;
    if (m.kind === 'resource') {
      out.push({ op: 'unmapResource', ref: id });
      continue;
    }
    const dirty =
      m.kind === 'sg'
        ? s.mappingOwned(m, 0, m.sizeBytes, OWNER.cpuDirty, OWNER.cpu) && !s.mappingOwned(m, 0, m.sizeBytes, OWNER.cpu)
          ? [{ offset: 0, size: m.sizeBytes }]
          : []
        : s.runsOwnedBy(m, [OWNER.cpu, OWNER.cpuDirty]).filter((r) => !s.mappingOwned(m, r.offset, r.size, OWNER.cpu));
    for (const r of dirty) out.push({ op: 'syncForDevice', ref: id, ...r });
    out.push(m.kind === 'sg' ? { op: 'unmapSg', ref: id } : { op: 'unmapSingle', ref: id });
  }
  for (const id of s.vmas.keys()) out.push({ op: 'munmap', ref: id });
  for (const [id, o] of s.objects) {
    if (o.kind === 'noncoherent') out.push({ op: 'freeNc', ref: id, api: o.api ?? 'pages' });
    else out.push(o.kind === 'coherent' ? { op: 'free', ref: id } : o.kind === 'kmalloc' ? { op: 'kfree', ref: id } : { op: 'freePages', ref: id });
  }
  return out;
}
