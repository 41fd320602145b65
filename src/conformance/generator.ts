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
import type { PlatformProfile } from '../platform/profiles.ts';
import { PAGE_SIZE } from '../platform/types.ts';
import { GRANULE_BYTES, type ModelMapping, type ModelObject, ModelState } from './model.ts';
import type { BackendCall, BackendCapabilities } from '../backend/backend.ts';
import { type AllocAttrName, BAD_CALLS, BAD_CALL_LEVEL, type BadCall, DIRECTIONS, STEP_OPS, type Step, type StepOp, attrsValue, definedId, usedIds } from './steps.ts';

/** Relative weight of each op; ops left out are never drawn. */
export type StepWeights = Partial<Record<StepOp, number>>;

/** Weights of a balanced driver: allocate, map, transfer, read back, free. */
export const DEFAULT_WEIGHTS: Readonly<Required<StepWeights>> = {
  alloc: 4, free: 2, mmap: 1, munmap: 1, getSgtable: 1, kmalloc: 5, kfree: 2, allocPages: 3, freePages: 2,
  mapSingle: 5, mapPage: 4, mapSg: 2, unmapSingle: 3, unmapSg: 2, syncForCpu: 5, syncForDevice: 5,
  cpuWrite: 8, cpuRead: 8, cpuWriteNeighbour: 1, deviceWrite: 8, deviceRead: 6, userRead: 1,
  dmaWmb: 1, setContext: 1, speculativeFill: 4, evict: 3, wcDrain: 1, cmaPin: 0, runWork: 0, badCall: 0,
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
  /** The profile's CMA areas (name, pages), where `cmaPin` events land. */
  readonly cmaAreas?: readonly { readonly name: string; readonly pages: number }[];
  /** Attribute sets `dma_alloc_attrs` draws from, uniformly (default: mostly none, some NO_KERNEL_MAPPING, WRITE_COMBINE, FORCE_CONTIGUOUS). */
  readonly allocAttrs?: readonly (readonly AllocAttrName[])[];
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
};

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

/** What a backend's capabilities let the generator draw. */
interface Allowed {
  readonly ops: ReadonlySet<StepOp>;
  /** Sync steps on single/page mappings, on sg mappings. */
  readonly syncSingle: boolean;
  readonly syncSg: boolean;
  readonly badCalls: readonly BadCall[];
  readonly allocAttrs: readonly (readonly AllocAttrName[])[];
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
  const badCalls = BAD_CALLS.filter((b) => levels.includes(BAD_CALL_LEVEL[b]) && can(BAD_CALL_CALLS[b]));
  if (badCalls.length === 0) ops.delete('badCall');
  const attrsOk = (set: readonly AllocAttrName[]) => caps === undefined || (attrsValue(set) & ~caps.attrs) === 0;
  const choices = (o.allocAttrs ?? ATTR_CHOICES).filter(attrsOk);
  a = {
    ops,
    syncSingle: can('syncSingleForCpu') && can('syncSingleForDevice'),
    syncSg: can('syncSgForCpu') && can('syncSgForDevice'),
    badCalls,
    allocAttrs: choices.length === 0 ? [[]] : choices,
  };
  allowedCache.set(o, a);
  return a;
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

const KMALLOC_SIZES = [24, 64, 128, 192, 256, 512, 1024, 2048, 3000, 4096];
const KMALLOC_SIZES_BIG = [24, 40, 96, 192, 200, 1000, 2100, 3000, 4096, 6000];
const ALLOC_SIZES = [64, 512, 4096, 6000, 8192, 16384, 65536];
const ALLOC_SIZES_LARGE = [...ALLOC_SIZES, 262144, 1048576, 2097152];
/** Default attribute sets of `dma_alloc_attrs` draws. */
export const ATTR_CHOICES: readonly (readonly AllocAttrName[])[] = [[], [], [], ['DMA_ATTR_NO_KERNEL_MAPPING'], ['DMA_ATTR_WRITE_COMBINE'], ['DMA_ATTR_FORCE_CONTIGUOUS']];

/** The random source a draw uses: fast-check's, or any `(min, max) → int` for tests. */
export interface Draw {
  int(min: number, max: number): number;
}

function pick<T>(d: Draw, xs: readonly T[]): T {
  return xs[d.int(0, xs.length - 1)] as T;
}

/** A random range inside `[0, sizeBytes)`, 8-byte aligned where it can be. */
function anyRange(d: Draw, sizeBytes: number): { offset: number; size: number } {
  const offset = sizeBytes > 8 ? d.int(0, Math.floor((sizeBytes - 1) / 8)) * 8 : 0;
  const size = d.int(1, Math.min(sizeBytes - offset, 1024));
  return { offset, size };
}

/** A random granule-aligned range inside `[0, sizeBytes)` (for partial syncs and mapPage, R9). */
function granuleRange(d: Draw, sizeBytes: number): { offset: number; size: number } {
  const g = Math.ceil(sizeBytes / GRANULE_BYTES);
  const g0 = d.int(0, g - 1);
  const g1 = d.int(g0 + 1, g);
  return { offset: g0 * GRANULE_BYTES, size: Math.min(g1 * GRANULE_BYTES, sizeBytes) - g0 * GRANULE_BYTES };
}

/**
 * Draw one legal step for state `s`, or null when no op with a positive
 * weight can be made legal (then the caller stops the sequence).
 */
export function drawStep(s: ModelState, weights: Readonly<Required<StepWeights>>, d: Draw, o: GeneratorOptions): Step | null {
  const highmem = o.highmem ?? false;
  const big = o.bigBuffers ?? false;
  const allowed = allowedSteps(o);
  const attrChoices = allowed.allocAttrs;
  const objs = [...s.objects.values()];
  const maps = [...s.mappings.values()];
  const of = (kind: ModelObject['kind']) => objs.filter((o) => o.kind === kind);
  const unmapped = (kind: ModelObject['kind']) => objs.filter((o) => o.kind === kind && o.mappedBy === null);
  const atomic = s.context === 'atomic';
  const gfp = () => (atomic ? 'GFP_ATOMIC' : d.int(0, 5) === 0 ? 'GFP_ATOMIC' : 'GFP_KERNEL') as 'GFP_ATOMIC' | 'GFP_KERNEL';
  const pattern = () => d.int(1, 0x7fffffff);
  const makers: Partial<Record<StepOp, () => Step | null>> = {
    alloc: () => ({ op: 'alloc', id: s.nextId('b'), dev: pick(d, s.devices), size: pick(d, o.largeAllocs === true ? ALLOC_SIZES_LARGE : ALLOC_SIZES), gfp: gfp(), attrs: pick(d, attrChoices) }),
    free: () => {
      const c = of('coherent').filter((o) => o.vmas.size === 0);
      return c.length === 0 || atomic ? null : { op: 'free', ref: pick(d, c).id };
    },
    mmap: () => (of('coherent').length === 0 || atomic ? null : { op: 'mmap', id: s.nextId('u'), ref: pick(d, of('coherent')).id }),
    munmap: () => (s.vmas.size === 0 ? null : { op: 'munmap', ref: pick(d, [...s.vmas.keys()]) }),
    getSgtable: () => (of('coherent').length === 0 || atomic ? null : { op: 'getSgtable', ref: pick(d, of('coherent')).id }),
    kmalloc: () => ({ op: 'kmalloc', id: s.nextId('k'), size: pick(d, big ? KMALLOC_SIZES_BIG : KMALLOC_SIZES), gfp: gfp() }),
    kfree: () => (unmapped('kmalloc').length === 0 ? null : { op: 'kfree', ref: pick(d, unmapped('kmalloc')).id }),
    allocPages: () => ({ op: 'allocPages', id: s.nextId('p'), order: d.int(0, big ? 4 : 2), gfp: gfp(), highmem: highmem && d.int(0, 1) === 1 }),
    freePages: () => (unmapped('pages').length === 0 ? null : { op: 'freePages', ref: pick(d, unmapped('pages')).id }),
    mapSingle: () => (unmapped('kmalloc').length === 0 ? null : { op: 'mapSingle', id: s.nextId('m'), ref: pick(d, unmapped('kmalloc')).id, dev: pick(d, s.devices), dir: pick(d, DIRECTIONS) }),
    mapPage: () => {
      const c = unmapped('pages');
      if (c.length === 0) return null;
      const o = pick(d, c);
      return { op: 'mapPage', id: s.nextId('m'), ref: o.id, dev: pick(d, s.devices), ...granuleRange(d, o.sizeBytes), dir: pick(d, DIRECTIONS) };
    },
    mapSg: () => {
      const c = objs.filter((o) => o.kind !== 'coherent' && o.mappedBy === null);
      if (c.length === 0) return null;
      const n = d.int(1, Math.min(3, c.length));
      const chosen: ModelObject[] = [];
      for (let i = 0; i < n; i++) {
        const left = c.filter((o) => !chosen.includes(o));
        chosen.push(pick(d, left));
      }
      const segs = chosen.map((o) => (o.kind === 'kmalloc' ? { ref: o.id, offset: 0, size: o.sizeBytes } : { ref: o.id, ...granuleRange(d, o.sizeBytes) }));
      return { op: 'mapSg', id: s.nextId('s'), dev: pick(d, s.devices), segs, dir: pick(d, DIRECTIONS) };
    },
    unmapSingle: () => {
      const c = maps.filter((m) => m.kind !== 'sg');
      return c.length === 0 ? null : { op: 'unmapSingle', ref: pick(d, c).id };
    },
    unmapSg: () => {
      const c = maps.filter((m) => m.kind === 'sg');
      return c.length === 0 ? null : { op: 'unmapSg', ref: pick(d, c).id };
    },
    syncForCpu: () => syncStep('syncForCpu'),
    syncForDevice: () => syncStep('syncForDevice'),
    cpuWrite: () => cpuStep('cpuWrite'),
    cpuRead: () => cpuStep('cpuRead'),
    cpuWriteNeighbour: () => (of('kmalloc').length === 0 ? null : { op: 'cpuWriteNeighbour', ref: pick(d, of('kmalloc')).id, pattern: pattern() }),
    deviceWrite: () => deviceStep('deviceWrite'),
    deviceRead: () => deviceStep('deviceRead'),
    userRead: () => {
      if (s.vmas.size === 0) return null;
      if (s.wcPending) return { op: 'dmaWmb' };
      const v = pick(d, [...s.vmas.values()]);
      return { op: 'userRead', ref: v.id, ...anyRange(d, (s.objects.get(v.obj) as ModelObject).sizeBytes) };
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
    badCall: () => {
      const call = pick(d, allowed.badCalls);
      const refs = [...objs.map((o) => o.id), ...maps.map((m) => m.id)];
      return { op: 'badCall', call, ...(refs.length === 0 ? {} : { ref: pick(d, refs) }) };
    },
  };
  function syncStep(op: 'syncForCpu' | 'syncForDevice'): Step | null {
    const c = maps.filter((m) => (m.kind === 'sg' ? allowed.syncSg : allowed.syncSingle));
    if (c.length === 0) return null;
    const m = pick(d, c);
    const r = m.kind === 'sg' ? { offset: 0, size: m.sizeBytes } : granuleRange(d, m.sizeBytes);
    return { op, ref: m.id, ...r };
  }
  function cpuStep(op: 'cpuWrite' | 'cpuRead'): Step | null {
    const c = objs.filter((o) => o.kind !== 'coherent' || o.kernelMapping);
    if (c.length === 0) return null;
    const o = pick(d, c);
    const r = o.kind === 'coherent' ? anyRange(d, o.sizeBytes) : granuleRange(d, o.sizeBytes);
    const sub = anyRange(d, r.size);
    const range = { offset: r.offset + sub.offset, size: sub.size };
    return op === 'cpuWrite' ? { op, ref: o.id, ...range, pattern: pattern() } : { op, ref: o.id, ...range };
  }
  function deviceStep(op: 'deviceWrite' | 'deviceRead'): Step | null {
    const targets: (ModelObject | ModelMapping)[] = [...of('coherent'), ...maps];
    if (targets.length === 0) return null;
    const t = pick(d, targets);
    if (t.kind === 'coherent' && s.wcPending) return { op: 'dmaWmb' };
    const r = t.kind === 'coherent' ? anyRange(d, t.sizeBytes) : granuleRange(d, t.sizeBytes);
    const sub = anyRange(d, r.size);
    const range = { offset: r.offset + sub.offset, size: sub.size };
    return op === 'deviceWrite' ? { op, ref: t.id, ...range, pattern: pattern() } : { op, ref: t.id, ...range };
  }
  function eventStep(op: 'speculativeFill' | 'evict'): Step {
    const o = pick(d, objs);
    return { op, ref: o.id, offset: d.int(0, o.sizeBytes - 1) };
  }

  const ops = (Object.keys(weights) as StepOp[]).filter((op) => (weights[op] as number) > 0 && allowed.ops.has(op));
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

/** Generate a legal sequence of `length` steps (fewer when nothing legal is left). */
export function generateSteps(o: GeneratorOptions, d: Draw, length: number): Step[] {
  const s = new ModelState(o.devices);
  const weights = { ...DEFAULT_WEIGHTS, ...o.weights };
  const out: Step[] = [];
  for (let i = 0; i < length; i++) {
    const step = drawStep(s, weights, d, o);
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
export function repair(devices: readonly string[], steps: readonly Step[]): Step[] {
  const s = new ModelState(devices);
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
export function* shrinkSteps(devices: readonly string[], steps: readonly Step[]): Generator<Step[]> {
  const n = steps.length;
  for (let chunk = Math.max(1, n >> 1); chunk >= 1; chunk >>= 1) {
    for (let start = n - chunk; start >= 0; start -= chunk) {
      const cand = repair(devices, [...steps.slice(0, start), ...steps.slice(start + chunk)]);
      if (cand.length < n) yield cand;
    }
    if (chunk === 1) break;
  }
  for (let i = 0; i < n; i++) {
    for (const simpler of simplerStep(steps[i] as Step)) {
      const cand = repair(devices, [...steps.slice(0, i), simpler, ...steps.slice(i + 1)]);
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
    return new fc.Value(generateSteps(this.options, d, length), undefined);
  }

  canShrinkWithoutContext(_value: unknown): _value is Step[] {
    return false;
  }

  shrink(value: Step[], _context: unknown): fc.Stream<fc.Value<Step[]>> {
    const devices = this.options.devices;
    return new fc.Stream(shrinkSteps(devices, value)).map((v) => new fc.Value(v, undefined));
  }
}
