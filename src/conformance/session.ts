/**
 * Not a kernel mirror: the one interpreter of driver steps. A session builds
 * a platform, its substrate and a backend (`bootMachine`), plays the driver —
 * every `dma_*` call goes to the backend (behind the box of `guard.ts`),
 * every CPU, device, user and cache action to the trusted platform — and
 * feeds the oracle's observations to a sink. It records what the platform
 * showed (bytes read, addresses and where they lead, where an allocation's
 * pages lie, what a free left behind); it judges nothing: every condition
 * lives in the property that owns it (DESIGN.md "Style").
 *
 * A step that names the result of a failed call is skipped, as a driver that
 * checks `dma_mapping_error` or a NULL return does (R33, R47). A step the
 * symbolic model finds illegal is skipped and counted (misuse mode, which
 * executes them, is a later issue). Only calls the backend declares are
 * made: a step needing another (a trace recorded on another backend) is
 * skipped like a failed call. A backend exception stops the sequence: a kernel that oopsed has no
 * later state worth checking. At the end the session tears down what is
 * still live (unmap, munmap, free) in process context and compares the
 * substrate's accounting with where it started.
 */
import type { BackendCall, BackendCapabilities, BackendFactory } from '../backend/backend.ts';
import { AsyncBackendError, BackendCallError, BackendReturnError, type GuardedBackend, describeThrown, noteStep } from '../backend/guard.ts';
import { bootMachine } from '../backend/setup.ts';
import { DMA_ATTR_MMIO, DMA_ATTR_NO_KERNEL_MAPPING, DMA_ATTR_SKIP_CPU_SYNC, DMA_BIDIRECTIONAL, DMA_FROM_DEVICE, DMA_MAPPING_ERROR, DMA_NONE, DMA_TO_DEVICE } from '../linux/include/linux/dma-mapping.ts';
import { __GFP_COMP, gfpflagsAllowBlocking } from '../linux/include/linux/gfp.ts';
import { type Scatterlist, type SgTable, sgEntry } from '../linux/include/linux/scatterlist.ts';
import type { Substrate } from '../linux/mm/substrate.ts';
import type { IoTlbMemState } from '../linux/kernel/dma/swiotlb.ts';
import { PlatformError } from '../platform/check.ts';
import { IOMMU_READ, IOMMU_WRITE, protString } from '../platform/iommu.ts';
import { DeviceFault } from '../platform/device.ts';
import { BusError } from '../platform/memory.ts';
import { type PageAttr, PageFault } from '../platform/pgtable.ts';
import type { Platform } from '../platform/platform.ts';
import type { PlatformProfile } from '../platform/profiles.ts';
import { PAGE_SIZE, type CpuAddr, type DmaAddr, type Pfn, getOrder, hex, maskLimit } from '../platform/types.ts';
import { UserFault, type VmArea } from '../platform/user.ts';
import { stepCalls } from './generator.ts';
import { type DebugFactory, DebuggedBackend, cachelineOverlapExempt, machineDebug } from './debugged.ts';
import type { DebugReport, DmaDebug } from '../linux/kernel/dma/debug.ts';
import { type DebugCheckId, MISUSE_INFO, type Misuse, legalPrefix, modelEffect } from './misuse.ts';
import { GRANULE_BYTES, type ModelMapping, type ModelSegment, ModelState, OWNER, type ObjKind, resourceUsers, teardownSteps } from './model.ts';
import { type Coverage, hit } from './coverage.ts';
import { ORIGIN, type Observation, type ReadObservation, Shadow, type StepRef, type Transfer, fromDeviceMapMayDiscard } from './oracle.ts';
import { type DirName, type GfpFlagName, type NcApi, type Step, attrsValue, definedId, dirValue, gfpValue, patternBytes, usedIds } from './steps.ts';

/** Options of a {@link Session}. */
export interface SessionOptions {
  /** Platform profile, or its name. */
  readonly profile: string | PlatformProfile;
  /** Backend under test. */
  readonly backend: BackendFactory;
  /** Platform PRNG seed (garbage bytes, fault injection). */
  readonly platformSeed: string;
  /** Devices to attach and drive; default every device of the profile. */
  readonly devices?: readonly string[];
  /** The backend's capabilities as read when it was loaded; default: read from the factory. */
  readonly capabilities?: BackendCapabilities;
  /** Receives every observation, in order. */
  readonly sink: (obs: Observation) => void;
  /** Builds the dma-debug that watches the calls (default the model; tests pass mutants of it). */
  readonly debug?: DebugFactory;
}

/** What a sequence did. */
export interface SessionResult {
  /** Steps executed. */
  readonly executed: number;
  /** Steps skipped because they name a failed result or are not applicable. */
  readonly skipped: number;
  /** Steps skipped because the model found them illegal, with the rule they would break. */
  readonly illegal: readonly { readonly index: number; readonly rule: string }[];
  /** The backend raised an exception (the kernel oopsed); later steps and teardown did not run. */
  readonly halted: boolean;
  /** What the backend threw when it halted, one line (null when it did not). */
  readonly oops: string | null;
  /** The halt happened in a misuse step: the kernel oopsing is that misuse's consequence, not a failure of the backend. */
  readonly oopsByMisuse?: boolean;
  /** Calls made and calls that failed, by kind (allocations; streaming maps). */
  readonly calls: CallStats;
  /** The paths the calls went down (`coverage.ts`). */
  readonly coverage: Coverage;
}

/** How many calls of each kind were made, and how many failed. */
export interface CallStats {
  /** `dma_alloc_attrs`. */
  readonly alloc: { made: number; failed: number };
  /** `dma_alloc_pages`, `dma_alloc_noncoherent`, `dma_alloc_noncontiguous`. */
  readonly allocNc: { made: number; failed: number };
  readonly map: { made: number; failed: number };
}

interface Neighbour {
  readonly va: CpuAddr;
  readonly shadow: Shadow;
}

interface ObjRec {
  readonly id: string;
  readonly kind: ObjKind;
  readonly sizeBytes: number;
  readonly dev: string | null;
  readonly attrs: number;
  /** Kernel VA (kmalloc, lowmem pages, coherent with a mapping), the cookie (NO_KERNEL_MAPPING), or null (highmem pages). */
  readonly cpu: number | null;
  readonly dma: DmaAddr;
  readonly pfn: Pfn | null;
  readonly order: number;
  /** Physical address of the start of each page the object covers (first entry: of its first byte). */
  readonly physPages: readonly number[];
  readonly shadow: Shadow;
  /** kmalloc objects: the neighbour sharing a cache line (null: none shares one; undefined: not looked for yet). */
  neighbour?: Neighbour | null;
  /** Some mapping of the object went through a bounce buffer. */
  bounced?: boolean;
  /** Coherent buffers: where the pages lie (see the `alloc` observation). */
  region?: string | null;
  /** Non-coherent objects: the allocator, its direction, and what `free` takes back (the first page, the sg table). */
  readonly nc?: { readonly api: NcApi; readonly dir: number; readonly page: Pfn | null; readonly sgt: SgTable | null };
}

/** A misuse that touched memory: its kind and step (1-based). */
interface Taint {
  readonly misuse: Misuse;
  readonly index: number;
}

interface MapRec {
  readonly dev: string;
  readonly kind: ModelMapping['kind'];
  readonly sizeBytes: number;
  readonly dir: number;
  /** Attributes the mapping was made with. */
  readonly attrs: number;
  /** DMA segments the device uses, in mapping order. */
  readonly dmaSegs: readonly { readonly dma: number; readonly len: number }[];
  readonly dma: DmaAddr;
  readonly sgl: Scatterlist[] | null;
  /** Physical ranges of the bounce buffers the device uses for this mapping. */
  readonly bounces: readonly { readonly phys: number; readonly len: number }[];
  /** `orig_nents` of a table the backend handed out (`dma_alloc_noncontiguous`), when `sgl` may be longer. */
  readonly nents?: number;
  /** A resource mapping: the physical address of the MMIO it maps. */
  readonly resourcePhys?: number;
}

/** One driver sequence on one backend over one platform. */
export class Session {
  /** Flush events (`runWork`) so far: lazy IOMMU invalidation must be done by the next one. */
  private flushEpoch = 0;
  /** What {@link observeIommu} last judged per device (domain generation and live ranges). */
  private readonly iommuSeen = new Map<string, string>();
  /** Every IOVA range each IOMMU device was given in this sequence, oldest first: what a leftover entry is blamed on. */
  private readonly iovaHistory = new Map<string, { readonly seen: Set<string>; readonly ranges: { ref: string; lo: number; hi: number }[] }>();
  /** When each leftover IOTLB entry (`dev:iova`) was first seen, as a {@link flushEpoch}. */
  private readonly staleSince = new Map<string, number>();
  readonly platform: Platform;
  readonly mm: Substrate;
  readonly backend: GuardedBackend;
  readonly model: ModelState;
  /** Devices the backend refused at attach time, with why (left out of the driver). */
  readonly refused: readonly { readonly dev: string; readonly why: string }[];
  private readonly objs = new Map<string, ObjRec>();
  private readonly maps = new Map<string, MapRec>();
  private readonly vmas = new Map<string, { readonly vma: VmArea; readonly obj: string }>();
  private readonly failed = new Set<string>();
  private readonly start: string;
  /** Each IOMMU device's IOVA space in use at the start, bytes, when the backend declares `iovaState`. */
  private readonly iovaStart = new Map<string, number>();
  /** Each device's swiotlb accounting at the start, when the backend declares `swiotlbState`. */
  private readonly swiotlbStart = new Map<string, IoTlbMemState>();
  private violationsSeen = 0;
  private at: StepRef = { index: 0, step: null };
  /** What setting the machine up threw (an oops of the backend at step 0), or null. */
  private setupOops: BackendCallError | null = null;
  /** The calls the backend declares: the only ones made. */
  private readonly declared: ReadonlySet<BackendCall>;
  private readonly calls: CallStats = { alloc: { made: 0, failed: 0 }, allocNc: { made: 0, failed: 0 }, map: { made: 0, failed: 0 } };
  private readonly coverage: Coverage = {};
  /** Masks the driver set with `setMask` steps since probe (probe set the device's natural width). */
  private readonly masks = new Map<string, { streaming?: number; coherent?: number }>();

  constructor(private readonly options: SessionOptions) {
    this.declared = new Set((options.capabilities ?? options.backend.capabilities).calls);
    let m: ReturnType<typeof bootMachine> | null = null;
    try {
      m = bootMachine(options.profile, { seed: options.platformSeed, backend: options.backend, ...(options.devices === undefined ? {} : { devices: options.devices }), ...(options.capabilities === undefined ? {} : { capabilities: options.capabilities }) });
    } catch (err) {
      if (!(err instanceof BackendCallError)) throw err;
      this.setupOops = err;
    }
    if (m === null) {
      // Only run() is meaningful now: it reports the oops.
      this.platform = null as unknown as Platform;
      this.mm = null as unknown as Substrate;
      this.backend = null as unknown as GuardedBackend;
      this.model = new ModelState([]);
      this.refused = [];
      this.start = '';
      return;
    }
    this.platform = m.platform;
    this.mm = m.mm;
    // dma-debug watches every call the driver makes (debugged.ts).
    this.backend = new DebuggedBackend(m.backend, m.platform, machineDebug(m.platform, (r) => this.onDebugReport(r), options.debug));
    this.refused = m.refused;
    this.model = new ModelState(m.attached, resourceUsers(m.platform.profile));
    this.start = JSON.stringify(this.mm.snapshot());
    for (const d of this.declared.has('iovaState') ? this.model.devices : []) {
      const st = this.guarded(() => this.backend.iovaState(d));
      if (st !== undefined && st !== null) this.iovaStart.set(d, st);
    }
    for (const d of this.declared.has('swiotlbState') ? this.model.devices : []) {
      const st = this.guarded(() => this.backend.swiotlbState(d));
      if (st !== undefined && st !== null) this.swiotlbStart.set(d, st);
    }
  }

  /** A backend call made while setting up, where an oops has no step to halt yet. */
  private guarded<T>(fn: () => T): T | undefined {
    try {
      return fn();
    } catch (err) {
      if (!(err instanceof BackendCallError)) throw err;
      this.setupOops = err;
      return undefined;
    }
  }

  /** The session is over: its machine's buffers are reused by the next one. Nothing may use it afterwards. */
  dispose(): void {
    this.platform?.release();
  }

  private emit(obs: Observation): void {
    const by = this.anyMisuse ? this.taintOf(obs) : null;
    if (by !== null) this.options.sink({ kind: 'consequence', at: obs.at, misuse: by.misuse, misuseStep: by.index, observation: obs });
    else this.options.sink(obs);
  }

  /** Run `steps`, then tear down and check the accounting. */
  run(steps: readonly Step[]): SessionResult {
    let executed = 0;
    let skipped = 0;
    const illegal: { index: number; rule: string }[] = [];
    if (this.setupOops !== null) {
      this.emitOops(this.setupOops);
      return { executed: 0, skipped: 0, illegal, halted: true, oops: this.oops, calls: this.calls, coverage: this.coverage };
    }
    const swiotlbSlots: Record<string, number> = {};
    for (const [dev, st] of this.swiotlbStart) swiotlbSlots[dev] = st.pools.filter((p) => !p.transient).reduce((n, p) => n + p.nslabs, 0);
    this.emit({ kind: 'boot', at: this.at, pools: this.mm.genPools.map((g) => ({ name: g.name, sizeBytes: g.sizeBytes })), swiotlbSlots });
    for (let i = 0; i < steps.length; i++) {
      const step = steps[i] as Step;
      this.at = { index: i + 1, step };
      noteStep(i + 1);
      if (usedIds(step).some((id) => this.failed.has(id)) || stepCalls(step).some((c) => !this.declared.has(c))) {
        this.fail(step);
        skipped++;
        continue;
      }
      const rule = this.model.check(step);
      if (rule !== null) {
        this.fail(step);
        illegal.push({ index: i + 1, rule });
        continue;
      }
      if (!this.guard(() => this.exec(step))) return { executed: executed + 1, skipped, illegal, halted: true, oops: this.oops, ...(this.oopsInMisuse ? { oopsByMisuse: true } : {}), calls: this.calls, coverage: this.coverage };
      executed++;
      if (this.failed.has(definedId(step) ?? '')) skipped++;
      else if (step.op !== 'misuse') {
        // A misuse step applies what it did to the model itself (misuse()).
        const unmapped = step.op === 'unmapSingle' || step.op === 'unmapSg' ? this.model.mappings.get(step.ref) : undefined;
        this.model.apply(step);
        this.observeTransfer(step, unmapped);
      }
      this.noteViolations();
      this.observeIommu(step.op === 'runWork');
    }
    this.at = { index: 0, step: null };
    noteStep(0);
    if (!this.guard(() => this.teardown())) return { executed, skipped, illegal, halted: true, oops: this.oops, calls: this.calls, coverage: this.coverage };
    return { executed, skipped, illegal, halted: false, oops: null, calls: this.calls, coverage: this.coverage };
  }

  private fail(step: Step): void {
    const id = definedId(step);
    if (id !== null) this.failed.add(id);
  }

  /** The oops that halted the run, one line. */
  private oops: string | null = null;

  /**
   * Run `fn`; turn what the backend threw, or a fault the platform raised
   * on an address the backend handed out, into an `oops` observation.
   * Anything else is a bug of the harness and propagates.
   * @returns false after an oops
   */
  private guard(fn: () => void): boolean {
    try {
      fn();
      return true;
    } catch (err) {
      if (err instanceof AsyncBackendError || !(err instanceof BackendCallError || err instanceof BackendReturnError || isPlatformFault(err))) throw err;
      this.noteViolations();
      this.emitOops(err);
      return false;
    }
  }

  private emitOops(err: Error): void {
    const cause = err instanceof BackendCallError ? err.thrown : err;
    const faultAddress = cause instanceof PageFault ? cause.vaddr : null;
    let cookieOf: string | null = null;
    if (faultAddress !== null) {
      for (const o of this.objs.values()) {
        if (o.kind === 'coherent' && o.cpu !== null && !this.model.objects.get(o.id)?.kernelMapping && faultAddress >= o.cpu && faultAddress < o.cpu + Math.max(o.sizeBytes, PAGE_SIZE)) cookieOf = o.id;
      }
    }
    this.oops = err instanceof BackendCallError ? err.message : describeThrown(err);
    this.emit({ kind: 'oops', at: this.at, message: this.oops, faultAddress, cookieOf });
  }

  private noteViolations(): void {
    const all = this.platform.violations.all;
    for (; this.violationsSeen < all.length; this.violationsSeen++) {
      this.emit({ kind: 'platform-violation', at: this.at, violation: all[this.violationsSeen] as (typeof all)[number] });
    }
  }

  private obj(id: string): ObjRec {
    return this.objs.get(id) as ObjRec;
  }

  // ---- addresses, through the trusted platform ----

  private physOf(o: ObjRec, offset: number): number {
    if (o.kind !== 'coherent' && o.kind !== 'noncoherent') return (o.physPages[0] as number) + offset;
    return (o.physPages[Math.floor(offset / PAGE_SIZE)] as number) + (offset % PAGE_SIZE);
  }

  /** Call `fn(va, at, len)` for each CPU-addressable chunk of `[offset, offset+size)` of `o` (highmem through `kmap_local`). */
  private cpuChunks(o: ObjRec, offset: number, size: number, fn: (va: number, at: number, len: number) => void): void {
    if (o.cpu !== null) {
      fn(o.cpu + offset, 0, size);
      return;
    }
    const pt = this.platform.pt;
    for (let done = 0; done < size; ) {
      const off = offset + done;
      const len = Math.min(PAGE_SIZE - (off % PAGE_SIZE), size - done);
      const va = pt.kmapLocal(((o.pfn as number) + Math.floor(off / PAGE_SIZE)) as Pfn) as CpuAddr;
      try {
        fn(va + (off % PAGE_SIZE), done, len);
      } finally {
        pt.kunmapLocal(va);
      }
      done += len;
    }
  }

  /** DMA address ranges of `[offset, offset+size)` of a mapping or coherent buffer. */
  private dmaChunks(ref: string, offset: number, size: number): { dma: number; at: number; len: number }[] {
    const b = this.objs.get(ref);
    if (b !== undefined) return [{ dma: b.dma + offset, at: 0, len: size }];
    const m = this.maps.get(ref) as MapRec;
    const out = [];
    let base = 0;
    for (const s of m.dmaSegs) {
      const lo = Math.max(offset, base);
      const hi = Math.min(offset + size, base + s.len);
      if (lo < hi) out.push({ dma: s.dma + (lo - base), at: lo - offset, len: hi - lo });
      base += s.len;
    }
    return out;
  }

  /** Object byte ranges behind `[offset, offset+size)` of a mapping or coherent buffer. */
  private objChunks(ref: string, offset: number, size: number): { o: ObjRec; objOffset: number; at: number; len: number }[] {
    const b = this.objs.get(ref);
    if (b !== undefined) return [{ o: b, objOffset: offset, at: 0, len: size }];
    const m = this.model.mappings.get(ref) as ModelMapping;
    return this.model.segmentsIn(m, offset, size).map((s) => ({ o: this.obj(s.obj), objOffset: s.objOffset, at: s.at, len: s.sizeBytes }));
  }

  /** The mask of `dev` in bits: its width, narrowed by the last mask of that kind the backend accepted. */
  private maskBits(dev: string, mask: 'streaming' | 'coherent'): number {
    const set = this.masks.get(dev);
    return Math.min(this.platform.device(dev).config.addressBits, (mask === 'streaming' ? set?.streaming : set?.coherent) ?? Infinity);
  }

  /**
   * Where `[dma, dma+size)` of `dev` leads, as physical runs, through the
   * device's address lines, windows and IOMMU (the trusted hardware's view);
   * null when some byte leads nowhere.
   */
  private physRuns(dev: string, dma: number, size: number): { phys: number; len: number }[] | null {
    const hw = this.platform.device(dev);
    const runs: { phys: number; len: number }[] = [];
    for (let done = 0; done < size; ) {
      const n = Math.min(PAGE_SIZE - ((dma + done) % PAGE_SIZE), size - done);
      const lo = hw.translate(dma + done);
      const hi = hw.translate(dma + done + n - 1);
      if (lo === null || hi !== lo + n - 1) return null;
      const last = runs[runs.length - 1];
      if (last !== undefined && last.phys + last.len === lo) last.len += n;
      else runs.push({ phys: lo, len: n });
      done += n;
    }
    return runs;
  }

  /**
   * After a step: every translation the IOMMU of each attached device can
   * use, against what is live for the device (its coherent and non-coherent
   * buffers read/write, its mappings with their direction's permission; an
   * sg mapping its whole IOVA span, segment-boundary padding included). An
   * IOTLB entry left over from an unmap is allowed in lazy mode until the
   * next flush event (`runWork`: time passes, the flush-queue timer fires).
   */
  private observeIommu(flushEvent: boolean): void {
    if (flushEvent) this.flushEpoch++;
    for (const dev of this.model.devices) {
      const hw = this.platform.device(dev);
      const dom = hw.iommu;
      if (dom === null) continue;
      const g = dom.granuleBytes;
      // dma-iommu keeps no flush queue for an untrusted device: its unmaps are strict whatever the domain says.
      const strict = dom.config.strict || !hw.config.trusted;
      const ranges: { ref: string; lo: number; hi: number; prot: number }[] = [];
      const add = (ref: string, lo: number, hi: number, prot: number) => ranges.push({ ref, lo: Math.floor(lo / g) * g, hi: Math.ceil(hi / g) * g, prot });
      const dirProt = (dir: number) => (dir === DMA_TO_DEVICE ? IOMMU_READ : dir === DMA_FROM_DEVICE ? IOMMU_WRITE : IOMMU_READ | IOMMU_WRITE);
      // Coherent buffers are bidirectional (R32); a non-coherent allocation is mapped for its direction.
      for (const o of this.objs.values()) if (o.dev === dev && (o.kind === 'coherent' || o.nc !== undefined)) add(o.id, o.dma, o.dma + o.sizeBytes, o.nc === undefined ? IOMMU_READ | IOMMU_WRITE : dirProt(o.nc.dir));
      for (const [id, m] of this.maps) {
        if (m.dev !== dev || m.dmaSegs.length === 0) continue;
        const prot = dirProt(m.dir);
        const boundary = hw.config.segmentBoundaryMask + 1;
        m.dmaSegs.forEach((x, i) => {
          add(id, x.dma, x.dma + x.len, prot);
          // One IOVA range for a whole list: the padding dma-iommu puts before a segment that starts on a segment boundary maps memory too.
          const next = m.dmaSegs[i + 1];
          if (next !== undefined && next.dma >= x.dma + x.len && (next.dma - (next.dma % g)) % boundary === 0 && next.dma - (x.dma + x.len) < boundary) add(id, x.dma + x.len, next.dma, prot);
        });
      }
      const history = this.iovaHistory.get(dev) ?? { seen: new Set<string>(), ranges: [] };
      this.iovaHistory.set(dev, history);
      for (const r of ranges) {
        const k = `${r.ref}:${r.lo}`;
        if (history.seen.has(k)) continue;
        history.seen.add(k);
        history.ranges.push(r);
      }
      let culprit: string | null = null;
      const blame = (iova: number) => {
        if (culprit !== null) return;
        for (let i = history.ranges.length - 1; i >= 0; i--) {
          const h = history.ranges[i] as { ref: string; lo: number; hi: number };
          if (iova >= h.lo && iova < h.hi) {
            culprit = h.ref;
            return;
          }
        }
      };
      // Nothing to look at again when neither the domain nor what is live for the device changed (and no flush event passed).
      const key = `${dom.generation}|${ranges.map((r) => `${r.ref}:${r.lo}:${r.hi}:${r.prot}`).join(',')}`;
      if (!flushEvent && this.iommuSeen.get(dev) === key) continue;
      this.iommuSeen.set(dev, key);
      let unexpected: string | null = null;
      let overPermission: string | null = null;
      let stale: string | null = null;
      const seenStale = new Set<string>();
      for (const e of dom.entries()) {
        const where = () => `[iova=${hex(e.iova)}] [phys=${hex(e.physBase)}] [prot=${protString(e.prot)}] [granule=${g}]`;
        if (e.stale) {
          hit(this.coverage, 'iotlb-stale');
          const key = `${dev}:${e.iova}`;
          seenStale.add(key);
          const first = this.staleSince.get(key) ?? this.flushEpoch;
          this.staleSince.set(key, first);
          const now = dom.iovaToPhys(e.iova);
          if (stale !== null) continue;
          if (now !== null) stale = `IOVA reused while the IOTLB still holds its old translation ${where()} [page_table=${hex(now - (now % g))}:${protString(dom.lookupPte(e.iova)?.prot ?? 0)}]`;
          else if (strict) stale = `the IOTLB still translates an unmapped IOVA after the unmap returned (strict mode) ${where()}`;
          else if (first < this.flushEpoch) stale = `the IOTLB still translates an unmapped IOVA after a flush event (lazy mode) ${where()}`;
          if (stale !== null) blame(e.iova);
          continue;
        }
        const cover = ranges.filter((r) => e.iova >= r.lo && e.iova < r.hi);
        if (cover.length === 0) {
          if (unexpected === null) blame(e.iova);
          unexpected ??= `${where()} [live=${ranges.map((r) => `${r.ref}:${hex(r.lo)}-${hex(r.hi)}`).join(',') || 'none'}]${culprit === null ? '' : ` [left_from=${culprit}]`}`;
          continue;
        }
        const allowed = cover.reduce((p, r) => p | r.prot, 0);
        if ((e.prot & ~allowed) !== 0 && overPermission === null) {
          overPermission = `${where()} [allowed=${protString(allowed)}] [covered_by=${cover.map((r) => r.ref).join(',')}]`;
          culprit ??= cover[0]?.ref ?? null;
        }
      }
      for (const k of [...this.staleSince.keys()]) if (k.startsWith(`${dev}:`) && !seenStale.has(k)) this.staleSince.delete(k);
      this.emit({ kind: 'iommu', at: this.at, dev, ref: culprit, strict, granuleBytes: g, unexpected, overPermission, stale });
    }
  }

  /** An untrusted device's new streaming segments: what their IOMMU granules expose beyond the buffer. */
  private observeExposure(ref: string, dev: string, dmaSegs: readonly { dma: number; len: number }[], origs: readonly { o: ObjRec; objOffset: number }[]): void {
    const hw = this.platform.device(dev);
    if (hw.iommu === null || hw.config.trusted) return;
    const g = hw.iommu.granuleBytes;
    dmaSegs.forEach((s, i) => {
      const src = origs[i];
      const lo = Math.floor(s.dma / g) * g;
      const hi = Math.ceil((s.dma + s.len) / g) * g;
      const target = hw.translate(s.dma);
      if (src === undefined || target === null) return;
      const inPlace = target === this.physOf(src.o, src.objOffset);
      let nonZero = 0;
      // The padding of a bounce buffer: what else the device can read in its granules.
      for (const [a, b] of inPlace ? [] : ([[lo, s.dma], [s.dma + s.len, hi]] as [number, number][])) {
        for (let at = a; at < b; ) {
          const n = Math.min(b - at, PAGE_SIZE - (at % PAGE_SIZE));
          const phys = hw.translate(at);
          if (phys !== null) {
            const buf = new Uint8Array(n);
            if (hw.config.coherent) this.platform.cache.snoopReadInto(phys, buf, 0, n);
            else this.platform.mem.readInto(phys, buf, 0, n);
            for (const x of buf) if (x !== 0) nonZero++;
          }
          at += n;
        }
      }
      this.emit({ kind: 'iommu-exposure', at: this.at, ref, dev, dma: s.dma, sizeBytes: s.len, granuleBytes: g, outsideBytes: hi - lo - s.len, inPlace, nonZero });
    });
  }

  /** Record where a DMA range handed to `dev` leads: unreachable, private memory, outside its restricted pool. */
  private noteDmaAddress(ref: string, dev: string, dma: number, size: number, which: 'streaming' | 'coherent' | 'noncoherent'): void {
    const cfg = this.platform.device(dev).config;
    // Documentation/core-api/dma-api.rst leaves open which mask bounds dma_alloc_pages and friends: Linux uses the coherent one on dma-direct, the streaming one on dma-iommu (dma_common_alloc_pages).
    const maskBits = which === 'noncoherent' ? Math.max(this.maskBits(dev, 'coherent'), this.maskBits(dev, 'streaming')) : this.maskBits(dev, which);
    const mask = which === 'streaming' ? 'streaming' : 'coherent';
    const last = dma + size - 1;
    let unreachable: string | null = null;
    let privatePhys: number | null = null;
    let outsidePool: string | null = null;
    const runs = Number.isSafeInteger(dma) && dma >= 0 && dma !== DMA_MAPPING_ERROR ? this.physRuns(dev, dma, size) : null;
    if (dma === DMA_MAPPING_ERROR || !Number.isSafeInteger(dma) || dma < 0) unreachable = 'not an address';
    else if (last > maskLimit(maskBits)) unreachable = `beyond the ${mask === 'streaming' ? 'DMA' : 'coherent DMA'} mask [limit=${hex(maskLimit(maskBits))}]`;
    else if (cfg.busDmaLimit !== 0 && last > cfg.busDmaLimit) unreachable = `beyond bus_dma_limit [limit=${hex(cfg.busDmaLimit)}]`;
    else if (runs === null) unreachable = cfg.iommu === null ? 'outside every dma-ranges window' : 'no IOMMU translation (or outside every dma-ranges window)';
    else if (!runs.every((r) => this.platform.mem.isRam(r.phys, r.len))) unreachable = cfg.iommu === null ? 'not RAM behind the window' : 'not RAM behind the IOMMU translation';
    if (unreachable === null && runs !== null) {
      for (const r of runs) {
        const p = this.platform.encryption?.firstPrivate(r.phys, r.len) ?? null;
        privatePhys ??= p === null ? null : p * PAGE_SIZE;
      }
      const pool = cfg.restrictedDmaPool;
      const lo = runs[0]?.phys ?? 0;
      if (pool !== null && runs.some((r) => r.phys < pool.basePhys || r.phys + r.len > pool.basePhys + pool.sizeBytes)) outsidePool = `[phys=${hex(lo)}] [size=${size}] [pool=${hex(pool.basePhys)}+${hex(pool.sizeBytes)}]`;
    }
    this.emit({ kind: 'dma-address', at: this.at, ref, dev, dma, sizeBytes: size, maskBits, unreachable, privatePhys, outsidePool });
  }

  /** Physical pages a backend's allocation covers, from its kernel mapping or (cookie) its DMA handle; null when neither translates. */
  private allocPhysPages(dev: string, cpu: number, dma: number, size: number, kernelMapping: boolean): number[] | null {
    const pages: number[] = [];
    const hw = this.platform.device(dev);
    for (let i = 0; i < Math.ceil(size / PAGE_SIZE); i++) {
      if (kernelMapping) {
        try {
          pages.push(this.platform.pt.translate(cpu + i * PAGE_SIZE, 'read', 'oracle').phys);
        } catch {
          return null;
        }
      } else {
        const p = hw.translate(dma + i * PAGE_SIZE);
        if (p === null) return null;
        pages.push(p);
      }
    }
    return pages;
  }

  /** The live object (other than `exclude`) whose pages overlap `pages`, as evidence, or null. */
  private overlaps(pages: readonly number[], exclude: string): string | null {
    for (const o of this.objs.values()) {
      if (o.id === exclude) continue;
      const lo = o.physPages[0] as number;
      for (const p of pages) {
        if (o.kind === 'coherent' || o.kind === 'noncoherent' ? o.physPages.some((q) => Math.floor(q / PAGE_SIZE) === Math.floor(p / PAGE_SIZE)) : p + PAGE_SIZE > lo && p < lo + o.sizeBytes) return `live object ${o.id} [phys=${hex(p)}]`;
      }
    }
    for (const p of pages) {
      const b = this.bounceOverlap(p, PAGE_SIZE, '');
      if (b !== null) return `${b} [phys=${hex(p)}]`;
    }
    return null;
  }

  /** Where physical pages lie: a gen_pool, a CMA area, a reserved pool of the profile, or the buddy allocator. */
  private regionOf(pages: readonly number[]): string {
    const all = (f: (phys: number) => boolean) => pages.length > 0 && pages.every(f);
    for (const g of this.mm.genPools) if (all((q) => g.hasPhys(q, PAGE_SIZE))) return `pool:${g.name}`;
    const cma = this.mm.cma.areaOf(Math.floor((pages[0] ?? 0) / PAGE_SIZE));
    if (cma !== undefined && all((q) => cma.contains(Math.floor(q / PAGE_SIZE)))) return `cma:${cma.name}`;
    const inside = (r: { basePhys: number; sizeBytes: number } | null) => r !== null && all((q) => q >= r.basePhys && q + PAGE_SIZE <= r.basePhys + r.sizeBytes);
    for (const d of this.platform.profile.devices) if (inside(d.coherentPool)) return `coherent-pool:${d.name}`;
    for (const d of this.platform.profile.devices) if (inside(d.restrictedDmaPool)) return `restricted-pool:${d.name}`;
    if (inside(this.platform.profile.globalCoherentPool)) return 'global-pool';
    if (pages.some((q) => this.mm.cma.areaOf(Math.floor(q / PAGE_SIZE)) !== undefined || this.mm.genPools.some((g) => g.hasPhys(q, 1)))) return 'mixed';
    return 'buddy';
  }

  /** After `dma_free_attrs`: which of the buffer's pages are still held (CMA bitmap, gen_pool, off the buddy free lists). */
  private heldAfterFree(o: ObjRec): { pfn: number; where: string }[] {
    const region = o.region ?? null;
    const held: { pfn: number; where: string }[] = [];
    if (region === null || region.startsWith('restricted-pool:') || region.startsWith('coherent-pool:') || region === 'global-pool') return held;
    for (const phys of o.physPages) {
      const p = Math.floor(phys / PAGE_SIZE);
      if (region.startsWith('cma:')) {
        const a = this.mm.cma.byName(region.slice(4));
        if (a !== undefined && a.bitmap[p - a.basePfn] !== 0) held.push({ pfn: p, where: `still allocated in CMA area ${a.name}` });
      } else if (region.startsWith('pool:')) {
        const g = this.mm.genPools.find((x) => x.name === region.slice(5));
        if (g?.physInUse(phys, PAGE_SIZE) === true) held.push({ pfn: p, where: `still in use in gen_pool ${g.name}` });
      } else if (region === 'buddy' && !this.mm.pages.isFree(p as Pfn)) held.push({ pfn: p, where: 'not back on the buddy free lists' });
    }
    return held;
  }

  // ---- reads ----

  private readObs(kind: ReadObservation['kind'], ref: string, o: ObjRec, dev: string | null, addr: number, chunks: { o: ObjRec; objOffset: number; at: number; len: number }[], seen: Uint8Array, transfer?: Transfer): void {
    const expected = new Uint8Array(seen.length);
    const origin = new Uint8Array(seen.length);
    for (const c of chunks) {
      c.o.shadow.copyTo(c.objOffset, c.len, expected, origin, c.at);
    }
    const first = chunks[0];
    const phys = first === undefined ? null : this.physOf(first.o, first.objOffset);
    const bounced = (this.maps.get(ref)?.bounces.length ?? 0) > 0 || chunks.some((c) => c.o.bounced === true);
    this.emit({ kind, at: this.at, ref, objKind: o.kind, dev, addr, phys, expected, origin, seen, bounced, region: o.region ?? null, ...(transfer === undefined ? {} : { transfer }) });
  }

  /**
   * After an ownership transfer to the device: what the device would read
   * over `[offset, offset+size)` of mapping `ref` now, judged like a device
   * read. Nothing is observed where the device cannot reach (the explicit
   * device steps report that).
   */
  private peekDevice(ref: string, offset: number, size: number, transfer: Transfer): void {
    const m = this.maps.get(ref);
    if (m === undefined || size <= 0) return;
    const hw = this.platform.device(m.dev);
    const chunks = this.dmaChunks(ref, offset, size);
    const seen = new Uint8Array(size);
    try {
      for (const c of chunks) seen.set(hw.read(c.dma, c.len), c.at);
    } catch (err) {
      if (err instanceof DeviceFault) return;
      throw err;
    }
    const objChunks = this.objChunks(ref, offset, size);
    const first = objChunks[0];
    if (first === undefined) return;
    this.readObs('device-read', ref, first.o, hw.name, chunks[0]?.dma ?? 0, objChunks, seen, transfer);
  }

  /**
   * Find the bounce buffers of a new mapping: the DMA segments whose
   * address (through the device's windows) reaches other memory than the
   * buffer mapped. Each is recorded with where it lies and what live bounce
   * buffer or driver object it overlaps; swiotlb-slots-sound judges them.
   */
  private bounceSegments(ref: string, dev: string, dmaSegs: readonly { dma: number; len: number }[], origs: readonly { o: ObjRec; objOffset: number }[], dir: DirName): { phys: number; len: number }[] {
    const hw = this.platform.device(dev);
    const cfg = hw.config;
    const out: { phys: number; len: number }[] = [];
    dmaSegs.forEach((s, i) => {
      const src = origs[i];
      const target = hw.translate(s.dma);
      if (src === undefined || target === null) return;
      const origPhys = this.physOf(src.o, src.objOffset);
      if (target === origPhys) {
        if (src.o.kind === 'kmalloc') {
          const slotPhys = src.o.physPages[0] as number;
          const coherent = cfg.coherent || this.platform.profile.dma.archSync === 'none';
          this.emit({ kind: 'kmalloc-in-place', at: this.at, ref, obj: src.o.id, dev, dir, coherent, phys: origPhys, sizeBytes: s.len, slotPhys, slotBytes: this.mm.slab.ksize(src.o.cpu as CpuAddr), lineBytes: this.platform.cache.lineSizeBytes });
        }
        return;
      }
      src.o.bounced = true;
      const overlaps = this.bounceOverlap(target, s.len, ref) ?? this.objectOverlap(target, s.len);
      this.emit({ kind: 'bounce', at: this.at, ref, dev, dma: s.dma, sizeBytes: s.len, bouncePhys: target, origPhys, overlaps });
      out.push({ phys: target, len: s.len });
    });
    return out;
  }

  /** The live mapping (other than `exclude`) whose bounce buffer overlaps `[phys, phys+len)`, as evidence text. */
  private bounceOverlap(phys: number, len: number, exclude: string): string | null {
    for (const [id, m] of this.maps) {
      if (id === exclude) continue;
      for (const b of m.bounces) if (phys < b.phys + b.len && b.phys < phys + len) return `the bounce buffer of live mapping ${id}`;
    }
    return null;
  }

  /** The live driver object overlapping `[phys, phys+len)`, as evidence text. */
  private objectOverlap(phys: number, len: number): string | null {
    for (const o of this.objs.values()) {
      if (o.kind === 'coherent') {
        if (o.physPages.some((p) => phys < p + PAGE_SIZE && p < phys + len)) return `live coherent buffer ${o.id}`;
      } else {
        const lo = o.physPages[0] as number;
        if (phys < lo + o.sizeBytes && lo < phys + len) return `live ${o.kind} object ${o.id}`;
      }
    }
    return null;
  }

  private cpuReadObj(o: ObjRec, offset: number, size: number): Uint8Array {
    const seen = new Uint8Array(size);
    this.cpuChunks(o, offset, size, (va, at, len) => seen.set(this.platform.cpu.read(va, len, 'driver'), at));
    return seen;
  }

  private checkNeighbour(o: ObjRec): void {
    const n = o.neighbour;
    if (n === undefined || n === null) return;
    const seen = this.platform.cpu.read(n.va, n.shadow.sizeBytes, 'driver');
    const rec = { ...o, id: `${o.id}.neighbour`, cpu: n.va, shadow: n.shadow, physPages: [this.platform.pt.translate(n.va, 'read', 'oracle').phys] };
    this.readObs('neighbour-read', `${o.id}.neighbour`, rec, null, n.va, [{ o: rec, objOffset: 0, at: 0, len: n.shadow.sizeBytes }], seen);
  }

  /**
   * Observe at every ownership transfer (DESIGN.md "Search power"): after a
   * map, a sync or an unmap, the oracle peeks, without disturbing anything,
   * at every byte whose owner it knows around the mapping: what the CPU
   * would load from every CPU-owned byte of the mapped objects and of the
   * live kmalloc objects sharing a cache line with them, and what the device
   * would read from every device-owned byte of a mapping it may read. A
   * missing copy, a copy of the wrong range or a cache operation that
   * discards a line then fails at the step that caused it, not at a later
   * read that may never be drawn.
   * @param unmapped the mapping an unmap step just removed
   */
  private observeTransfer(step: Step, unmapped: ModelMapping | undefined): void {
    const transfer = transferOf(step);
    if (transfer === null) return;
    const id = step.op === 'mapSingle' || step.op === 'mapPage' || step.op === 'mapSg' ? step.id : 'ref' in step ? (step.ref as string) : '';
    const m = unmapped ?? this.model.mappings.get(id);
    if (m === undefined) return;
    this.peekNeighbours(m, transfer);
    // The mapped ranges, widened by a cache line on each side (what the transfer's copies and cache maintenance can reach), and the kmalloc objects sharing their lines.
    const L = this.platform.cache.lineSizeBytes;
    const ranges = new Map<string, { o: ObjRec; lo: number; hi: number }>();
    const widen = (o: ObjRec, lo: number, hi: number) => {
      const r = ranges.get(o.id);
      ranges.set(o.id, { o, lo: Math.min(r?.lo ?? lo, lo), hi: Math.max(r?.hi ?? hi, hi) });
    };
    for (const seg of m.segs) {
      const o = this.objs.get(seg.obj);
      if (o === undefined) continue;
      widen(o, Math.max(0, seg.objOffset - L), Math.min(o.sizeBytes, seg.objOffset + seg.sizeBytes + L));
      for (const n of this.lineNeighbours(o)) widen(n, 0, n.sizeBytes);
    }
    for (const r of ranges.values()) this.peekCpuOwned(r.o, r.lo, r.hi, transfer);
    // A FROM_DEVICE buffer is not the device's to read (R28).
    if (unmapped === undefined && m.dir !== 'DMA_FROM_DEVICE') {
      for (const r of this.model.runsOwnedBy(m, [OWNER.device, OWNER.deviceDirty])) this.peekDevice(id, r.offset, r.size, transfer);
    }
  }

  /** What CPU loads of every CPU-owned byte of object `o` within `[lo, hi)` would return now, judged like CPU reads. */
  private peekCpuOwned(o: ObjRec, lo: number, hi: number, transfer: Transfer): void {
    const mo = this.model.objects.get(o.id);
    if (mo === undefined || o.kind === 'coherent') return;
    for (const run of this.model.objectRunsOwnedBy(mo, [OWNER.cpu, OWNER.cpuDirty])) {
      const a = Math.max(run.offset, lo);
      const b = Math.min(run.offset + run.size, hi);
      if (a >= b) continue;
      const r = { offset: a, size: b - a };
      const seen = new Uint8Array(r.size);
      this.cpuChunks(o, r.offset, r.size, (va, at, len) => seen.set(this.platform.cpu.peek(va, len), at));
      this.readObs('cpu-read', o.id, o, null, (o.cpu ?? (o.physPages[0] as number)) + r.offset, [{ o, objOffset: r.offset, at: 0, len: r.size }], seen, transfer);
    }
  }

  /** Live kmalloc objects other than `o` with a byte in a cache line `o` touches (small kmalloc objects share lines where the arch allows it, R11). */
  private lineNeighbours(o: ObjRec): ObjRec[] {
    if (o.kind !== 'kmalloc') return [];
    const L = this.platform.cache.lineSizeBytes;
    const lo = Math.floor((o.physPages[0] as number) / L) * L;
    const hi = Math.ceil(((o.physPages[0] as number) + o.sizeBytes) / L) * L;
    const out: ObjRec[] = [];
    for (const x of this.objs.values()) {
      if (x === o || x.kind !== 'kmalloc') continue;
      const a = x.physPages[0] as number;
      if (a < hi && a + x.sizeBytes > lo) out.push(x);
    }
    return out;
  }

  /** The kmalloc neighbours sharing a cache line with the objects of `m`: a CPU write to them must survive any transfer of `m` (R11). */
  private peekNeighbours(m: ModelMapping, transfer: Transfer | null): void {
    if (transfer === null) return;
    for (const seg of m.segs) {
      const o = this.objs.get(seg.obj);
      const n = o?.neighbour;
      if (o === undefined || n === undefined || n === null) continue;
      const seen = this.platform.cpu.peek(n.va, n.shadow.sizeBytes);
      const rec = { ...o, id: `${o.id}.neighbour`, cpu: n.va, shadow: n.shadow, physPages: [this.platform.pt.translate(n.va, 'read', 'oracle').phys] };
      this.readObs('neighbour-read', `${o.id}.neighbour`, rec, null, n.va, [{ o: rec, objOffset: 0, at: 0, len: n.shadow.sizeBytes }], seen, transfer);
    }
  }

  /** Count the paths of a successful allocation. */
  private coverAlloc(region: string | null, cpuAttr: PageAttr | null, kernelMapping: boolean, attrs: readonly string[], flags: readonly string[] | undefined): void {
    const c = this.coverage;
    if (region !== null) {
      if (region.startsWith('cma:')) hit(c, 'cma');
      else if (region.startsWith('pool:')) hit(c, /atomic_pool/.test(region) ? 'atomic-pool' : 'pool');
      else if (region.startsWith('coherent-pool:') || region === 'global-pool') hit(c, 'coherent-pool');
      else if (region.startsWith('restricted-pool:')) hit(c, 'restricted-pool');
      else hit(c, region);
    }
    if (cpuAttr !== null && cpuAttr !== 'cacheable') hit(c, 'remap');
    if (!kernelMapping) hit(c, 'no-kernel-mapping');
    for (const a of attrs) hit(c, `attr:${a}`);
    for (const f of flags ?? []) hit(c, `gfp:${f}`);
  }

  /** Count the paths of a successful mapping. */
  private coverMap(dev: string, attrs: readonly string[] | undefined, highmem: boolean, bounced: boolean): void {
    const c = this.coverage;
    hit(c, bounced ? 'bounced' : 'direct');
    if (bounced && this.platform.device(dev).config.restrictedDmaPool !== null) hit(c, 'restricted-pool');
    if (highmem) hit(c, 'highmem');
    for (const a of attrs ?? []) hit(c, `attr:${a}`);
  }

  // ---- the interpreter ----

  private exec(step: Step): void {
    const b = this.backend;
    const p = this.platform;
    switch (step.op) {
      case 'alloc': {
        const before = JSON.stringify(this.mm.snapshot());
        const attrs = attrsValue(step.attrs);
        const gfp = gfpValue(step.gfp, false, step.flags);
        const live = [...this.objs.values()].filter((o) => o.kind === 'coherent').length + this.maps.size;
        // A driver passes a non-blocking gfp because it may not sleep where it is: the call runs in atomic context.
        const ctx = p.context;
        const saved = ctx.current;
        if (!gfpflagsAllowBlocking(gfp)) ctx.current = 'atomic';
        let r: ReturnType<GuardedBackend['allocAttrs']>;
        this.calls.alloc.made++;
        try {
          r = b.allocAttrs(step.dev, step.size, gfp, attrs);
        } finally {
          ctx.current = saved;
        }
        const faultInjection = p.faults.options.pageAllocFailRate > 0 || p.faults.options.setMemoryFailRate > 0;
        const coherentMaskBits = this.maskBits(step.dev, 'coherent');
        const base = { kind: 'alloc' as const, at: this.at, ref: step.id, dev: step.dev, sizeBytes: step.size, gfp, attrs, live, faultInjection, coherentMaskBits };
        if (r.cpuAddr === null) {
          this.calls.alloc.failed++;
          hit(this.coverage, 'alloc-failed');
          const after = JSON.stringify(this.mm.snapshot());
          const zones = this.mm.pages.zones.map((z) => ({ type: z.type, startPhys: z.startPfn * PAGE_SIZE, endPhys: z.endPfn * PAGE_SIZE, maxFreeOrder: z.free.reduce((m, set, o) => (set.size > 0 ? o : m), -1) }));
          const pools = this.mm.genPools.map((g) => ({ name: g.name, availBytes: g.availBytes, placementPhys: g.placementPhys(step.size) }));
          this.emit({ ...base, ok: false, cpuAddr: null, dma: DMA_MAPPING_ERROR, kernelMapping: false, pages: null, region: null, cpuAttr: null, overlaps: null, changed: after === before ? [] : describeChange(before, after), zones, pools });
          this.failed.add(step.id);
          return;
        }
        const kernelMapping = (attrs & DMA_ATTR_NO_KERNEL_MAPPING) === 0;
        const pages = this.allocPhysPages(step.dev, r.cpuAddr, r.dmaHandle, step.size, kernelMapping);
        const region = pages === null ? null : this.regionOf(pages);
        let cpuAttr: PageAttr | null = null;
        if (kernelMapping && pages !== null) cpuAttr = p.pt.translate(r.cpuAddr, 'read', 'oracle').attr;
        const shadow = new Shadow(step.size);
        if (kernelMapping) shadow.fill(0, step.size, 0, ORIGIN.allocZero);
        const rec: ObjRec = { id: step.id, kind: 'coherent', sizeBytes: step.size, dev: step.dev, attrs, cpu: r.cpuAddr, dma: r.dmaHandle, pfn: null, order: getOrder(step.size), physPages: pages ?? [], shadow, region };
        const overlaps = pages === null ? null : this.overlaps(pages, step.id);
        this.coverAlloc(region, cpuAttr, kernelMapping, step.attrs, step.flags);
        this.objs.set(step.id, rec);
        this.emit({ ...base, ok: true, cpuAddr: r.cpuAddr, dma: r.dmaHandle, kernelMapping, pages, region, cpuAttr, overlaps, changed: [], zones: null, pools: null });
        this.noteDmaAddress(step.id, step.dev, r.dmaHandle, step.size, 'coherent');
        // A fresh buffer is zeroed: peek at what the CPU would load from it now (the first and last 8 KiB of a large one).
        if (kernelMapping && pages !== null) {
          const parts = step.size <= 16384 ? [[0, step.size]] : [[0, 8192], [step.size - 8192, 8192]];
          for (const [off, len] of parts as [number, number][]) {
            const seen = new Uint8Array(len);
            this.cpuChunks(rec, off, len, (va, at, n) => seen.set(p.cpu.peek(va, n), at));
            this.readObs('cpu-read', step.id, rec, null, r.cpuAddr + off, [{ o: rec, objOffset: off, at: 0, len }], seen, 'dma_alloc');
          }
        }
        return;
      }
      case 'free': {
        const o = this.obj(step.ref);
        b.freeAttrs(o.dev as string, o.sizeBytes, o.cpu as CpuAddr, o.dma, o.attrs);
        this.objs.delete(step.ref);
        this.emit({ kind: 'free', at: this.at, ref: o.id, region: o.region ?? null, held: this.heldAfterFree(o) });
        return;
      }
      case 'mmap': {
        const o = this.obj(step.ref);
        const dev = o.dev as string;
        if (o.nc !== undefined) {
          const nr = Math.ceil(o.sizeBytes / PAGE_SIZE);
          const vma = p.user.createVma(nr, 0);
          const first = (o.nc.page ?? Math.floor((o.physPages[0] as number) / PAGE_SIZE)) as Pfn;
          const ret = step.api === 'noncontiguous' ? b.mmapNoncontiguous(dev, vma, o.sizeBytes, o.nc.sgt as SgTable) : b.mmapPages(dev, vma, o.sizeBytes, first);
          this.emit({ kind: 'mmap', at: this.at, ref: step.ref, dev, region: o.region ?? null, ret, populatedPages: p.user.populated(vma), expectedPages: nr });
          if (ret !== 0) this.failed.add(step.id);
          else this.vmas.set(step.id, { vma, obj: step.ref });
          return;
        }
        if (this.declared.has('canMmap') && !b.canMmap(dev)) {
          this.failed.add(step.id);
          return;
        }
        const nr = Math.ceil(o.sizeBytes / PAGE_SIZE);
        const vma = p.user.createVma(nr, 0);
        const ret = b.mmapAttrs(dev, vma, o.cpu as CpuAddr, o.dma, o.sizeBytes, o.attrs);
        this.emit({ kind: 'mmap', at: this.at, ref: step.ref, dev, region: o.region ?? null, ret, populatedPages: p.user.populated(vma), expectedPages: nr });
        if (ret !== 0) this.failed.add(step.id);
        else this.vmas.set(step.id, { vma, obj: step.ref });
        return;
      }
      case 'munmap':
        this.vmas.delete(step.ref);
        return;
      case 'getSgtable': {
        const o = this.obj(step.ref);
        const { ret, sgt } = b.getSgtableAttrs(o.dev as string, o.cpu as CpuAddr, o.dma, o.sizeBytes, o.attrs);
        const seenPfns: number[] = [];
        for (const sg of sgt?.sgl.slice(0, sgt.origNents) ?? []) {
          const first = sg.page + Math.floor(sg.offset / PAGE_SIZE);
          const last = sg.page + Math.floor((sg.offset + sg.length - 1) / PAGE_SIZE);
          for (let f = first; f <= last; f++) seenPfns.push(f);
        }
        this.emit({ kind: 'sgtable', at: this.at, ref: step.ref, dev: o.dev as string, region: o.region ?? null, ret, expectedPfns: o.physPages.map((x) => Math.floor(x / PAGE_SIZE)), seenPfns, sizeBytes: o.sizeBytes });
        return;
      }
      case 'kmalloc': {
        for (const f of step.flags ?? []) hit(this.coverage, `gfp:${f}`);
        const va = this.mm.slab.kmalloc(step.size, gfpValue(step.gfp, false, step.flags));
        if (va === null) {
          this.failed.add(step.id);
          return;
        }
        const phys = p.pt.translate(va, 'read', 'oracle').phys;
        this.objs.set(step.id, { id: step.id, kind: 'kmalloc', sizeBytes: step.size, dev: null, attrs: 0, cpu: va, dma: DMA_MAPPING_ERROR, pfn: null, order: 0, physPages: [phys], shadow: zeroedShadow(step.size, step.flags) });
        return;
      }
      case 'kfree': {
        const o = this.obj(step.ref);
        this.releaseNeighbour(o);
        this.mm.slab.kfree(o.cpu as CpuAddr);
        this.objs.delete(step.ref);
        return;
      }
      case 'allocPages': {
        for (const f of step.flags ?? []) hit(this.coverage, `gfp:${f}`);
        const pf = this.mm.pages.allocPages(gfpValue(step.gfp, step.highmem, step.flags), step.order);
        if (pf === null) {
          this.failed.add(step.id);
          return;
        }
        const size = PAGE_SIZE << step.order;
        this.objs.set(step.id, { id: step.id, kind: 'pages', sizeBytes: size, dev: null, attrs: 0, cpu: this.mm.pages.pageAddress(pf), dma: DMA_MAPPING_ERROR, pfn: pf, order: step.order, physPages: [pf * PAGE_SIZE], shadow: zeroedShadow(size, step.flags) });
        return;
      }
      case 'freePages': {
        const o = this.obj(step.ref);
        this.mm.pages.freePages(o.pfn as Pfn, o.order);
        this.objs.delete(step.ref);
        return;
      }
      case 'mapSingle':
      case 'mapPage': {
        const o = this.obj(step.ref);
        const dir = dirValue(step.dir);
        const size = step.op === 'mapSingle' ? o.sizeBytes : step.size;
        let dma: DmaAddr;
        this.calls.map.made++;
        const attrs = attrsValue(step.attrs ?? []);
        if (step.op === 'mapSingle') dma = b.mapSingle(step.dev, o.cpu as CpuAddr, size, dir, attrs);
        else dma = b.mapPage(step.dev, ((o.pfn as number) + Math.floor(step.offset / PAGE_SIZE)) as Pfn, step.offset % PAGE_SIZE, size, dir, attrs);
        if (this.mapFailed(step.dev, dma)) {
          this.calls.map.failed++;
          hit(this.coverage, 'map-failed');
          this.failed.add(step.id);
          return;
        }
        this.noteDmaAddress(step.id, step.dev, dma, size, 'streaming');
        const offset = step.op === 'mapSingle' ? 0 : step.offset;
        const bounces = this.bounceSegments(step.id, step.dev, [{ dma, len: size }], [{ o, objOffset: offset }], step.dir);
        this.observeExposure(step.id, step.dev, [{ dma, len: size }], [{ o, objOffset: offset }]);
        this.coverMap(step.dev, step.attrs, o.cpu === null, bounces.length > 0);
        this.mappedFromDevice(step.dir, [{ o, offset, size }]);
        this.maps.set(step.id, { dev: step.dev, kind: step.op === 'mapSingle' ? 'single' : 'page', sizeBytes: size, dir, attrs, dmaSegs: [{ dma, len: size }], dma, sgl: null, bounces });
        return;
      }
      case 'mapSg': {
        const sgl = step.segs.map((s) => {
          const o = this.obj(s.ref);
          const phys = this.physOf(o, s.offset);
          return sgEntry(Math.floor(phys / PAGE_SIZE) as Pfn, phys % PAGE_SIZE, s.size);
        });
        const dir = dirValue(step.dir);
        this.calls.map.made++;
        const attrs = attrsValue(step.attrs ?? []);
        const count = b.mapSg(step.dev, sgl, sgl.length, dir, attrs);
        if (count <= 0) {
          this.calls.map.failed++;
          hit(this.coverage, 'map-failed');
          this.failed.add(step.id);
          return;
        }
        const dmaSegs = sgl.slice(0, count).map((sg) => ({ dma: sg.dmaAddress as number, len: sg.dmaLength }));
        if (count < step.segs.length) hit(this.coverage, 'sg-merged');
        for (const s of dmaSegs) this.noteDmaAddress(step.id, step.dev, s.dma, s.len, 'streaming');
        // dma-direct maps entry by entry (no merging), so DMA segment i carries sg entry i.
        const bounces = count === step.segs.length ? this.bounceSegments(step.id, step.dev, dmaSegs, step.segs.map((x) => ({ o: this.obj(x.ref), objOffset: x.offset })), step.dir) : [];
        if (count === step.segs.length) this.observeExposure(step.id, step.dev, dmaSegs, step.segs.map((x) => ({ o: this.obj(x.ref), objOffset: x.offset })));
        const devCfg = this.platform.device(step.dev).config;
        this.emit({ kind: 'sg-segments', at: this.at, ref: step.id, dev: step.dev, entryBytes: step.segs.map((x) => x.size), segments: dmaSegs, maxSegmentSize: devCfg.maxSegmentSize, segmentBoundaryMask: devCfg.segmentBoundaryMask });
        this.coverMap(step.dev, step.attrs, step.segs.some((x) => this.obj(x.ref).cpu === null), bounces.length > 0);
        this.mappedFromDevice(step.dir, step.segs.map((x) => ({ o: this.obj(x.ref), offset: x.offset, size: x.size })));
        const total = step.segs.reduce((n, x) => n + x.size, 0);
        this.maps.set(step.id, { dev: step.dev, kind: 'sg', sizeBytes: total, dir, attrs, dmaSegs, dma: sgl[0]?.dmaAddress as DmaAddr, sgl, bounces });
        return;
      }
      case 'unmapSingle':
      case 'unmapSg': {
        const m = this.maps.get(step.ref) as MapRec;
        // The hint attributes of the map go to its unmap too; SKIP_CPU_SYNC only where the step asks.
        const attrs = (m.attrs & ~DMA_ATTR_SKIP_CPU_SYNC) | attrsValue(step.attrs ?? []);
        if (m.sgl !== null) b.unmapSg(m.dev, m.sgl, m.sgl.length, m.dir, attrs);
        else if (m.kind === 'page') b.unmapPage(m.dev, m.dma, m.sizeBytes, m.dir, attrs);
        else b.unmapSingle(m.dev, m.dma, m.sizeBytes, m.dir, attrs);
        this.maps.delete(step.ref);
        return;
      }
      case 'platform':
        // The machine was built on this variant before the first step (runner.ts `runSequence`).
        hit(this.coverage, 'platform-variant');
        return;
      case 'setMask': {
        hit(this.coverage, 'set-mask');
        const r = step.which === 'mask' ? b.setMask(step.dev, step.bits) : step.which === 'coherent' ? b.setCoherentMask(step.dev, step.bits) : b.setMaskAndCoherent(step.dev, step.bits);
        if (r === 0) {
          const cur = this.masks.get(step.dev) ?? {};
          this.masks.set(step.dev, { ...cur, ...(step.which !== 'coherent' ? { streaming: step.bits } : {}), ...(step.which !== 'mask' ? { coherent: step.bits } : {}) });
        }
        this.emit({ kind: 'set-mask', at: this.at, dev: step.dev, which: step.which, bits: step.bits, ret: r });
        return;
      }
      case 'syncForCpu':
      case 'syncForDevice': {
        const m = this.maps.get(step.ref) as MapRec;
        const dev = m.dev;
        if (m.sgl !== null) {
          if (step.op === 'syncForCpu') b.syncSgForCpu(dev, m.sgl, m.nents ?? m.sgl.length, m.dir);
          else b.syncSgForDevice(dev, m.sgl, m.nents ?? m.sgl.length, m.dir);
        } else if (step.op === 'syncForCpu') b.syncSingleForCpu(dev, (m.dma + step.offset) as DmaAddr, step.size, m.dir);
        else b.syncSingleForDevice(dev, (m.dma + step.offset) as DmaAddr, step.size, m.dir);
        // Non-coherent memory the CPU wrote (the allocator's zeroing included) may be discarded by a FROM_DEVICE hand-over where the arch invalidates.
        const nc = this.objs.get(step.ref);
        if (step.op === 'syncForDevice' && nc?.nc !== undefined) this.mappedFromDevice(this.model.mappings.get(step.ref)?.dir ?? 'DMA_BIDIRECTIONAL', [{ o: nc, offset: step.offset, size: step.size }]);
        return;
      }
      case 'cpuWrite': {
        const o = this.obj(step.ref);
        const data = patternBytes(step.pattern, step.size);
        this.cpuChunks(o, step.offset, step.size, (va, at, len) => p.cpu.write(va, data.subarray(at, at + len), 'driver'));
        o.shadow.write(step.offset, data, ORIGIN.cpu);
        return;
      }
      case 'cpuRead': {
        const o = this.obj(step.ref);
        const seen = this.cpuReadObj(o, step.offset, step.size);
        this.readObs('cpu-read', step.ref, o, null, (o.cpu ?? o.physPages[0] as number) + step.offset, [{ o, objOffset: step.offset, at: 0, len: step.size }], seen);
        return;
      }
      case 'cpuWriteNeighbour': {
        const o = this.obj(step.ref);
        if (o.neighbour === undefined) o.neighbour = this.findNeighbour(o);
        const n = o.neighbour;
        if (n === null) return;
        const data = patternBytes(step.pattern, n.shadow.sizeBytes);
        p.cpu.write(n.va, data, 'driver');
        n.shadow.write(0, data, ORIGIN.cpu);
        return;
      }
      case 'deviceWrite':
      case 'deviceRead': {
        const rm = this.maps.get(step.ref);
        if (rm?.resourcePhys !== undefined) {
          this.resourceIo(step, rm);
          return;
        }
        const hw = p.device(this.devOf(step.ref));
        const chunks = this.dmaChunks(step.ref, step.offset, step.size);
        const data = step.op === 'deviceWrite' ? patternBytes(step.pattern, step.size) : new Uint8Array(step.size);
        try {
          for (const c of chunks) {
            if (step.op === 'deviceWrite') hw.write(c.dma, data.subarray(c.at, c.at + c.len));
            else data.set(hw.read(c.dma, c.len), c.at);
          }
        } catch (err) {
          if (!(err instanceof DeviceFault)) throw err;
          hit(this.coverage, 'device-fault');
          this.emit({ kind: 'device-fault', at: this.at, ref: step.ref, dev: hw.name, dma: err.dma, sizeBytes: err.lenBytes, faultKind: err.kind, reason: err.reason });
          return;
        }
        const objChunks = this.objChunks(step.ref, step.offset, step.size);
        if (step.op === 'deviceWrite') {
          for (const c of objChunks) c.o.shadow.write(c.objOffset, data.subarray(c.at, c.at + c.len), ORIGIN.device);
        } else {
          const first = objChunks[0] as (typeof objChunks)[number];
          this.readObs('device-read', step.ref, first.o, hw.name, (chunks[0]?.dma ?? 0), objChunks, data);
        }
        return;
      }
      case 'userRead': {
        const v = this.vmas.get(step.ref) as { vma: VmArea; obj: string };
        const o = this.obj(v.obj);
        let seen: Uint8Array;
        try {
          seen = p.user.read(v.vma, step.offset, step.size);
        } catch (err) {
          if (!(err instanceof UserFault)) throw err;
          seen = new Uint8Array(step.size).fill(0);
          this.emit({ kind: 'mmap', at: this.at, ref: v.obj, dev: this.obj(v.obj).dev as string, region: this.obj(v.obj).region ?? null, ret: 0, populatedPages: p.user.populated(v.vma), expectedPages: v.vma.nrPages });
          return;
        }
        this.readObs('user-read', step.ref, o, null, step.offset, [{ o, objOffset: step.offset, at: 0, len: step.size }], seen);
        return;
      }
      case 'dmaWmb':
        p.cpu.dmaWmb();
        return;
      case 'setContext':
        p.context.current = step.context;
        return;
      case 'speculativeFill':
      case 'evict': {
        const phys = this.physOf(this.obj(step.ref), step.offset);
        if (step.op === 'speculativeFill') p.speculativeFill(phys);
        else p.evict(phys);
        return;
      }
      case 'wcDrain':
        p.wcDrain();
        return;
      case 'cmaPin':
        this.mm.cma.pin(step.area, step.page);
        return;
      case 'runWork':
        this.mm.workqueue.run();
        return;
      case 'badCall':
        hit(this.coverage, `bad:${step.call}`);
        this.badCall(step);
        return;
      case 'misuse':
        hit(this.coverage, `misuse:${step.misuse}`);
        this.misuse(step);
        return;
      case 'allocNc':
        this.allocNc(step);
        return;
      case 'freeNc': {
        const o = this.obj(step.ref);
        const n = o.nc as NonNullable<ObjRec['nc']>;
        const dev = o.dev as string;
        if (n.api === 'pages') b.freePages(dev, o.sizeBytes, n.page as Pfn, o.dma, n.dir);
        else if (n.api === 'noncoherent') b.freeNoncoherent(dev, o.sizeBytes, o.cpu as CpuAddr, o.dma, n.dir);
        else {
          b.vunmapNoncontiguous(dev, o.cpu as CpuAddr);
          b.freeNoncontiguous(dev, o.sizeBytes, n.sgt as SgTable, n.dir);
        }
        this.objs.delete(step.ref);
        this.maps.delete(step.ref);
        return;
      }
      case 'mapResource': {
        hit(this.coverage, 'map-resource');
        const region = p.mmio.region(step.resource);
        const phys = region.basePhys + step.offset;
        const dir = dirValue(step.dir);
        const ops0 = p.cache.stats.cleans + p.cache.stats.invalidates;
        const dma = b.mapResource(step.dev, phys, step.size, dir, 0);
        const cacheOps = p.cache.stats.cleans + p.cache.stats.invalidates - ops0;
        const maskBits = this.maskBits(step.dev, 'streaming');
        const base = { kind: 'resource' as const, at: this.at, ref: step.id, dev: step.dev, resource: step.resource, phys, sizeBytes: step.size, cacheOps, maskBits };
        if (this.mapFailed(step.dev, dma)) {
          this.failed.add(step.id);
          this.emit({ ...base, ok: false, dma: DMA_MAPPING_ERROR, misdirected: null });
          return;
        }
        this.emit({ ...base, ok: true, dma, misdirected: this.misdirected(step.dev, dma, step.size, phys) });
        this.maps.set(step.id, { dev: step.dev, kind: 'resource', sizeBytes: step.size, dir, attrs: 0, dmaSegs: [{ dma, len: step.size }], dma, sgl: null, bounces: [], resourcePhys: phys });
        return;
      }
      case 'unmapResource': {
        const m = this.maps.get(step.ref) as MapRec;
        b.unmapResource(m.dev, m.dma, m.sizeBytes, m.dir, 0);
        this.maps.delete(step.ref);
        return;
      }
      case 'queryAddressing':
        hit(this.coverage, 'addressing-queries');
        this.queryAddressing(step.dev);
        return;
    }
  }

  /** `dma_alloc_pages` / `_noncoherent` / `_noncontiguous` (+ `dma_vmap_noncontiguous`): an object and its lifelong mapping. */
  private allocNc(step: Extract<Step, { op: 'allocNc' }>): void {
    const p = this.platform;
    const b = this.backend;
    for (const f of step.flags ?? []) hit(this.coverage, `gfp:${f}`);
    const gfp = gfpValue(step.gfp, false, step.flags);
    const dir = dirValue(step.dir);
    const ctx = p.context;
    const saved = ctx.current;
    if (!gfpflagsAllowBlocking(gfp)) ctx.current = 'atomic';
    let cpu: number | null = null;
    let dma = DMA_MAPPING_ERROR as DmaAddr;
    let page: Pfn | null = null;
    let sgt: SgTable | null = null;
    this.calls.allocNc.made++;
    try {
      if (step.api === 'pages') {
        const r = b.allocPages(step.dev, step.size, dir, gfp);
        if (r.page !== null) {
          page = r.page;
          dma = r.dmaHandle;
          cpu = this.mm.pages.pageAddress(r.page);
        }
      } else if (step.api === 'noncoherent') {
        const r = b.allocNoncoherent(step.dev, step.size, dir, gfp);
        cpu = r.cpuAddr;
        dma = r.dmaHandle;
      } else {
        sgt = b.allocNoncontiguous(step.dev, step.size, dir, gfp, 0);
        if (sgt !== null) {
          dma = (sgt.sgl[0] as Scatterlist).dmaAddress;
          cpu = b.vmapNoncontiguous(step.dev, step.size, sgt);
          if (cpu === null) {
            b.freeNoncontiguous(step.dev, step.size, sgt, dir);
            sgt = null;
          }
        }
      }
    } finally {
      ctx.current = saved;
    }
    const faultInjection = p.faults.options.pageAllocFailRate > 0 || p.faults.options.setMemoryFailRate > 0;
    const base = { kind: 'nc-alloc' as const, at: this.at, ref: step.id, dev: step.dev, api: step.api, sizeBytes: step.size, gfp, faultInjection };
    const ok = step.api === 'pages' ? page !== null : cpu !== null;
    if (!ok) {
      this.calls.allocNc.failed++;
      hit(this.coverage, 'alloc-failed');
      this.failed.add(step.id);
      this.emit({ ...base, ok: false, dma: DMA_MAPPING_ERROR, cpuAttr: null, zeroed: null });
      return;
    }
    hit(this.coverage, `nc:${step.api}`);
    const physPages = cpu !== null ? this.allocPhysPages(step.dev, cpu, dma, step.size, true) : Array.from({ length: Math.ceil(step.size / PAGE_SIZE) }, (_, i) => ((page as number) + i) * PAGE_SIZE);
    if (physPages === null) throw new PlatformError(`the CPU address of a non-coherent allocation does not translate [cpu_addr=${hex(cpu ?? 0)}] [ref=${step.id}]`);
    const cpuAttr = cpu === null ? null : p.pt.translate(cpu, 'read', 'oracle').attr;
    const shadow = new Shadow(step.size);
    // Zeroed memory is promised only with __GFP_ZERO; Linux's dma-direct zeroes always (a linux-level check).
    if (step.flags?.includes('__GFP_ZERO') === true) shadow.fill(0, step.size, 0, ORIGIN.allocZero);
    const rec: ObjRec = { id: step.id, kind: 'noncoherent', sizeBytes: step.size, dev: step.dev, attrs: 0, cpu, dma, pfn: page ?? (Math.floor((physPages[0] as number) / PAGE_SIZE) as Pfn), order: getOrder(step.size), physPages, shadow, nc: { api: step.api, dir, page, sgt } };
    this.objs.set(step.id, rec);
    this.maps.set(step.id, { dev: step.dev, kind: step.api === 'noncontiguous' ? 'ncsg' : 'nc', sizeBytes: step.size, dir, attrs: 0, dmaSegs: [{ dma, len: step.size }], dma, sgl: sgt?.sgl ?? null, bounces: [], ...(sgt === null ? {} : { nents: sgt.origNents }) });
    this.noteDmaAddress(step.id, step.dev, dma, step.size, 'noncoherent');
    const parts = step.size <= 16384 ? [[0, step.size]] : [[0, 8192], [step.size - 8192, 8192]];
    let zeroed = true;
    for (const [off, len] of parts as [number, number][]) {
      const seen = new Uint8Array(len);
      this.cpuChunks(rec, off, len, (va, at, n) => seen.set(p.cpu.peek(va, n), at));
      if (seen.some((x) => x !== 0)) zeroed = false;
      if (step.flags?.includes('__GFP_ZERO') === true) this.readObs('cpu-read', step.id, rec, null, (cpu ?? (physPages[0] as number)) + off, [{ o: rec, objOffset: off, at: 0, len }], seen, 'dma_alloc');
    }
    this.emit({ ...base, ok: true, dma, cpuAttr, zeroed });
  }

  /** Why DMA address `dma` of `dev` does not lead to MMIO at `phys` (windows, bus limit, address lines), or null when it does. */
  private misdirected(dev: string, dma: number, size: number, phys: number): string | null {
    const cfg = this.platform.device(dev).config;
    const last = dma + size - 1;
    if (last > maskLimit(cfg.addressBits)) return `beyond the device's ${cfg.addressBits} address lines [dma=${hex(dma)}]`;
    if (cfg.busDmaLimit !== 0 && last > cfg.busDmaLimit) return `beyond bus_dma_limit [dma=${hex(dma)}] [limit=${hex(cfg.busDmaLimit)}]`;
    const to = this.platform.device(dev).translate(dma);
    if (to === null) return `${cfg.iommu === null ? 'outside every dma-ranges window' : 'no IOMMU translation'} [dma=${hex(dma)}]`;
    if (to !== phys) return `leads to phys ${hex(to)}, not to the resource at ${hex(phys)} [dma=${hex(dma)}]`;
    return null;
  }

  /** A device access through a resource mapping: it must move bytes to or from the MMIO registers. */
  private resourceIo(step: Extract<Step, { op: 'deviceWrite' | 'deviceRead' }>, m: MapRec): void {
    const hw = this.platform.device(m.dev);
    const phys = (m.resourcePhys as number) + step.offset;
    const dma = m.dma + step.offset;
    let mismatch: string | null = null;
    try {
      if (step.op === 'deviceWrite') {
        const data = patternBytes(step.pattern, step.size);
        hw.write(dma, data);
        const regs = this.platform.mmio.read(phys, step.size);
        const i = regs.findIndex((x, k) => x !== data[k]);
        if (i >= 0) mismatch = `the registers at ${hex(phys + i)} hold ${hex(regs[i] as number)}, the device wrote ${hex(data[i] as number)} [dma=${hex(dma)}]`;
      } else {
        const seen = hw.read(dma, step.size);
        const regs = this.platform.mmio.read(phys, step.size);
        const i = regs.findIndex((x, k) => x !== seen[k]);
        if (i >= 0) mismatch = `the device read ${hex(seen[i] as number)} at ${hex(dma + i)}, the registers at ${hex(phys + i)} hold ${hex(regs[i] as number)}`;
      }
    } catch (err) {
      if (!(err instanceof DeviceFault)) throw err;
      hit(this.coverage, 'device-fault');
      this.emit({ kind: 'device-fault', at: this.at, ref: step.ref, dev: hw.name, dma: err.dma, sizeBytes: err.lenBytes, faultKind: err.kind, reason: err.reason });
      return;
    }
    this.emit({ kind: 'resource-io', at: this.at, ref: step.ref, dev: m.dev, access: step.op === 'deviceWrite' ? 'write' : 'read', mismatch });
  }

  /** The addressing queries of `dev`, with the facts of the machine to judge them by. */
  private queryAddressing(dev: string): void {
    const b = this.backend;
    const has = (c: BackendCall) => this.declared.has(c);
    const limited = b.addressingLimited(dev);
    const requiredMask = has('getRequiredMask') ? b.getRequiredMask(dev) : null;
    const optMappingSize = has('optMappingSize') ? b.optMappingSize(dev) : null;
    const maxMappingSize = has('maxMappingSize') ? b.maxMappingSize(dev) : null;
    const needUnmap = has('needUnmap') ? b.needUnmap(dev) : null;
    const mergeBoundary = has('getMergeBoundary') ? b.getMergeBoundary(dev) : null;
    const cfg = this.platform.device(dev).config;
    const maskBits = this.maskBits(dev, 'streaming');
    const limit = cfg.busDmaLimit === 0 ? maskLimit(maskBits) : Math.min(maskLimit(maskBits), cfg.busDmaLimit);
    // Every RAM byte, window by window: unreachable when outside every window or above the limit.
    let unreachableRam: string | null = null;
    let outsideWindows = false;
    let top: number | null = null;
    // Behind an IOMMU every RAM page is reachable through some IOVA below the mask: nothing to walk.
    for (const bank of cfg.iommu === null ? this.platform.profile.ram : []) {
      for (let at = bank.startPhys as number; at < bank.startPhys + bank.sizeBytes; ) {
        const end = bank.startPhys + bank.sizeBytes;
        const w = cfg.dmaRanges?.find((r) => at >= r.cpuStartPhys && at < r.cpuStartPhys + r.sizeBytes);
        if (cfg.dmaRanges !== null && w === undefined) {
          outsideWindows = true;
          unreachableRam ??= `RAM at phys ${hex(at)} is outside every dma-ranges window`;
          const next = cfg.dmaRanges.filter((r) => r.cpuStartPhys > at).reduce((m, r) => Math.min(m, r.cpuStartPhys), end);
          at = next;
          continue;
        }
        const runEnd = w === undefined ? end : Math.min(end, w.cpuStartPhys + w.sizeBytes);
        const lastDma = w === undefined ? runEnd - 1 : w.dmaStart + (runEnd - 1 - w.cpuStartPhys);
        if (lastDma > limit) unreachableRam ??= `RAM up to phys ${hex(runEnd - 1)} has DMA address ${hex(lastDma)} beyond the limit ${hex(limit)}`;
        top = top === null ? lastDma : Math.max(top, lastDma);
        at = runEnd;
      }
    }
    const lastBank = this.platform.profile.ram[this.platform.profile.ram.length - 1];
    const lastPageDma = lastBank === undefined ? null : this.physToDmaOf(cfg, lastBank.startPhys + lastBank.sizeBytes - PAGE_SIZE);
    // dma-iommu's dma_get_required_mask is 32 bits (kernel/dma/mapping.c dma_get_required_mask).
    const linuxRequired = cfg.iommu !== null ? maskLimit(32) : lastPageDma === null ? 0 : maskLimit(Math.floor(Math.log2(Math.max(1, lastPageDma))) + 1);
    const linuxLimited = limit < linuxRequired || outsideWindows;
    let bouncedMapping: string | null = null;
    for (const [id, m] of this.maps) if (m.dev === dev && m.bounces.length > 0) bouncedMapping ??= `${id} [bounce_phys=${hex(m.bounces[0]?.phys ?? 0)}]`;
    this.emit({ kind: 'addressing', at: this.at, dev, limited, unreachableRam, linuxLimited, requiredMask, ramTopDma: top, optMappingSize, maxMappingSize, needUnmap, bouncedMapping, mergeBoundary, maskBits });
  }

  private physToDmaOf(cfg: { readonly dmaRanges: readonly { cpuStartPhys: number; dmaStart: number; sizeBytes: number }[] | null }, phys: number): number | null {
    if (cfg.dmaRanges === null) return phys;
    const w = cfg.dmaRanges.find((r) => phys >= r.cpuStartPhys && phys < r.cpuStartPhys + r.sizeBytes);
    return w === undefined ? null : w.dmaStart + (phys - w.cpuStartPhys);
  }

  /** A map result the driver must treat as failed: `DMA_MAPPING_ERROR`, or what `dma_mapping_error` says when the backend declares it. */
  private mapFailed(dev: string, dma: DmaAddr): boolean {
    // The driver calls dma_mapping_error(): dma-debug marks the mapping checked.
    (this.backend as DebuggedBackend).debug.mappingError(dev, dma);
    return dma === DMA_MAPPING_ERROR || (this.declared.has('mappingError') && this.backend.mappingError(dev, dma) !== 0);
  }

  /** A FROM_DEVICE map where the arch may discard earlier CPU writes: the mapped bytes become undefined (see {@link fromDeviceMapMayDiscard}). */
  private mappedFromDevice(dir: string, ranges: readonly { o: ObjRec; offset: number; size: number }[]): void {
    if (dir !== 'DMA_FROM_DEVICE' || !fromDeviceMapMayDiscard(this.platform.profile)) return;
    for (const r of ranges) r.o.shadow.forget(r.offset, r.size);
  }

  private devOf(ref: string): string {
    const b = this.objs.get(ref);
    if (b !== undefined) return b.dev as string;
    return (this.maps.get(ref) as MapRec).dev;
  }

  /**
   * The kmalloc object of the same size class allocated next, kept when one
   * of its bytes shares a cache line with `o` (kmalloc objects smaller than
   * a line are legal neighbours of a DMA buffer where the arch allows it),
   * freed at once otherwise.
   */
  private findNeighbour(o: ObjRec): Neighbour | null {
    const slab = this.mm.slab;
    const size = slab.ksize(o.cpu as CpuAddr);
    if (size >= PAGE_SIZE) return null;
    const gfp = gfpValue(this.platform.context.atomic ? 'GFP_ATOMIC' : 'GFP_KERNEL');
    const va = slab.kmalloc(size, gfp);
    if (va === null) return null;
    const line = this.platform.cache.lineSizeBytes;
    const lineOf = (x: number) => Math.floor(x / line);
    const sharesLine = lineOf(va) === lineOf((o.cpu as number) + size - 1) || lineOf(va + size - 1) === lineOf(o.cpu as number);
    if (!sharesLine) {
      slab.kfree(va);
      return null;
    }
    return { va, shadow: new Shadow(size) };
  }

  private releaseNeighbour(o: ObjRec): void {
    if (o.neighbour !== undefined && o.neighbour !== null) {
      this.checkNeighbour(o);
      this.mm.slab.kfree(o.neighbour.va);
    }
    o.neighbour = null;
  }

  /** What a refused call must leave unchanged. */
  private state(): string {
    return JSON.stringify({
      mm: this.mm.snapshot(),
      lines: this.platform.cache.digest(),
      wc: this.platform.cpu.wc.pending,
      violations: this.platform.violations.count,
    });
  }

  private badCall(step: Extract<Step, { op: 'badCall' }>): void {
    const b = this.backend;
    // A backend that refused every device of this machine (a variant it does not run on) gets no invalid call either.
    if (this.model.devices.length === 0) return;
    const dev0 = this.model.devices[0] as string;
    // An unmap or free with another size removes dma-debug's entry while the harness keeps the buffer: what dma-debug says about it later is this call's doing.
    if ((step.call === 'unmapOtherSize' || step.call === 'freeOtherSize') && step.ref !== undefined) this.debugDesynced.add(step.ref);
    const gfp = gfpValue(this.platform.context.atomic ? 'GFP_ATOMIC' : 'GFP_KERNEL');
    const o = step.ref === undefined ? undefined : this.objs.get(step.ref);
    const m = step.ref === undefined ? undefined : this.maps.get(step.ref);
    const unknownHandle = this.unknownHandle();
    let call: () => unknown;
    let expected: string;
    const isMapError = (r: unknown, dev: string) => this.mapFailed(dev, r as DmaAddr);
    let ok: (r: unknown) => boolean;
    switch (step.call) {
      case 'allocZeroSize':
        [call, expected, ok] = [() => b.allocAttrs(dev0, 0, gfp, 0).cpuAddr, 'NULL', (r) => r === null];
        break;
      case 'allocGfpComp':
        [call, expected, ok] = [() => b.allocAttrs(dev0, PAGE_SIZE, gfp | __GFP_COMP, 0).cpuAddr, 'NULL', (r) => r === null];
        break;
      case 'mapSingleZeroSize':
        [call, expected, ok] = [() => b.mapSingle(dev0, o?.cpu as CpuAddr, 0, DMA_TO_DEVICE, 0), 'DMA_MAPPING_ERROR', (r) => isMapError(r, dev0)];
        break;
      case 'mapSingleDmaNone':
        [call, expected, ok] = [() => b.mapSingle(dev0, o?.cpu as CpuAddr, o?.sizeBytes ?? 1, DMA_NONE, 0), 'DMA_MAPPING_ERROR', (r) => isMapError(r, dev0)];
        break;
      case 'mapSingleVmalloc':
        if (o?.cpu === null || o === undefined || !this.platform.pt.isVmallocAddr(o.cpu)) return;
        [call, expected, ok] = [() => b.mapSingle(dev0, o.cpu as CpuAddr, 64, DMA_TO_DEVICE, 0), 'DMA_MAPPING_ERROR', (r) => isMapError(r, dev0)];
        break;
      case 'mapPageMmio':
        [call, expected, ok] = [() => b.mapPage(dev0, o?.pfn as Pfn, 0, 64, DMA_TO_DEVICE, DMA_ATTR_MMIO), 'DMA_MAPPING_ERROR', (r) => isMapError(r, dev0)];
        break;
      case 'unmapUnknownHandle':
        if (unknownHandle === null) return;
        [call, expected, ok] = [() => b.unmapSingle(dev0, unknownHandle, 256, DMA_BIDIRECTIONAL, 0), 'no effect', () => true];
        break;
      case 'unmapOtherSize':
        [call, expected, ok] = [() => b.unmapSingle(m?.dev as string, m?.dma as DmaAddr, (m?.sizeBytes ?? 0) + GRANULE_BYTES, m?.dir ?? 0, 0), 'no effect', () => true];
        break;
      case 'syncPastEnd':
        [call, expected, ok] = [() => b.syncSingleForDevice(m?.dev as string, m?.dma as DmaAddr, (m?.sizeBytes ?? 0) + PAGE_SIZE, m?.dir ?? 0), 'no effect', () => true];
        break;
      case 'freeOtherSize':
        [call, expected, ok] = [() => b.freeAttrs(o?.dev as string, (o?.sizeBytes ?? 0) + 2 * PAGE_SIZE, o?.cpu as CpuAddr, o?.dma as DmaAddr, o?.attrs ?? 0), 'no effect', () => true];
        break;
      case 'mmapTooLarge': {
        const nr = Math.ceil((o?.sizeBytes ?? 0) / PAGE_SIZE) + 1;
        [call, expected, ok] = [() => b.mmapAttrs(o?.dev as string, this.platform.user.createVma(nr, 0), o?.cpu as CpuAddr, o?.dma as DmaAddr, nr * PAGE_SIZE, o?.attrs ?? 0), 'negative errno', (r) => (r as number) < 0];
        break;
      }
      case 'getSgtableUnknownHandle':
        if (unknownHandle === null) return;
        [call, expected, ok] = [() => b.getSgtableAttrs(o?.dev as string, o?.cpu as CpuAddr, unknownHandle, o?.sizeBytes ?? 0, o?.attrs ?? 0).ret, 'negative errno', (r) => (r as number) < 0];
        break;
      case 'mapSgZeroNents': {
        const ram = this.platform.profile.ram[0]?.startPhys ?? 0;
        [call, expected, ok] = [() => b.mapSg(dev0, [sgEntry(Math.floor(ram / PAGE_SIZE) as Pfn, 0, 64)], 0, DMA_TO_DEVICE, 0), '0', (r) => r === 0];
        break;
      }
    }
    const before = this.state();
    const r = call();
    const after = this.state();
    this.emit({ kind: 'refusal', at: this.at, call: step.call, expected, got: ok(r) ? expected : String(r), changed: before === after ? null : describeChange(before, after).join(' ') });
  }

  /** A DMA address no live mapping or buffer of the harness covers. */
  private unknownHandle(): DmaAddr | null {
    const candidates = [0x7ff0_0000, 0x3ff0_0000, 0x00f0_0000];
    for (const c of candidates) {
      const hit = [...this.maps.values()].some((m) => m.dmaSegs.some((s) => c + 256 > s.dma && c < s.dma + s.len)) || [...this.objs.values()].some((o) => o.kind === 'coherent' && c + 256 > o.dma && c < o.dma + o.sizeBytes);
      if (!hit) return c as DmaAddr;
    }
    return null;
  }

  // ---- misuse mode ----

  /** Every dma-debug report of this sequence, in order. */
  private readonly debugReports: DebugReport[] = [];

  /** dma-debug's `err_printk`: recorded, and observed with whether the step was a misuse. */
  private onDebugReport(r: DebugReport): void {
    this.debugReports.push(r);
    this.emit({ kind: 'debug-report', at: this.at, check: r.check, dev: r.dev, message: r.message, duringMisuse: this.reportedForMisuse() });
  }

  /**
   * Is a dma-debug report now the doing of a misuse? It is in a misuse or
   * invalid-call step, in the teardown after a misuse, and in a step on
   * memory a misuse touched (the misuse may have left dma-debug's table
   * behind the driver's: an sg list unmapped with the wrong call keeps its
   * other entries).
   */
  private reportedForMisuse(): boolean {
    const step = this.at.step;
    if (step === null) return this.lastMisuse !== null || this.debugDesynced.size > 0;
    if (step.op === 'misuse' || step.op === 'badCall') return true;
    return usedIds(step).some((id) => this.debugDesynced.has(id)) || this.touchesTaint(usedIds(step));
  }

  /** Buffers an invalid call left dma-debug's table out of step with (an unmap or free with another size). */
  private readonly debugDesynced = new Set<string>();

  /** Does any of `ids` name, or lie within a line of, memory a misuse touched? */
  private touchesTaint(ids: readonly string[]): boolean {
    if (!this.anyMisuse) return false;
    const L = this.platform.cache.lineSizeBytes;
    return ids.some((id) => this.taintedRefs.has(id) || this.rangesOf(id).some((a) => this.taintedRanges.some((t) => a.lo < t.hi + L && t.lo < a.hi + L)));
  }

  /** This machine's dma-debug. */
  private get debug(): DmaDebug {
    return (this.backend as DebuggedBackend).debug;
  }

  /** The latest misuse that may change machine-wide state (accounting, live mappings), or null: whole-machine observations after it are its consequences. */
  private lastMisuse: Taint | null = null;
  /** A misuse has run in this sequence. */
  private anyMisuse = false;
  /** The oops that halted the sequence came from the illegal call of a misuse (in its legal calls it is the backend's own). */
  private oopsInMisuse = false;
  /** Physical ranges a misuse touched (widened to whole cache lines), `[lo, hi)`, with the misuse. */
  private readonly taintedRanges: (Taint & { lo: number; hi: number })[] = [];
  /** Symbolic ids a misuse named. */
  private readonly taintedRefs = new Map<string, Taint>();

  /** Physical byte ranges of an object or mapping, with a mapping's bounce buffers. */
  private rangesOf(ref: string): { lo: number; hi: number }[] {
    // The kmalloc objects sharing a line with a buffer: the buffer's lines.
    if (ref.endsWith('.neighbour')) {
      const L = this.platform.cache.lineSizeBytes;
      return this.rangesOf(ref.slice(0, -'.neighbour'.length)).map((r) => ({ lo: Math.floor(r.lo / L) * L, hi: Math.ceil(r.hi / L) * L }));
    }
    // A user mapping shows its buffer.
    const v = this.vmas.get(ref);
    if (v !== undefined) return this.rangesOf(v.obj);
    const o = this.objs.get(ref);
    if (o !== undefined) {
      if (o.kind === 'coherent' || o.kind === 'noncoherent') return o.physPages.map((p) => ({ lo: p, hi: p + PAGE_SIZE }));
      const p0 = o.physPages[0];
      return p0 === undefined ? [] : [{ lo: p0, hi: p0 + o.sizeBytes }];
    }
    const m = this.maps.get(ref);
    const mm = this.model.mappings.get(ref);
    if (m === undefined) return [];
    return [...(mm?.segs ?? []).flatMap((s) => this.rangesOf(s.obj)), ...m.bounces.map((b) => ({ lo: b.phys, hi: b.phys + b.len }))];
  }

  /**
   * What `ref` covers (and `beyondBytes` past each of its ranges: an
   * over-long sync or unmap), read while it is still live; {@link applyTaint}
   * marks it as touched by a misuse once the misuse's legal calls have run.
   */
  private taintOfRef(ref: string, beyondBytes = 0): { refs: string[]; ranges: { lo: number; hi: number }[] } {
    const L = this.platform.cache.lineSizeBytes;
    return {
      refs: [ref, ...(this.model.mappings.get(ref)?.segs ?? []).map((s) => s.obj)],
      ranges: this.rangesOf(ref).map((r) => ({ lo: Math.floor(r.lo / L) * L, hi: Math.ceil((r.hi + beyondBytes) / L) * L })),
    };
  }

  private applyTaint(what: { refs: readonly string[]; ranges: readonly { lo: number; hi: number }[] }, t: Taint): void {
    for (const r of what.refs) this.taintedRefs.set(r, t);
    for (const r of what.ranges) this.taintedRanges.push({ ...t, ...r });
    if (MISUSE_INFO[t.misuse].machine) this.lastMisuse = t;
    this.anyMisuse = true;
  }

  /**
   * Is this observation about memory a misuse touched? Observations without
   * a buffer (accounting at the end, platform violations, an oops) are, once
   * any misuse ran: the misuse may be why.
   */
  private taintOf(obs: Observation): Taint | null {
    if (obs.kind === 'misuse' || obs.kind === 'debug-report' || obs.kind === 'consequence' || obs.kind === 'boot') return null;
    // Whole-machine accounting, platform violations, an oops and what an invalid call changed (a mapping the driver gave up on may still be live) may be a misuse's doing (the latest; fuzz.ts decides which by running without each); other observations without a buffer are not.
    if (!('ref' in obs) || typeof obs.ref !== 'string') return obs.kind === 'leak' || obs.kind === 'swiotlb-state' || obs.kind === 'iova-state' || obs.kind === 'platform-violation' || obs.kind === 'oops' || obs.kind === 'refusal' ? this.lastMisuse : null;
    const byRef = this.taintedRefs.get(obs.ref);
    if (byRef !== undefined) return byRef;
    const mine = this.rangesOf(obs.ref);
    let by: Taint | null = null;
    for (const t of this.taintedRanges) if (mine.some((a) => a.lo < t.hi && t.lo < a.hi) && (by === null || t.index > by.index)) by = t;
    return by;
  }

  /** A legal step run inside a misuse step: executed, applied to the model and observed like any step. */
  private execLegal(step: Step): void {
    this.exec(step);
    const unmapped = step.op === 'unmapSingle' || step.op === 'unmapSg' ? this.model.mappings.get(step.ref) : undefined;
    this.model.apply(step);
    this.observeTransfer(step, unmapped);
  }

  /** Run one misuse (misuse.ts): its legal prefix, the illegal action, and the driver's belief afterwards. */
  private misuse(step: Extract<Step, { op: 'misuse' }>): void {
    const info = MISUSE_INFO[step.misuse];
    const prefix = legalPrefix(step, this.model);
    const effect = modelEffect(step, this.model).slice(prefix.length);
    const m = this.maps.get(step.ref);
    const o = this.objs.get(step.ref);
    const mm = this.model.mappings.get(step.ref);
    const seg = mm?.segs[0];
    const dev = m?.dev ?? o?.dev ?? this.model.devices[0] ?? null;
    const reportsBefore = this.debugReports.length;
    let immediate: string | null = null;
    // No device to map for (the backend refused them all on this machine): the misuse cannot happen. Memory an
    // earlier misuse touched may have left dma-debug's table behind the driver's: what it says then is that misuse's doing.
    let expectedDebug = dev === null || this.touchesTaint([step.ref]) || this.debugDesynced.has(step.ref) ? null : info.debug;
    // A buffer dma-debug never saw (a NO_KERNEL_MAPPING cookie, an address neither linear nor vmalloc) has no entry whose double free it could notice.
    if ((step.misuse === 'doubleFree' || step.misuse === 'cpuWriteAfterFree') && o !== undefined && dev !== null && !this.debug.entries(dev).some((e) => e.dmaAddr === o.dma && e.type === 'coherent')) expectedDebug = null;
    // What the misuse touches: its target (and past its end, for the over-long sync and unmap); unbinding touches no memory.
    const t: Taint = { misuse: step.misuse, index: this.at.index };
    // Unbinding and the stack/rodata maps (a scratch page of their own) touch none of the driver's memory.
    const touches = step.misuse === 'unbindWithMappings' || step.misuse === 'mapStackCopy' || step.misuse === 'mapRodata' ? { refs: [], ranges: [] } : this.taintOfRef(step.ref, step.misuse === 'syncOutsideMapping' ? PAGE_SIZE : step.misuse === 'unmapOtherSize' ? GRANULE_BYTES : 0);
    // The legal calls first, judged like any (a backend bug there is a violation, not a consequence).
    for (const inner of prefix) this.execLegal(inner);
    this.applyTaint(touches, t);
    try {
      immediate = this.misuseAction(step, { m, o, seg, dev }, (e) => (expectedDebug = e));
    } catch (err) {
      // The kernel oopsed in the illegal call: that is what this misuse does here.
      this.oopsInMisuse = true;
      throw err;
    } finally {
      for (const e of effect) {
        this.model.apply(e);
        if (e.op === 'unmapSingle' || e.op === 'unmapSg') this.maps.delete(e.ref);
      }
      this.emit({ kind: 'misuse', at: this.at, misuse: step.misuse, ref: step.ref, dev, expectedDebug, reported: this.debugReports.slice(reportsBefore).map((r) => r.check), immediate });
    }
  }

  /** The illegal call of a misuse. @returns what the platform did at once (a fault), or null */
  private misuseAction(step: Extract<Step, { op: 'misuse' }>, at: { m: MapRec | undefined; o: ObjRec | undefined; seg: ModelSegment | undefined; dev: string | null }, setExpected: (e: DebugCheckId | null) => void): string | null {
    const b = this.backend;
    const p = this.platform;
    const { m, o, seg, dev } = at;
    let immediate: string | null = null;
    let expectedDebug: DebugCheckId | null | undefined;
    const oneWay = (dir: number) => (dir === DMA_TO_DEVICE ? DMA_FROM_DEVICE : DMA_TO_DEVICE);
    const unmapRec = (r: MapRec, sizeBytes: number, dir: number) => (r.kind === 'page' ? b.unmapPage(r.dev, r.dma, sizeBytes, dir, r.attrs) : b.unmapSingle(r.dev, r.dma, sizeBytes, dir, r.attrs));
    switch (step.misuse) {
      case 'cpuReadDeviceOwned':
        if (seg !== undefined) this.exec({ op: 'cpuRead', ref: seg.obj, offset: seg.objOffset, size: seg.sizeBytes });
        break;
      case 'cpuWriteDeviceOwned':
        if (seg !== undefined) this.exec({ op: 'cpuWrite', ref: seg.obj, offset: seg.objOffset, size: seg.sizeBytes, pattern: 0x5a5a5a5a });
        break;
      case 'syncWrongDirection':
        if (m !== undefined) b.syncSingleForCpu(m.dev, m.dma, m.sizeBytes, oneWay(m.dir));
        break;
      case 'syncOutsideMapping':
        if (m !== undefined) b.syncSingleForDevice(m.dev, m.dma, m.sizeBytes + PAGE_SIZE, m.dir);
        break;
      case 'doubleUnmap':
        if (m !== undefined) unmapRec(m, m.sizeBytes, m.dir);
        break;
      case 'unmapOtherSize':
        if (m !== undefined) unmapRec(m, m.sizeBytes + GRANULE_BYTES, m.dir);
        break;
      case 'unmapOtherDirection':
        if (m !== undefined) unmapRec(m, m.sizeBytes, oneWay(m.dir));
        break;
      case 'mapNotChecked':
        if (o !== undefined && dev !== null) {
          const dma = b.mapSingle(dev, o.cpu as CpuAddr, o.sizeBytes, DMA_TO_DEVICE, 0);
          // Never passed to dma_mapping_error; unmapped as if it had worked. A failed map makes no entry: nothing to report.
          if (dma === DMA_MAPPING_ERROR) expectedDebug = null;
          b.unmapSingle(dev, dma, o.sizeBytes, DMA_TO_DEVICE, 0);
        }
        break;
      case 'mapTwice':
        if (m !== undefined && seg !== undefined) {
          const so = this.obj(seg.obj);
          const again = m.kind === 'page' ? b.mapPage(m.dev, ((so.pfn as number) + Math.floor(seg.objOffset / PAGE_SIZE)) as Pfn, seg.objOffset % PAGE_SIZE, m.sizeBytes, m.dir, 0) : b.mapSingle(m.dev, so.cpu as CpuAddr, m.sizeBytes, m.dir, 0);
          if (!this.mapFailed(m.dev, again)) {
            if (m.kind === 'page') b.unmapPage(m.dev, again, m.sizeBytes, m.dir, 0);
            else b.unmapSingle(m.dev, again, m.sizeBytes, m.dir, 0);
          } else expectedDebug = null;
          // Where kmalloc may share lines (x86; arm64 with swiotlb), dma-debug does not track overlaps: it is built not to report this there.
          if (cachelineOverlapExempt(p)) expectedDebug = null;
        }
        break;
      case 'deviceWriteAfterUnmap':
        if (m !== undefined) {
          const hw = p.device(m.dev);
          try {
            for (const s of m.dmaSegs) hw.write(s.dma, patternBytes(0x3c3c3c3c, s.len));
          } catch (err) {
            if (!(err instanceof DeviceFault)) throw err;
            immediate = `device fault: ${err.reason}`;
          }
        }
        break;
      case 'doubleFree':
        if (o !== undefined) b.freeAttrs(o.dev as string, o.sizeBytes, o.cpu as CpuAddr, o.dma, o.attrs);
        break;
      case 'cpuWriteAfterFree':
        if (o?.cpu !== null && o?.cpu !== undefined) {
          try {
            p.cpu.write(o.cpu, patternBytes(0x7e7e7e7e, Math.min(o.sizeBytes, 256)), 'driver (after dma_free_attrs)');
          } catch (err) {
            if (!(err instanceof PageFault) && !(err instanceof BusError)) throw err;
            immediate = `CPU fault: ${err.message.split('\n')[0]}`;
          }
        }
        break;
      case 'unbindWithMappings':
        if (dev !== null) this.debug.driverUnbound(dev);
        break;
      case 'unmapWrongFunction': {
        const first = m?.dmaSegs[0];
        if (m !== undefined && first !== undefined) b.unmapPage(m.dev, first.dma as DmaAddr, first.len, m.dir, 0);
        break;
      }
      case 'mapStackCopy':
      case 'mapRodata':
        if (o !== undefined && dev !== null) {
          // One lowmem page stands for the current task's stack (a copy of the buffer on it) or for a const table in rodata.
          const page = this.mm.pages.allocPages(gfpValue('GFP_ATOMIC'), 0);
          const va = page === null ? null : this.mm.pages.pageAddress(page);
          if (page === null || va === null) {
            expectedDebug = null;
            if (page !== null) this.mm.pages.freePages(page, 0);
            break;
          }
          const kind = step.misuse === 'mapStackCopy' ? 'stack' : 'rodata';
          const size = Math.min(o.sizeBytes, PAGE_SIZE);
          p.pt.setKernelArea(page * PAGE_SIZE, PAGE_SIZE, kind);
          try {
            const dma = b.mapSingle(dev, va, size, DMA_TO_DEVICE, 0);
            if (this.mapFailed(dev, dma)) expectedDebug = null;
            else b.unmapSingle(dev, dma, size, DMA_TO_DEVICE, 0);
          } finally {
            p.pt.setKernelArea(page * PAGE_SIZE, 0, kind);
            this.mm.pages.freePages(page, 0);
          }
        }
        break;
      case 'deviceReadWithoutWmb':
        if (o !== undefined) {
          const n = Math.min(o.sizeBytes, 256);
          this.exec({ op: 'cpuWrite', ref: step.ref, offset: 0, size: n, pattern: 0x1d1d1d1d });
          this.exec({ op: 'deviceRead', ref: step.ref, offset: 0, size: n });
        }
        break;
    }
    if (expectedDebug !== undefined) setExpected(expectedDebug);
    return immediate;
  }

  // ---- teardown ----

  private teardown(): void {
    this.platform.context.current = 'process';
    this.model.context = 'process';
    for (const step of teardownSteps(this.model)) {
      this.exec(step);
      const unmapped = step.op === 'unmapSingle' || step.op === 'unmapSg' ? this.model.mappings.get(step.ref) : undefined;
      this.model.apply(step);
      this.observeTransfer(step, unmapped);
    }
    // The driver unbinds: dma-debug's leak check (D23) finds nothing left after a legal driver's teardown.
    for (const dev of this.model.devices) this.debug.driverUnbound(dev);
    this.noteViolations();
    this.observeIommu(false);
    const end = JSON.stringify(this.mm.snapshot());
    this.emit({ kind: 'leak', at: this.at, differences: end === this.start ? [] : describeChange(this.start, end) });
    for (const [dev, start] of this.iovaStart) {
      const end = this.backend.iovaState(dev);
      this.emit({ kind: 'iova-state', at: this.at, dev, startBytes: start, endBytes: end ?? null });
    }
    for (const [dev, start] of this.swiotlbStart) {
      const st = this.backend.swiotlbState(dev);
      const same = st !== undefined && st !== null && accountingDigest(st) === accountingDigest(start);
      this.emit({ kind: 'swiotlb-state', at: this.at, dev, differences: same ? [] : describeChange(JSON.stringify(poolAccounting(start)), st === undefined || st === null ? 'null' : JSON.stringify(poolAccounting(st))) });
    }
  }
}


/** The shadow of a fresh object: unknown bytes, or zeroes the kernel's `__GFP_ZERO` wrote (a CPU store). */
function zeroedShadow(sizeBytes: number, flags: readonly GfpFlagName[] | undefined): Shadow {
  const sh = new Shadow(sizeBytes);
  if (flags?.includes('__GFP_ZERO') === true) sh.fill(0, sizeBytes, 0, ORIGIN.cpu);
  return sh;
}

/** The ownership transfer a step makes, or null. */
function transferOf(step: Step): Transfer | null {
  switch (step.op) {
    case 'mapSingle':
    case 'mapPage':
    case 'mapSg':
      return 'dma_map';
    case 'syncForDevice':
      return 'dma_sync_for_device';
    case 'syncForCpu':
      return 'dma_sync_for_cpu';
    case 'unmapSingle':
    case 'unmapSg':
      return 'dma_unmap';
    default:
      return null;
  }
}

/** A fault the trusted platform raised because of an address or size the backend handed out. */
function isPlatformFault(err: unknown): err is Error {
  return err instanceof PageFault || err instanceof BusError || err instanceof PlatformError || err instanceof UserFault || err instanceof DeviceFault;
}

/**
 * What must be back at its start once every mapping is gone: per pool, the
 * used count of each area and every slot's free-run count (the rotating
 * search index of an area may legitimately have moved).
 */
function poolAccounting(st: IoTlbMemState): unknown {
  return { used: st.used, pools: st.pools.map((p) => ({ start: hex(p.startPhys), nslabs: p.nslabs, areasUsed: p.areas.map((a) => a.used), list: Array.from(p.list) })) };
}

/** {@link poolAccounting} as a short string (FNV-1a over the free-run counts), so equal accounting is cheap to recognise. */
function accountingDigest(st: IoTlbMemState): string {
  let h = 0x811c9dc5;
  const parts: (string | number)[] = [st.used];
  for (const p of st.pools) {
    for (let i = 0; i < p.list.length; i++) h = Math.imul(h ^ (p.list[i] as number), 0x01000193);
    parts.push(p.startPhys, p.nslabs, ...p.areas.map((a) => a.used), h >>> 0);
  }
  return parts.join(',');
}

/** The leaves that differ between two JSON documents, as bracketed `[path=before→after]` evidence (at most 6, then a count). */
export function describeChange(beforeJson: string, afterJson: string): string[] {
  const out: string[] = [];
  const walk = (a: unknown, b: unknown, path: string) => {
    if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null && Array.isArray(a) === Array.isArray(b)) {
      const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
      for (const k of keys) walk((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], path === '' ? k : `${path}.${k}`);
    } else if (JSON.stringify(a) !== JSON.stringify(b)) out.push(`[${path}=${JSON.stringify(a) ?? 'none'}→${JSON.stringify(b) ?? 'none'}]`);
  };
  walk(JSON.parse(beforeJson), JSON.parse(afterJson), '');
  return out.length > 6 ? [...out.slice(0, 6), `[more_differences=${out.length - 6}]`] : out;
}
