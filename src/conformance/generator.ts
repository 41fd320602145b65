/**
 * Not a kernel mirror: the state-aware generator of driver sequences, a
 * fast-check `Arbitrary` (DESIGN.md "Driver steps and the generator").
 *
 * Each step is drawn, by weight, from the steps that are legal in the
 * current symbolic state ({@link ModelState.check}), and names earlier
 * results symbolically (`b1`, `m2`). Shrinking removes runs of steps (a
 * creating step takes its uses with it) and repairs what is left by
 * replaying it through a fresh model and dropping any step that became
 * illegal, so every shrunk candidate is a legal driver again. fast-check
 * keeps the runner, seeds and `path` replay; plain `fc.commands` was not
 * used because its index references skip much of what they generate and
 * stop shrinking above the minimal trace.
 */
import fc from 'fast-check';
import { type PlatformProfile, hasHighmem } from '../platform/profiles.ts';
import { VARIANTS, profileVariant, variantProfile } from './variation.ts';
import { PAGE_SIZE } from '../platform/types.ts';
import { type ModelMapping, type ModelObject, ModelState, OWNER, type ResourceInfo, resourceUsers } from './model.ts';
import type { BackendCall, BackendCapabilities } from '../backend/backend.ts';
import { DMA_ATTR_MMIO } from '../linux/include/linux/dma-mapping.ts';
import { kernelVersion } from '../backend/history.ts';
import { MISUSES, type Misuse, misuseTargetProblem } from './misuse.ts';
import { type AllocAttrName, NC_APIS, type NcApi, BAD_CALLS, type GfpName, BAD_CALL_LEVEL, type BadCall, DIRECTIONS, type GfpFlagName, MAP_ATTRS, MASK_CALLS, type MapAttrName, STEP_OPS, type Step, type StepOp, attrsValue, definedId, usedIds } from './steps.ts';

/** Relative weight of each op; ops left out are never drawn. */
export type StepWeights = Partial<Record<StepOp, number>>;

/** Weights of a balanced driver: allocate, map, transfer, read back, free. */
export const DEFAULT_WEIGHTS: Readonly<Required<StepWeights>> = {
  alloc: 4, free: 2, mmap: 1, munmap: 1, getSgtable: 1, kmalloc: 5, kfree: 2, allocPages: 3, freePages: 2,
  mapSingle: 5, mapPage: 4, mapSg: 2, unmapSingle: 3, unmapSg: 2, syncForCpu: 5, syncForDevice: 5,
  cpuWrite: 8, cpuRead: 8, cpuWriteNeighbour: 1, deviceWrite: 8, deviceRead: 6, userRead: 1,
  dmaWmb: 1, setContext: 1, speculativeFill: 4, evict: 3, wcDrain: 1, cmaPin: 0, runWork: 0, badCall: 0, setMask: 1, platform: 0,
  allocNc: 2, freeNc: 1, mapResource: 1, unmapResource: 1, queryAddressing: 1,
  // Misuse mode only (`MISUSE_WEIGHT`): deliberately illegal steps.
  misuse: 0,
};

/** The weight of `misuse` steps in misuse mode (`dmacheck run --misuse`, `dmacheck fuzz`). */
export const MISUSE_WEIGHT = 6;

/** The calls each misuse makes (the harness makes no other). */
const MISUSE_CALLS: Readonly<Record<Misuse, readonly BackendCall[]>> = {
  cpuReadDeviceOwned: [],
  cpuWriteDeviceOwned: [],
  syncWrongDirection: ['syncSingleForCpu'],
  syncOutsideMapping: ['syncSingleForDevice'],
  doubleUnmap: ['unmapSingle', 'unmapPage'],
  unmapOtherSize: ['unmapSingle', 'unmapPage'],
  unmapOtherDirection: ['unmapSingle', 'unmapPage'],
  unmapWrongFunction: ['unmapPage', 'unmapSg'],
  deviceReadWithoutWmb: [],
  mapStackCopy: ['mapSingle', 'unmapSingle'],
  mapRodata: ['mapSingle', 'unmapSingle'],
  mapNotChecked: ['mapSingle', 'unmapSingle'],
  mapTwice: ['mapSingle', 'mapPage', 'unmapSingle', 'unmapPage'],
  deviceWriteAfterUnmap: ['unmapSingle', 'unmapPage'],
  doubleFree: ['freeAttrs'],
  cpuWriteAfterFree: ['freeAttrs'],
  unbindWithMappings: [],
};

/** Options of {@link StepsArbitrary}. */
export interface GeneratorOptions {
  /** Device names of the profile. */
  readonly devices: readonly string[];
  /** Weights over {@link DEFAULT_WEIGHTS}. */
  readonly weights?: StepWeights;
  /** Longest sequence, steps (default 100). */
  readonly maxSteps?: number;
  /** The profile has highmem, so `alloc_pages(__GFP_HIGHMEM)` may be drawn. */
  readonly highmem?: boolean;
  /**
   * Draw large page blocks (up to 64 KiB) and more odd kmalloc sizes, so
   * mappings span several swiotlb slots, cross pages and leave partial
   * slots (the bounce-buffer properties). Default false.
   */
  readonly bigBuffers?: boolean;
  /**
   * Also draw large coherent allocations (256 KiB to 2 MiB): CMA territory,
   * past `CMA_ALIGNMENT` and past small pools. Default false.
   */
  readonly largeAllocs?: boolean;
  /** The profile's MMIO regions with the devices that may map them (`resourceUsers`); default none. */
  readonly resources?: ReadonlyMap<string, ResourceInfo>;
  /** The profile's CMA areas (name, pages), where `cmaPin` events land. */
  readonly cmaAreas?: readonly { readonly name: string; readonly pages: number }[];
  /** Attribute sets `dma_alloc_attrs` draws from, uniformly (default: mostly none, some NO_KERNEL_MAPPING, WRITE_COMBINE, FORCE_CONTIGUOUS). */
  readonly allocAttrs?: readonly (readonly AllocAttrName[])[];
  /** Each device's hardware address width, bits: `setMask` steps never ask for more (a driver knows its device). Default: no `setMask` steps. */
  readonly deviceBits?: Readonly<Record<string, number>>;
  /**
   * Each device's `dma_get_max_seg_size`, bytes: an sg entry the driver
   * builds is never longer (the block layer's queue limits; dma-debug's
   * "mapping sg segment longer than device claims to support"). Shrinking
   * keeps it: it only drops the variant (limits grow) or shortens entries.
   * Default: no limit.
   */
  readonly maxSegmentBytes?: Readonly<Record<string, number>>;
  /**
   * Some device sits behind an IOMMU with lazy invalidation: time must pass
   * now and then (`runWork`, where the flush-queue timer fires) even where a
   * property gives that event no weight. Default false.
   */
  readonly lazyIommu?: boolean;
  /** The profile has a ZONE_DMA32, so `alloc_pages(GFP_DMA32)` is drawn. Default false. */
  readonly dma32?: boolean;
  /**
   * The profile itself: when given, half the sequences open with a
   * `platform` step naming one of its variants (`variation.ts`), and are
   * drawn for that machine. Default: no variation.
   */
  readonly profile?: PlatformProfile;
  /**
   * Swarm testing (Groce et al., ISSTA 2012): each sequence enables a random
   * subset of its step kinds, devices and attributes, so rare interactions
   * are not drowned by common steps. Default true; the differential run and
   * tests may turn it off.
   */
  readonly swarm?: boolean;
  /**
   * What the backend declares: only steps whose calls it declares are
   * drawn, only attributes it honours are passed, and only the invalid calls
   * of levels it claims (default: everything, as the reference declares).
   */
  readonly capabilities?: BackendCapabilities;
}

/** The calls each step needs the backend to declare (the harness makes no other call). */
const STEP_CALLS: Partial<Record<StepOp, readonly BackendCall[]>> = {
  alloc: ['allocAttrs', 'freeAttrs'],
  free: ['freeAttrs'],
  mmap: ['mmapAttrs'],
  getSgtable: ['getSgtableAttrs'],
  mapSingle: ['mapSingle', 'unmapSingle'],
  mapPage: ['mapPage', 'unmapPage'],
  mapSg: ['mapSg', 'unmapSg'],
  setMask: ['setMask', 'setCoherentMask', 'setMaskAndCoherent'],
  mapResource: ['mapResource', 'unmapResource'],
  unmapResource: ['unmapResource'],
  queryAddressing: ['addressingLimited'],
};

/** The calls of each non-coherent allocator: allocate, free, and map to user space. */
export const NC_CALLS: Readonly<Record<NcApi, { readonly alloc: readonly BackendCall[]; readonly mmap: BackendCall }>> = {
  pages: { alloc: ['allocPages', 'freePages'], mmap: 'mmapPages' },
  noncoherent: { alloc: ['allocNoncoherent', 'freeNoncoherent'], mmap: 'mmapPages' },
  noncontiguous: { alloc: ['allocNoncontiguous', 'freeNoncontiguous', 'vmapNoncontiguous', 'vunmapNoncontiguous'], mmap: 'mmapNoncontiguous' },
};

/** The mmap function for a non-coherent object: `dma_mmap_pages` (also for `dma_alloc_noncoherent` memory, through `virt_to_page`) or `dma_mmap_noncontiguous`. */
export function ncMmapApi(api: NcApi): 'pages' | 'noncontiguous' {
  return api === 'noncontiguous' ? 'noncontiguous' : 'pages';
}

/** The calls each invalid call makes. */
const BAD_CALL_CALLS: Readonly<Record<BadCall, BackendCall>> = {
  allocZeroSize: 'allocAttrs',
  allocGfpComp: 'allocAttrs',
  mapSingleZeroSize: 'mapSingle',
  mapSingleDmaNone: 'mapSingle',
  mapSingleVmalloc: 'mapSingle',
  mapPageMmio: 'mapPage',
  unmapUnknownHandle: 'unmapSingle',
  unmapOtherSize: 'unmapSingle',
  syncPastEnd: 'syncSingleForDevice',
  freeOtherSize: 'freeAttrs',
  mmapTooLarge: 'mmapAttrs',
  getSgtableUnknownHandle: 'getSgtableAttrs',
  mapSgZeroNents: 'mapSg',
};

/**
 * The calls `step` makes, as far as the step alone says: a replayed trace
 * recorded on another backend skips (as a failed call) a step whose calls
 * this backend does not declare.
 */
export function stepCalls(step: Step): readonly BackendCall[] {
  switch (step.op) {
    case 'allocNc':
    case 'freeNc':
      return NC_CALLS[step.api].alloc;
    case 'mmap':
      return step.api === undefined ? ['mmapAttrs'] : [NC_CALLS[step.api].mmap];
    case 'badCall':
      return [BAD_CALL_CALLS[step.call]];
    case 'misuse':
      return MISUSE_CALLS[step.misuse];
    default:
      return STEP_CALLS[step.op] ?? [];
  }
}

/**
 * The release that made Linux refuse an invalid call, where that is recent:
 * a backend declaring an older `capabilities.kernel` is not asked to.
 */
const BAD_CALL_SINCE: Partial<Record<BadCall, readonly [number, number]>> = {
  // "dma-mapping: reject __GFP_COMP in dma_alloc_attrs" (v6.2)
  allocGfpComp: [6, 2],
  // DMA_ATTR_MMIO and its refusal in dma_map_page_attrs (v6.18)
  mapPageMmio: [6, 18],
};

/** What a backend's capabilities let the generator draw. */
interface Allowed {
  readonly ops: ReadonlySet<StepOp>;
  /** Sync steps on single/page mappings, on sg mappings. */
  readonly syncSingle: boolean;
  readonly syncSg: boolean;
  readonly badCalls: readonly BadCall[];
  /** Misuses whose calls the backend declares. */
  readonly misuses: readonly Misuse[];
  readonly allocAttrs: readonly (readonly AllocAttrName[])[];
  /** Streaming attributes the backend honours. */
  readonly mapAttrs: readonly MapAttrName[];
  /** Non-coherent allocators the backend declares. */
  readonly ncApis: readonly NcApi[];
  /** ... and those of them it can map to user space. */
  readonly ncMmap: readonly NcApi[];
}

const allowedCache = new WeakMap<GeneratorOptions, Allowed>();

/** What `o.capabilities` allows (computed once per options object). */
export function allowedSteps(o: GeneratorOptions): Allowed {
  let a = allowedCache.get(o);
  if (a !== undefined) return a;
  const caps = o.capabilities;
  const can = (c: BackendCall) => caps === undefined || caps.calls.includes(c);
  const ops = new Set<StepOp>(STEP_OPS.filter((op) => (STEP_CALLS[op] ?? []).every(can)));
  const levels = caps?.levels ?? (caps === undefined ? ['contract', 'linux', 'hardening'] : ['contract']);
  // DMA_ATTR_MMIO given to dma_map_page_attrs is refused only by a backend that knows the attribute (mainline since v6.18); an older kernel maps the page.
  const knowsMmio = caps === undefined || (caps.attrs & DMA_ATTR_MMIO) !== 0;
  const release = caps?.kernel === undefined ? null : kernelVersion(caps.kernel);
  const refusedBy = (b: BadCall) => {
    const since = BAD_CALL_SINCE[b];
    return release === null || since === undefined || release[0] > since[0] || (release[0] === since[0] && release[1] >= since[1]);
  };
  const badCalls = BAD_CALLS.filter((b) => levels.includes(BAD_CALL_LEVEL[b]) && can(BAD_CALL_CALLS[b]) && (b !== 'mapPageMmio' || knowsMmio) && refusedBy(b));
  if (badCalls.length === 0) ops.delete('badCall');
  const misuses = MISUSES.filter((m) => MISUSE_CALLS[m].every(can));
  if (misuses.length === 0) ops.delete('misuse');
  const attrsOk = (set: readonly AllocAttrName[]) => caps === undefined || (attrsValue(set) & ~caps.attrs) === 0;
  const choices = (o.allocAttrs ?? ATTR_CHOICES).filter(attrsOk);
  if (o.deviceBits === undefined) ops.delete('setMask');
  const ncApis = NC_APIS.filter((api) => NC_CALLS[api].alloc.every(can));
  if (ncApis.length === 0) {
    ops.delete('allocNc');
    ops.delete('freeNc');
  }
  if ((o.resources?.size ?? 0) === 0) ops.delete('mapResource');
  a = {
    ncApis,
    ncMmap: ncApis.filter((api) => can(NC_CALLS[api].mmap)),
    ops,
    mapAttrs: MAP_ATTRS.filter((n) => caps === undefined || (attrsValue([n]) & ~caps.attrs) === 0),
    syncSingle: can('syncSingleForCpu') && can('syncSingleForDevice'),
    syncSg: can('syncSgForCpu') && can('syncSgForDevice'),
    badCalls,
    misuses,
    allocAttrs: choices.length === 0 ? [[]] : choices,
  };
  allowedCache.set(o, a);
  return a;
}

/** What the generator takes from a profile: highmem, ZONE_DMA32, the CMA areas, each device's address width and segment limit, MMIO, lazy IOMMUs. */
export function profileGeneratorOptions(profile: PlatformProfile): Required<Pick<GeneratorOptions, 'highmem' | 'dma32' | 'cmaAreas' | 'deviceBits' | 'resources' | 'maxSegmentBytes' | 'lazyIommu'>> {
  return {
    lazyIommu: profile.devices.some((d) => d.iommu !== null && !d.iommu.strict),
    maxSegmentBytes: Object.fromEntries(profile.devices.map((d) => [d.name, d.maxSegmentSize])),
    resources: resourceUsers(profile),
    highmem: hasHighmem(profile),
    dma32: profile.zones.dma32,
    cmaAreas: cmaPinTargets(profile),
    deviceBits: Object.fromEntries(profile.devices.map((d) => [d.name, d.addressBits])),
  };
}

/** The `cmaAreas` option for a profile: each CMA area by name, with its size in pages. */
export function cmaPinTargets(profile: PlatformProfile): { name: string; pages: number }[] {
  return profile.cma.map((c) => ({ name: c.name, pages: c.sizeBytes / PAGE_SIZE }));
}

/** @returns a list of problems with `o`, empty when valid */
export function validateGeneratorOptions(o: GeneratorOptions): string[] {
  const out: string[] = [];
  if (o.devices.length === 0) out.push('devices: at least one device is needed');
  if (o.maxSteps !== undefined && (!Number.isInteger(o.maxSteps) || o.maxSteps < 1)) out.push(`maxSteps=${o.maxSteps}: a positive integer is accepted`);
  for (const [op, w] of Object.entries(o.weights ?? {})) if (!(op in DEFAULT_WEIGHTS) || !(Number.isFinite(w) && w >= 0)) out.push(`weights.${op}=${w}: a known op with a weight >= 0 is accepted`);
  return out;
}

const ALLOC_SIZES_LARGE = [262144, 1048576, 2097152];
/** Default attribute sets of `dma_alloc_attrs` draws. */
export const ATTR_CHOICES: readonly (readonly AllocAttrName[])[] = [[], [], [], ['DMA_ATTR_NO_KERNEL_MAPPING'], ['DMA_ATTR_WRITE_COMBINE'], ['DMA_ATTR_FORCE_CONTIGUOUS']];
/** Mask widths a `setMask` step asks for (never above the device's own). */
const MASK_BITS = [24, 28, 30, 32, 36, 40, 44, 48, 52, 56, 64];

/**
 * Sizes and offsets where DMA code breaks, bytes: a byte, a word, cache lines
 * (64) and `ARCH_DMA_MINALIGN` (128), a swiotlb slot (2 KiB), a page, a
 * 64 KiB segment boundary, each with its neighbours.
 */
const EDGES = [1, 2, 7, 8, 9, 63, 64, 65, 127, 128, 129, 255, 256, 257, 511, 512, 1023, 1024, 2047, 2048, 2049, 4095, 4096, 4097, 6144, 8191, 8192, 8193, 16384, 32768, 65535, 65536];

/** The random source a draw uses: fast-check's, or any `(min, max) → int` for tests. */
export interface Draw {
  int(min: number, max: number): number;
}

function pick<T>(d: Draw, xs: readonly T[]): T {
  return xs[d.int(0, xs.length - 1)] as T;
}

/**
 * Locality: half the time the object or mapping the driver touched last,
 * otherwise any. Drivers work on one buffer for a while, and the deep
 * interactions (sync a part, write it, sync another part) need several
 * steps on the same one.
 */
function pickRecent<T extends { readonly id: string }>(d: Draw, s: ModelState, xs: readonly T[]): T {
  if (xs.length > 1 && d.int(0, 1) === 0) {
    let best = xs[0] as T;
    for (const x of xs) if ((s.lastUse.get(x.id) ?? 0) > (s.lastUse.get(best.id) ?? 0)) best = x;
    return best;
  }
  return pick(d, xs);
}

/**
 * An integer in `[lo, hi]`, biased to the boundaries (DESIGN.md "Search
 * power"): a third uniform, the rest the ends, their neighbours, or an
 * {@link EDGES} value inside the range (counted from `lo`).
 */
export function edgeInt(d: Draw, lo: number, hi: number): number {
  if (hi <= lo) return lo;
  switch (d.int(0, 8)) {
    case 0:
    case 1:
    case 2:
      return d.int(lo, hi);
    case 3:
      return lo;
    case 4:
      return hi;
    case 5:
      return d.int(0, 1) === 0 ? lo + 1 : hi - 1;
    default: {
      const e = EDGES.filter((x) => lo + x <= hi);
      return e.length === 0 ? d.int(lo, hi) : lo + pick(d, e);
    }
  }
}

/**
 * A range inside `[0, sizeBytes)`, biased to the edges: the whole range, its
 * first or last bytes, or an edge-biased offset and length.
 */
export function edgeRange(d: Draw, sizeBytes: number): { offset: number; size: number } {
  switch (d.int(0, 5)) {
    case 0:
    case 1:
      return { offset: 0, size: sizeBytes };
    case 2: {
      const size = edgeInt(d, 1, sizeBytes);
      return { offset: 0, size };
    }
    case 3: {
      const size = edgeInt(d, 1, sizeBytes);
      return { offset: sizeBytes - size, size };
    }
    default: {
      const offset = edgeInt(d, 0, sizeBytes - 1);
      return { offset, size: edgeInt(d, 1, sizeBytes - offset) };
    }
  }
}

/** A sub-range of `[offset, offset+size)`, edge-biased. */
function within(d: Draw, r: { offset: number; size: number }): { offset: number; size: number } {
  const sub = edgeRange(d, r.size);
  return { offset: r.offset + sub.offset, size: sub.size };
}

/** One of `runs`, or null when there is none. */
function pickRun(d: Draw, runs: readonly { offset: number; size: number }[]): { offset: number; size: number } | null {
  return runs.length === 0 ? null : pick(d, runs);
}

/**
 * Draw one legal step for state `s`, or null when no op with a positive
 * weight can be made legal (then the caller stops the sequence).
 * @param swarm this sequence's enabled devices and attributes (swarm testing)
 */
export function drawStep(s: ModelState, weights: Readonly<Required<StepWeights>>, d: Draw, o: GeneratorOptions, swarm: Swarm = fullSwarm(s.devices, o)): Step | null {
  const highmem = o.highmem ?? false;
  const big = o.bigBuffers ?? false;
  const allowed = allowedSteps(o);
  const attrChoices = swarm.allocAttrs;
  const devices = swarm.devices;
  const objs = [...s.objects.values()];
  const maps = [...s.mappings.values()];
  const of = (kind: ModelObject['kind']) => objs.filter((o) => o.kind === kind);
  const unmapped = (kind: ModelObject['kind']) => objs.filter((o) => o.kind === kind && o.mappedBy === null);
  const atomic = s.context === 'atomic';
  // Atomic context: GFP_ATOMIC or GFP_NOWAIT; process context: mostly GFP_KERNEL, a third of the time a non-blocking mask (the pool paths).
  const gfp = (): GfpName => (atomic ? (d.int(0, 2) === 0 ? 'GFP_NOWAIT' : 'GFP_ATOMIC') : pick(d, ['GFP_KERNEL', 'GFP_KERNEL', 'GFP_KERNEL', 'GFP_KERNEL', 'GFP_ATOMIC', 'GFP_NOWAIT'] as const));
  const pattern = () => d.int(1, 0x7fffffff);
  const flagsOf = (choices: readonly GfpFlagName[]): { flags?: GfpFlagName[] } => (choices.length === 0 || d.int(0, 3) !== 0 ? {} : { flags: [pick(d, choices)] });
  const mapAttrs = (): { attrs?: MapAttrName[] } => {
    if (swarm.mapAttrs.length === 0 || d.int(0, 2) !== 0) return {};
    const a = pick(d, swarm.mapAttrs);
    return { attrs: [a] };
  };
  // Drivers allocate many objects of one size: a third of the time the size of a live kmalloc object again, so slab neighbours share cache lines.
  const kmallocSize = () => {
    const live = of('kmalloc');
    if (live.length > 0 && d.int(0, 2) === 0) return pickRecent(d, s, live).sizeBytes;
    return d.int(0, 3) === 0 ? edgeInt(d, 1, big ? 8192 : 4096) : pick(d, EDGES.filter((e) => e <= (big ? 8192 : 4096)));
  };
  // Coherent buffers: mostly descriptor-ring sizes (up to 16 KiB), some up to 64 KiB, and CMA sizes where the property asks.
  const allocSize = () => (o.largeAllocs === true && d.int(0, 2) === 0 ? pick(d, ALLOC_SIZES_LARGE) : d.int(0, 3) === 0 ? edgeInt(d, 16384, 65536) : edgeInt(d, 1, 16384));
  const makers: Partial<Record<StepOp, () => Step | null>> = {
    alloc: () => {
      // A third of the time after a free, the same buffer again: rings are refilled, pools hand the same memory back.
      const f = s.lastFreed;
      if (f !== null && devices.includes(f.dev) && d.int(0, 2) === 0 && !(atomic && f.gfp === 'GFP_KERNEL')) {
        return { op: 'alloc', id: s.nextId('b'), dev: f.dev, size: f.sizeBytes, gfp: f.gfp as GfpName, attrs: f.attrs as AllocAttrName[] };
      }
      return { op: 'alloc', id: s.nextId('b'), dev: pick(d, devices), size: allocSize(), gfp: gfp(), attrs: pick(d, attrChoices), ...flagsOf(['__GFP_ZERO', '__GFP_NOWARN', 'GFP_DMA', 'GFP_DMA32']) };
    },
    free: () => {
      const c = of('coherent').filter((o) => o.vmas.size === 0);
      return c.length === 0 || atomic ? null : { op: 'free', ref: pickRecent(d, s, c).id };
    },
    mmap: () => {
      const c = [...of('coherent'), ...of('noncoherent').filter((x) => allowed.ncMmap.includes(x.api as NcApi))];
      if (c.length === 0 || atomic) return null;
      const x = pick(d, c);
      return { op: 'mmap', id: s.nextId('u'), ref: x.id, ...(x.api === undefined ? {} : { api: ncMmapApi(x.api) }) };
    },
    allocNc: () => {
      const apis = allowed.ncApis;
      if (apis.length === 0) return null;
      return { op: 'allocNc', id: s.nextId('n'), dev: pick(d, devices), api: pick(d, apis), size: allocSize(), dir: pick(d, DIRECTIONS), gfp: gfp(), ...flagsOf(['__GFP_ZERO', '__GFP_NOWARN']) };
    },
    freeNc: () => {
      const c = of('noncoherent').filter((x) => x.vmas.size === 0);
      if (c.length === 0 || atomic) return null;
      const x = pickRecent(d, s, c);
      return { op: 'freeNc', ref: x.id, api: x.api as NcApi };
    },
    mapResource: () => {
      const rs = [...(o.resources ?? new Map<string, ResourceInfo>()).entries()].filter(([, r]) => r.users.some((u) => devices.includes(u)));
      if (rs.length === 0) return null;
      const [name, r] = pick(d, rs);
      return { op: 'mapResource', id: s.nextId('r'), dev: pick(d, r.users.filter((u) => devices.includes(u))), resource: name, ...edgeRange(d, Math.min(r.sizeBytes, 4096)), dir: pick(d, DIRECTIONS) };
    },
    unmapResource: () => {
      const c = maps.filter((m) => m.kind === 'resource');
      return c.length === 0 ? null : { op: 'unmapResource', ref: pickRecent(d, s, c).id };
    },
    queryAddressing: () => ({ op: 'queryAddressing', dev: pick(d, devices) }),
    munmap: () => (s.vmas.size === 0 ? null : { op: 'munmap', ref: pick(d, [...s.vmas.keys()]) }),
    getSgtable: () => (of('coherent').length === 0 || atomic ? null : { op: 'getSgtable', ref: pick(d, of('coherent')).id }),
    kmalloc: () => ({ op: 'kmalloc', id: s.nextId('k'), size: kmallocSize(), gfp: gfp(), ...flagsOf(['__GFP_ZERO', 'GFP_DMA', '__GFP_NOWARN']) }),
    kfree: () => (unmapped('kmalloc').length === 0 ? null : { op: 'kfree', ref: pickRecent(d, s, unmapped('kmalloc')).id }),
    allocPages: () => ({ op: 'allocPages', id: s.nextId('p'), order: d.int(0, big ? 4 : 2), gfp: gfp(), highmem: highmem && d.int(0, 1) === 1, ...flagsOf(o.dma32 === true ? ['__GFP_ZERO', 'GFP_DMA', 'GFP_DMA32', '__GFP_NOWARN'] : ['__GFP_ZERO', 'GFP_DMA', '__GFP_NOWARN']) }),
    freePages: () => (unmapped('pages').length === 0 ? null : { op: 'freePages', ref: pickRecent(d, s, unmapped('pages')).id }),
    mapSingle: () => (unmapped('kmalloc').length === 0 ? null : { op: 'mapSingle', id: s.nextId('m'), ref: pickRecent(d, s, unmapped('kmalloc')).id, dev: pick(d, devices), dir: pick(d, DIRECTIONS), ...mapAttrs() }),
    mapPage: () => {
      const c = unmapped('pages');
      if (c.length === 0) return null;
      const o = pickRecent(d, s, c);
      return { op: 'mapPage', id: s.nextId('m'), ref: o.id, dev: pick(d, devices), ...edgeRange(d, o.sizeBytes), dir: pick(d, DIRECTIONS), ...mapAttrs() };
    },
    mapSg: () => {
      const c = objs.filter((o) => o.kind !== 'coherent' && o.mappedBy === null);
      if (c.length === 0) return null;
      const n = d.int(1, Math.min(4, c.length));
      const chosen: ModelObject[] = [];
      for (let i = 0; i < n; i++) {
        const left = c.filter((o) => !chosen.includes(o));
        chosen.push(pick(d, left));
      }
      const dev = pick(d, devices);
      const maxSeg = o.maxSegmentBytes?.[dev] ?? Infinity;
      // Now and then whole page blocks, so that an IOMMU can merge the entries into one DMA segment (granule-aligned and contiguous in IOVA space).
      const whole = d.int(0, 2) === 0;
      const segs = chosen.map((x) => ((x.kind === 'kmalloc' && d.int(0, 1) === 0) || (whole && x.kind === 'pages') ? { ref: x.id, offset: 0, size: x.sizeBytes } : { ref: x.id, ...edgeRange(d, x.sizeBytes) })).map((g) => ({ ...g, size: Math.min(g.size, maxSeg) }));
      return { op: 'mapSg', id: s.nextId('s'), dev, segs, dir: pick(d, DIRECTIONS), ...mapAttrs() };
    },
    unmapSingle: () => {
      const c = maps.filter((m) => m.kind === 'single' || m.kind === 'page');
      return c.length === 0 ? null : { op: 'unmapSingle', ref: pickRecent(d, s, c).id, ...unmapAttrs() };
    },
    unmapSg: () => {
      const c = maps.filter((m) => m.kind === 'sg');
      return c.length === 0 ? null : { op: 'unmapSg', ref: pickRecent(d, s, c).id, ...unmapAttrs() };
    },
    syncForCpu: () => syncStep('syncForCpu'),
    syncForDevice: () => syncStep('syncForDevice'),
    cpuWrite: () => cpuStep('cpuWrite'),
    cpuRead: () => cpuStep('cpuRead'),
    cpuWriteNeighbour: () => {
      // A neighbour write matters while its line-mate is mapped (R10, R11): prefer those.
      const mapped = of('kmalloc').filter((o) => o.mappedBy !== null);
      const c = mapped.length > 0 && d.int(0, 2) !== 0 ? mapped : of('kmalloc');
      return c.length === 0 ? null : { op: 'cpuWriteNeighbour', ref: pickRecent(d, s, c).id, pattern: pattern() };
    },
    deviceWrite: () => deviceStep('deviceWrite'),
    deviceRead: () => deviceStep('deviceRead'),
    userRead: () => {
      if (s.vmas.size === 0) return null;
      if (s.wcPending) return { op: 'dmaWmb' };
      const v = pick(d, [...s.vmas.values()]);
      return { op: 'userRead', ref: v.id, ...edgeRange(d, (s.objects.get(v.obj) as ModelObject).sizeBytes) };
    },
    dmaWmb: () => ({ op: 'dmaWmb' }),
    setContext: () => ({ op: 'setContext', context: atomic ? 'process' : 'atomic' }),
    speculativeFill: () => (objs.length === 0 ? null : eventStep('speculativeFill')),
    evict: () => (objs.length === 0 ? null : eventStep('evict')),
    wcDrain: () => ({ op: 'wcDrain' }),
    cmaPin: () => {
      const areas = o.cmaAreas ?? [];
      if (areas.length === 0) return null;
      const a = pick(d, areas);
      return { op: 'cmaPin', area: a.name, page: d.int(0, a.pages - 1) };
    },
    runWork: () => ({ op: 'runWork' }),
    misuse: () => {
      const misuse = pick(d, allowed.misuses);
      const refs = [...objs.map((x) => x.id), ...maps.map((m) => m.id)].filter((r) => misuseTargetProblem(misuse, r, s) === null);
      return refs.length === 0 ? null : { op: 'misuse', misuse, ref: pickRecent(d, s, refs.map((id) => ({ id }))).id };
    },
    badCall: () => {
      const call = pick(d, allowed.badCalls);
      const refs = [...objs.map((o) => o.id), ...maps.map((m) => m.id)];
      return { op: 'badCall', call, ...(refs.length === 0 ? {} : { ref: pick(d, refs) }) };
    },
    setMask: () => {
      const dev = pick(d, devices);
      const hw = o.deviceBits?.[dev];
      if (hw === undefined) return null;
      const bits = MASK_BITS.filter((b) => b <= hw);
      return bits.length === 0 ? null : { op: 'setMask', dev, which: pick(d, MASK_CALLS), bits: d.int(0, 2) === 0 ? hw : pick(d, bits) };
    },
  };
  function unmapAttrs(): { attrs?: MapAttrName[] } {
    if (swarm.mapAttrs.length === 0 || d.int(0, 2) !== 0) return {};
    return { attrs: [pick(d, swarm.mapAttrs)] };
  }
  function syncStep(op: 'syncForCpu' | 'syncForDevice'): Step | null {
    const c = maps.filter((m) => (m.kind === 'resource' ? false : m.kind === 'sg' || m.kind === 'ncsg' ? allowed.syncSg : allowed.syncSingle));
    if (c.length === 0) return null;
    const m = pickRecent(d, s, c);
    if (m.kind === 'sg' || m.kind === 'ncsg') return { op, ref: m.id, offset: 0, size: m.sizeBytes };
    const who = op === 'syncForCpu' ? [OWNER.device, OWNER.deviceDirty, OWNER.cpu] : [OWNER.cpu, OWNER.cpuDirty, OWNER.device];
    const runs = s.runsOwnedBy(m, who);
    const run = pickRun(d, runs);
    if (run === null) return null;
    // A partial sync keeps to the ownership granules (R9): a sub-run between granule boundaries.
    const cuts = s.granuleCuts(m, run.offset, run.size);
    const i = d.int(0, cuts.length - 2);
    const j = d.int(0, 2) === 0 ? cuts.length - 1 : d.int(i + 1, cuts.length - 1);
    const lo = d.int(0, 2) === 0 ? 0 : i;
    return { op, ref: m.id, offset: cuts[lo] as number, size: (cuts[j] as number) - (cuts[lo] as number) };
  }
  function cpuStep(op: 'cpuWrite' | 'cpuRead'): Step | null {
    const c = objs.filter((o) => o.kind !== 'coherent' || o.kernelMapping);
    if (c.length === 0) return null;
    const o = pickRecent(d, s, c);
    const runs = o.kind === 'coherent' ? [{ offset: 0, size: o.sizeBytes }] : s.objectRunsOwnedBy(o, [OWNER.cpu, OWNER.cpuDirty]);
    const run = pickRun(d, runs);
    if (run === null) return null;
    const range = within(d, run);
    return op === 'cpuWrite' ? { op, ref: o.id, ...range, pattern: pattern() } : { op, ref: o.id, ...range };
  }
  function deviceStep(op: 'deviceWrite' | 'deviceRead'): Step | null {
    const targets: (ModelObject | ModelMapping)[] = [...of('coherent'), ...maps];
    if (targets.length === 0) return null;
    const t = pickRecent(d, s, targets);
    if (t.kind === 'coherent' && s.wcPending) return { op: 'dmaWmb' };
    const runs = 'segs' in t ? s.runsOwnedBy(t, [OWNER.device, OWNER.deviceDirty]) : [{ offset: 0, size: t.sizeBytes }];
    const run = pickRun(d, runs);
    if (run === null) return null;
    const range = within(d, run);
    return op === 'deviceWrite' ? { op, ref: t.id, ...range, pattern: pattern() } : { op, ref: t.id, ...range };
  }
  function eventStep(op: 'speculativeFill' | 'evict'): Step {
    const o = pickRecent(d, s, objs);
    return { op, ref: o.id, offset: edgeInt(d, 0, o.sizeBytes - 1) };
  }

  const ops = (Object.keys(weights) as StepOp[]).filter((op) => (weights[op] as number) > 0 && allowed.ops.has(op) && swarm.ops.has(op));
  let total = ops.reduce((n, op) => n + (weights[op] as number), 0);
  const tried = new Set<StepOp>();
  while (tried.size < ops.length && total > 0) {
    let r = d.int(0, Math.max(0, Math.ceil(total * 100) - 1)) / 100;
    let op = ops[ops.length - 1] as StepOp;
    for (const o of ops) {
      if (tried.has(o)) continue;
      r -= weights[o] as number;
      if (r < 0) {
        op = o;
        break;
      }
    }
    if (tried.has(op)) op = ops.find((o) => !tried.has(o)) as StepOp;
    for (let attempt = 0; attempt < 6; attempt++) {
      const step = (makers[op] as () => Step | null)();
      if (step === null) break;
      if (s.check(step) === null) return step;
    }
    tried.add(op);
    total -= weights[op] as number;
  }
  return null;
}

/** One sequence's swarm: the step kinds, devices and attributes it may use. */
export interface Swarm {
  readonly ops: ReadonlySet<StepOp>;
  readonly devices: readonly string[];
  readonly allocAttrs: readonly (readonly AllocAttrName[])[];
  readonly mapAttrs: readonly MapAttrName[];
}

/** Everything enabled. */
export function fullSwarm(devices: readonly string[], o: GeneratorOptions): Swarm {
  const a = allowedSteps(o);
  return { ops: a.ops, devices, allocAttrs: a.allocAttrs, mapAttrs: a.mapAttrs };
}

/** Ops a swarm never leaves out: without a buffer and a transfer there is nothing to observe. */
const SWARM_CORE: readonly StepOp[] = ['kmalloc', 'allocPages', 'alloc', 'mapSingle', 'mapPage', 'mapSg', 'unmapSingle', 'unmapSg'];

/**
 * A random swarm. One sequence in four keeps everything. The others keep
 * each device and each attribute with probability 1/2 (at least one
 * device), so a rare device or attribute gets whole sequences to itself;
 * one in three of those also drops each optional step kind with
 * probability 1/2 (never the core that creates and transfers buffers). Step
 * kinds are thinned less often than devices: a property's weights already
 * say which kinds its bugs need, and measurements (`npm run bench`) showed
 * thinning them every time halves how often those kinds meet.
 */
export function drawSwarm(d: Draw, o: GeneratorOptions): Swarm {
  const full = fullSwarm(o.devices, o);
  if (o.swarm === false || process.env.NOSWARM === '1' || d.int(0, 3) === 0) return full;
  const ops = d.int(0, 2) === 0 ? new Set([...full.ops].filter((op) => SWARM_CORE.includes(op) || d.int(0, 1) === 0)) : full.ops;
  let devices = o.devices.filter(() => d.int(0, 1) === 0);
  if (devices.length === 0) devices = [pick(d, o.devices)];
  const allocAttrs = full.allocAttrs.filter(() => d.int(0, 1) === 0);
  return { ops, devices, allocAttrs: allocAttrs.length === 0 ? [[]] : allocAttrs, mapAttrs: full.mapAttrs.filter(() => d.int(0, 1) === 0) };
}

/** Generate a legal sequence of `length` steps (fewer when nothing legal is left). */
export function generateSteps(o: GeneratorOptions, d: Draw, length: number): Step[] {
  const s = new ModelState(o.devices, o.resources);
  const weights = { ...DEFAULT_WEIGHTS, ...o.weights };
  if (o.lazyIommu === true && weights.runWork === 0) weights.runWork = 2;
  const swarm = drawSwarm(d, o);
  const out: Step[] = [];
  for (let i = 0; i < length; i++) {
    const step = drawStep(s, weights, d, o, swarm);
    if (step === null) break;
    s.apply(step);
    out.push(step);
  }
  return out;
}

/**
 * Replay `steps` through a fresh model and keep only the legal ones whose
 * names are all defined: what is left is again a legal driver.
 */
export function repair(devices: readonly string[], steps: readonly Step[], resources?: ModelState['resources']): Step[] {
  const s = new ModelState(devices, resources);
  const out: Step[] = [];
  const defined = new Set<string>();
  for (const step of steps) {
    if (usedIds(step).some((id) => !defined.has(id))) continue;
    if (s.check(step) !== null) continue;
    s.apply(step);
    const id = definedId(step);
    if (id !== null) defined.add(id);
    out.push(step);
  }
  return out;
}

/** Smaller versions of one step's parameters (shorter reads and writes, plainer allocations). */
function simplerStep(step: Step): Step[] {
  switch (step.op) {
    case 'cpuWrite':
    case 'cpuRead':
    case 'deviceWrite':
    case 'deviceRead':
    case 'userRead':
      return step.size > 8 ? [{ ...step, size: Math.max(8, Math.floor(step.size / 16) * 8) }] : [];
    case 'alloc':
    case 'kmalloc':
    case 'allocPages': {
      const out: Step[] = [];
      if (step.gfp !== 'GFP_KERNEL') out.push({ ...step, gfp: 'GFP_KERNEL' });
      if (step.op === 'alloc' && step.attrs.length > 0 && !step.attrs.includes('DMA_ATTR_NO_KERNEL_MAPPING')) out.push({ ...step, attrs: [] });
      if (step.op === 'alloc' && step.size > 4096) out.push({ ...step, size: 4096 });
      return out;
    }
    case 'mapSg':
      return step.segs.length > 1 ? [{ ...step, segs: step.segs.slice(0, 1) }] : [];
    default:
      return [];
  }
}

/** Shrink candidates of `steps`, biggest cuts first; each is repaired and strictly simpler. */
export function* shrinkSteps(devices: readonly string[], steps: readonly Step[], resources?: ModelState['resources']): Generator<Step[]> {
  const n = steps.length;
  for (let chunk = Math.max(1, n >> 1); chunk >= 1; chunk >>= 1) {
    for (let start = n - chunk; start >= 0; start -= chunk) {
      const cand = repair(devices, [...steps.slice(0, start), ...steps.slice(start + chunk)], resources);
      if (cand.length < n) yield cand;
    }
    if (chunk === 1) break;
  }
  for (let i = 0; i < n; i++) {
    for (const simpler of simplerStep(steps[i] as Step)) {
      const cand = repair(devices, [...steps.slice(0, i), simpler, ...steps.slice(i + 1)], resources);
      if (cand.length === n) yield cand;
    }
  }
}

/** fast-check's random source as a {@link Draw}. */
function draw(mrng: fc.Random): Draw {
  return { int: (min, max) => mrng.nextInt(min, max) };
}

/** A fast-check arbitrary of legal driver sequences. */
export class StepsArbitrary extends fc.Arbitrary<Step[]> {
  private readonly maxSteps: number;

  constructor(private readonly options: GeneratorOptions) {
    super();
    const problems = validateGeneratorOptions(options);
    if (problems.length > 0) throw new Error(`generator options: ${problems.join('; ')}`);
    this.maxSteps = options.maxSteps ?? 100;
  }

  generate(mrng: fc.Random, biasFactor: number | undefined): fc.Value<Step[]> {
    const d = draw(mrng);
    const small = biasFactor !== undefined && d.int(1, biasFactor) === 1;
    const length = small ? d.int(1, Math.min(10, this.maxSteps)) : d.int(Math.min(10, this.maxSteps), this.maxSteps);
    const base = this.options.profile;
    if (base !== undefined && length > 1 && d.int(0, 1) === 0) {
      const overrides = profileVariant(base, d.int(1, VARIANTS));
      if (Object.keys(overrides).length > 0) {
        const variant = variantProfile(base, overrides);
        const steps = generateSteps({ ...this.options, ...profileGeneratorOptions(variant) }, d, length - 1);
        return new fc.Value([{ op: 'platform', overrides }, ...steps], undefined);
      }
    }
    return new fc.Value(generateSteps(this.options, d, length), undefined);
  }

  canShrinkWithoutContext(_value: unknown): _value is Step[] {
    return false;
  }

  shrink(value: Step[], _context: unknown): fc.Stream<fc.Value<Step[]>> {
    const devices = this.options.devices;
    return new fc.Stream(shrinkSteps(devices, value, this.options.resources)).map((v) => new fc.Value(v, undefined));
  }
}
