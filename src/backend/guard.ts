/**
 * Not a kernel mirror: the box a backend runs in (DESIGN.md "Reliability").
 * A backend is code we did not write: it may throw any value, return
 * garbage, return a Promise, call `process.exit`, or never return. The
 * harness never calls a backend directly; it calls {@link GuardedBackend},
 * which
 * - checks the shape of every value a call returns (a DMA address is a
 *   non-negative integer or `DMA_MAPPING_ERROR`, an errno is 0 or negative,
 *   an sg table holds integer pages, ...), turning garbage into a
 *   {@link BackendReturnError} at the call that produced it, before the
 *   platform is handed an absurd address;
 * - refuses an asynchronous backend ({@link AsyncBackendError}: a call
 *   returned a thenable), which the run reports as an unusable module;
 * - marks each call on the {@link Heartbeat} a watchdog in another thread
 *   reads, so that a call that never returns is reported as a hang with the
 *   step it hung at.
 * {@link describeThrown} prints any thrown value safely, including
 * `undefined`, strings and objects whose getters throw.
 */
import type { CpuAddr, DmaAddr, Pfn } from '../platform/types.ts';
import type { VmArea } from '../platform/user.ts';
import type { DmaAllocation } from '../linux/include/linux/dma-map-ops.ts';
import { DMA_MAPPING_ERROR, type DmaDataDirection } from '../linux/include/linux/dma-mapping.ts';
import type { Gfp } from '../linux/include/linux/gfp.ts';
import type { Scatterlist, SgTable } from '../linux/include/linux/scatterlist.ts';
import type { IoTlbMemState } from '../linux/kernel/dma/swiotlb.ts';
import { BACKEND_CALLS, type BackendCall, type BackendCapabilities, type DmaBackend } from './backend.ts';

/** A backend call returned a value of the wrong shape. Reported as an oops at the step that made the call. */
export class BackendReturnError extends Error {
  constructor(
    readonly call: string,
    readonly got: string,
    readonly accepted: string,
  ) {
    super(`${call} returned ${got}: accepted is ${accepted}`);
    this.name = 'BackendReturnError';
  }
}

/** A backend call returned a thenable: the module cannot be used (every call must return synchronously). */
export class AsyncBackendError extends Error {
  constructor(readonly call: string) {
    super(`${call} returned a Promise: accepted are synchronous calls only (async backends cannot be driven)`);
    this.name = 'AsyncBackendError';
  }
}

/** The module's backend cannot be driven at all (`create` returned garbage, a declared call is missing). */
export class UnusableBackendError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnusableBackendError';
  }
}

/** The backend called `process.exit` (the worker replaces it with a throw of this). */
export class BackendExitError extends Error {
  constructor(readonly code: unknown) {
    super(`the backend called process.exit(${describeValue(code, 40)})`);
    this.name = 'BackendExitError';
  }
}

/** A short, safe rendering of any value: never throws, never longer than `max` characters. */
export function describeValue(v: unknown, max = 120): string {
  let s: string;
  try {
    if (v === undefined) s = 'undefined';
    else if (typeof v === 'string') s = JSON.stringify(v);
    else if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint' || v === null) s = String(v) + (typeof v === 'bigint' ? 'n' : '');
    else if (typeof v === 'function') s = `[function ${safeName(v)}]`;
    else if (typeof v === 'symbol') s = v.toString();
    else if (typeof (v as { then?: unknown }).then === 'function') s = 'a Promise';
    else {
      try {
        s = JSON.stringify(v) ?? Object.prototype.toString.call(v);
      } catch {
        s = Object.prototype.toString.call(v);
      }
    }
  } catch {
    s = Object.prototype.toString.call(v);
  }
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

function safeName(f: unknown): string {
  try {
    const n = (f as { name?: unknown }).name;
    return typeof n === 'string' && n !== '' ? n : 'anonymous';
  } catch {
    return 'anonymous';
  }
}

/**
 * One line for a thrown value: `Name: message` for errors, `threw <value>`
 * for anything else. Never throws (getters that throw are caught), never
 * spans lines.
 */
export function describeThrown(err: unknown): string {
  let s: string;
  try {
    if (err instanceof Error) {
      let name = 'Error';
      let message = '';
      try {
        name = String(err.name);
      } catch {
        // keep the default
      }
      try {
        message = String(err.message);
      } catch {
        message = '(message getter threw)';
      }
      s = message === '' ? name : `${name}: ${message}`;
    } else s = `threw ${describeValue(err)}`;
  } catch {
    s = 'threw a value that cannot be printed';
  }
  return s.split('\n')[0] as string;
}

/** True for a value with a callable `then` (a Promise or any thenable); a throwing `then` getter counts as one. */
function isThenable(v: unknown): boolean {
  if (v === null || (typeof v !== 'object' && typeof v !== 'function')) return false;
  try {
    return typeof (v as { then?: unknown }).then === 'function';
  } catch {
    return true;
  }
}

/**
 * Shared counters a watchdog thread reads (an `Int32Array` over a
 * `SharedArrayBuffer`): [0] call counter, odd while a backend call runs;
 * [1] sequences run; [2] current step (1-based, 0 = setup or teardown);
 * [3] the call in progress, as an index of {@link BACKEND_CALLS} (-1 create);
 * [4] byte length of the current sequence's JSON, stored from byte
 * {@link HEARTBEAT_HEADER_BYTES}.
 */
export interface Heartbeat {
  readonly words: Int32Array;
  readonly bytes: Uint8Array;
}

/** Bytes before the stored sequence JSON. */
export const HEARTBEAT_HEADER_BYTES = 32;

/** The heartbeat of this thread, if a watchdog watches it. */
let beat: Heartbeat | null = null;
const encoder = new TextEncoder();

/** Attach (or detach, with null) the heartbeat a watchdog reads. */
export function setHeartbeat(sab: SharedArrayBuffer | null): void {
  beat = sab === null ? null : { words: new Int32Array(sab, 0, HEARTBEAT_HEADER_BYTES / 4), bytes: new Uint8Array(sab, HEARTBEAT_HEADER_BYTES) };
}

/** A new sequence starts: count it and keep its steps where the watchdog can read them after a hang. */
export function noteSequence(steps: unknown): void {
  if (beat === null) return;
  const json = JSON.stringify(steps);
  const { written } = encoder.encodeInto(json, beat.bytes);
  Atomics.store(beat.words, 4, written ?? 0);
  Atomics.store(beat.words, 2, 0);
  Atomics.add(beat.words, 1, 1);
}

/** The interpreter moves to step `index` (1-based; 0 for setup and teardown). */
export function noteStep(index: number): void {
  if (beat !== null) Atomics.store(beat.words, 2, index);
}

function enter(call: number): void {
  if (beat === null) return;
  Atomics.store(beat.words, 3, call);
  Atomics.add(beat.words, 0, 1);
}

function leave(): void {
  if (beat !== null) Atomics.add(beat.words, 0, 1);
}

const CALL_INDEX = new Map<string, number>(BACKEND_CALLS.map((c, i) => [c, i]));

/**
 * Whatever a backend call threw, wrapped so the harness knows it came from
 * code under test (an oops) and not from the harness itself (a bug of
 * ours, which must not be blamed on the backend).
 */
export class BackendCallError extends Error {
  constructor(
    readonly call: string,
    readonly thrown: unknown,
  ) {
    super(`${describeThrown(thrown)} [in=${call}]`);
    this.name = 'BackendCallError';
  }
}

/** Run `fn` as a backend call named `call`: watched, anything thrown wrapped in {@link BackendCallError}, thenables refused. */
export function watched<T>(call: BackendCall | 'create', fn: () => T): T {
  enter(CALL_INDEX.get(call) ?? -1);
  let r: T;
  try {
    r = fn();
  } catch (err) {
    throw err instanceof BackendCallError ? err : new BackendCallError(call, err);
  } finally {
    leave();
  }
  if (isThenable(r)) {
    // A rejected Promise handed back must not surface later as an unhandled rejection.
    Promise.resolve(r).catch(() => {});
    throw new AsyncBackendError(call);
  }
  return r;
}

/** The name of the call a watchdog saw in progress (an index written by {@link watched}). */
export function callName(index: number): string {
  return index === -1 ? 'create' : (BACKEND_CALLS[index] ?? 'a backend call');
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);
const DMA_ADDR = 'a DMA address (an integer ≥ 0) or DMA_MAPPING_ERROR';
const ERRNO = '0 or a negative errno';

function dmaAddr(call: string, v: unknown): DmaAddr {
  if (v === DMA_MAPPING_ERROR || (isInt(v) && v >= 0)) return v as DmaAddr;
  throw new BackendReturnError(call, describeValue(v), DMA_ADDR);
}

function errno(call: string, v: unknown): number {
  if (isInt(v) && v <= 0) return v;
  throw new BackendReturnError(call, describeValue(v), ERRNO);
}

/** Read a property of a backend's result safely: a throwing getter is garbage, not a crash. */
function field(call: string, obj: object, key: string): unknown {
  try {
    return (obj as Record<string, unknown>)[key];
  } catch (err) {
    throw new BackendReturnError(call, `an object whose \`${key}\` getter throws (${describeThrown(err)})`, 'plain data');
  }
}

function allocation(v: unknown): DmaAllocation {
  const call = 'allocAttrs';
  const shape = '{ cpuAddr: null or a kernel address (an integer ≥ 0), dmaHandle }';
  if (typeof v !== 'object' || v === null) throw new BackendReturnError(call, describeValue(v), shape);
  const cpu = field(call, v, 'cpuAddr');
  const dma = field(call, v, 'dmaHandle');
  if (cpu === null) return { cpuAddr: null, dmaHandle: DMA_MAPPING_ERROR };
  if (!isInt(cpu) || cpu < 0) throw new BackendReturnError(call, `cpuAddr ${describeValue(cpu)}`, shape);
  return { cpuAddr: cpu as CpuAddr, dmaHandle: dmaAddr(`${call} (dmaHandle)`, dma) };
}

/** Largest sg table a backend may return, entries. */
export const MAX_SG_ENTRIES = 65536;

function sgtable(v: unknown, call = 'getSgtableAttrs'): { ret: number; sgt: SgTable | null } {
  const shape = '{ ret: 0 or a negative errno, sgt: an sg table or null }';
  if (typeof v !== 'object' || v === null) throw new BackendReturnError(call, describeValue(v), shape);
  const ret = errno(`${call} (ret)`, field(call, v, 'ret'));
  const sgt = field(call, v, 'sgt');
  if (ret !== 0 || sgt === null || sgt === undefined) return { ret, sgt: null };
  if (typeof sgt !== 'object') throw new BackendReturnError(call, `sgt ${describeValue(sgt)}`, shape);
  const sgl = field(call, sgt, 'sgl');
  const orig = field(call, sgt, 'origNents');
  if (!Array.isArray(sgl) || sgl.length > MAX_SG_ENTRIES || !isInt(orig) || orig < 0 || orig > sgl.length) {
    throw new BackendReturnError(call, `sgt ${describeValue(sgt)}`, `an sg table with sgl (at most ${MAX_SG_ENTRIES} entries) and origNents ≤ its length`);
  }
  const entries: Scatterlist[] = [];
  for (let i = 0; i < orig; i++) entries.push(sgEntryOf(call, sgl[i], i));
  return { ret, sgt: { sgl: entries, nents: entries.length, origNents: orig } };
}

function sgEntryOf(call: string, e: unknown, i: number): Scatterlist {
  const shape = 'entries { page: a page frame number, offset and length: integers ≥ 0 }';
  if (typeof e !== 'object' || e === null) throw new BackendReturnError(call, `sgl[${i}] ${describeValue(e)}`, shape);
  const page = field(call, e, 'page');
  const offset = field(call, e, 'offset');
  const length = field(call, e, 'length');
  if (!isInt(page) || page < 0 || !isInt(offset) || offset < 0 || !isInt(length) || length < 0) throw new BackendReturnError(call, `sgl[${i}] ${describeValue(e)}`, shape);
  return { page: page as Pfn, offset, length, dmaAddress: DMA_MAPPING_ERROR, dmaLength: 0 };
}

/** After a successful `dma_map_sg`: every mapped entry carries an integer address and length. */
function mappedSg(sgl: Scatterlist[], count: number): void {
  for (let i = 0; i < count; i++) {
    const e = sgl[i] as Scatterlist;
    dmaAddr(`mapSg (sgl[${i}].dmaAddress)`, e.dmaAddress);
    if (!isInt(e.dmaLength) || e.dmaLength < 0) throw new BackendReturnError(`mapSg (sgl[${i}].dmaLength)`, describeValue(e.dmaLength), 'an integer ≥ 0');
  }
}

function bool(call: string, v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  throw new BackendReturnError(call, describeValue(v), 'true or false');
}

function count(call: string, v: unknown, min: number): number {
  if (isInt(v) && v >= min) return v;
  throw new BackendReturnError(call, describeValue(v), `an integer ≥ ${min}`);
}

/**
 * A backend behind the box: every {@link DmaBackend} call, watched and with
 * its result checked. Calls the backend did not declare are still
 * forwarded (the harness decides what to call); a missing method is an
 * oops (`TypeError`), as calling a NULL op would be.
 */
export class GuardedBackend {
  constructor(
    readonly inner: DmaBackend,
    readonly name: string,
    readonly capabilities: BackendCapabilities,
  ) {}

  attachDevice(dev: string): number {
    return errno('attachDevice', watched('attachDevice', () => this.inner.attachDevice(dev)));
  }
  setMask(dev: string, bits: number): number {
    return errno('setMask', watched('setMask', () => this.inner.setMask(dev, bits)));
  }
  setCoherentMask(dev: string, bits: number): number {
    return errno('setCoherentMask', watched('setCoherentMask', () => this.inner.setCoherentMask(dev, bits)));
  }
  setMaskAndCoherent(dev: string, bits: number): number {
    return errno('setMaskAndCoherent', watched('setMaskAndCoherent', () => this.inner.setMaskAndCoherent(dev, bits)));
  }
  allocAttrs(dev: string, sizeBytes: number, gfp: Gfp, attrs: number): DmaAllocation {
    return allocation(watched('allocAttrs', () => this.inner.allocAttrs(dev, sizeBytes, gfp, attrs)));
  }
  freeAttrs(dev: string, sizeBytes: number, cpuAddr: CpuAddr | null, dmaHandle: DmaAddr, attrs: number): void {
    watched('freeAttrs', () => this.inner.freeAttrs(dev, sizeBytes, cpuAddr, dmaHandle, attrs));
  }
  mmapAttrs(dev: string, vma: VmArea, cpuAddr: CpuAddr, dmaHandle: DmaAddr, sizeBytes: number, attrs: number): number {
    return errno('mmapAttrs', watched('mmapAttrs', () => this.inner.mmapAttrs(dev, vma, cpuAddr, dmaHandle, sizeBytes, attrs)));
  }
  getSgtableAttrs(dev: string, cpuAddr: CpuAddr, dmaHandle: DmaAddr, sizeBytes: number, attrs: number): { ret: number; sgt: SgTable | null } {
    return sgtable(watched('getSgtableAttrs', () => this.inner.getSgtableAttrs(dev, cpuAddr, dmaHandle, sizeBytes, attrs)));
  }
  mapPage(dev: string, page: Pfn, offsetBytes: number, sizeBytes: number, dir: DmaDataDirection, attrs: number): DmaAddr {
    return dmaAddr('mapPage', watched('mapPage', () => this.inner.mapPage(dev, page, offsetBytes, sizeBytes, dir, attrs)));
  }
  unmapPage(dev: string, addr: DmaAddr, sizeBytes: number, dir: DmaDataDirection, attrs: number): void {
    watched('unmapPage', () => this.inner.unmapPage(dev, addr, sizeBytes, dir, attrs));
  }
  mapSingle(dev: string, cpuAddr: CpuAddr, sizeBytes: number, dir: DmaDataDirection, attrs: number): DmaAddr {
    return dmaAddr('mapSingle', watched('mapSingle', () => this.inner.mapSingle(dev, cpuAddr, sizeBytes, dir, attrs)));
  }
  unmapSingle(dev: string, addr: DmaAddr, sizeBytes: number, dir: DmaDataDirection, attrs: number): void {
    watched('unmapSingle', () => this.inner.unmapSingle(dev, addr, sizeBytes, dir, attrs));
  }
  mapSg(dev: string, sgl: Scatterlist[], nents: number, dir: DmaDataDirection, attrs: number): number {
    const r = watched('mapSg', () => this.inner.mapSg(dev, sgl, nents, dir, attrs));
    if (!isInt(r) || r < 0 || r > nents) throw new BackendReturnError('mapSg', describeValue(r), `the number of DMA segments, 0..nents (${nents})`);
    mappedSg(sgl, r);
    return r;
  }
  unmapSg(dev: string, sgl: Scatterlist[], nents: number, dir: DmaDataDirection, attrs: number): void {
    watched('unmapSg', () => this.inner.unmapSg(dev, sgl, nents, dir, attrs));
  }
  syncSingleForCpu(dev: string, addr: DmaAddr, sizeBytes: number, dir: DmaDataDirection): void {
    watched('syncSingleForCpu', () => this.inner.syncSingleForCpu(dev, addr, sizeBytes, dir));
  }
  syncSingleForDevice(dev: string, addr: DmaAddr, sizeBytes: number, dir: DmaDataDirection): void {
    watched('syncSingleForDevice', () => this.inner.syncSingleForDevice(dev, addr, sizeBytes, dir));
  }
  syncSgForCpu(dev: string, sgl: Scatterlist[], nents: number, dir: DmaDataDirection): void {
    watched('syncSgForCpu', () => this.inner.syncSgForCpu(dev, sgl, nents, dir));
  }
  syncSgForDevice(dev: string, sgl: Scatterlist[], nents: number, dir: DmaDataDirection): void {
    watched('syncSgForDevice', () => this.inner.syncSgForDevice(dev, sgl, nents, dir));
  }
  mappingError(dev: string, addr: DmaAddr): number {
    return errno('mappingError', watched('mappingError', () => this.inner.mappingError(dev, addr)));
  }
  maxMappingSize(dev: string): number {
    return count('maxMappingSize', watched('maxMappingSize', () => this.inner.maxMappingSize(dev)), 0);
  }
  getCacheAlignment(dev: string): number {
    return count('getCacheAlignment', watched('getCacheAlignment', () => this.inner.getCacheAlignment(dev)), 1);
  }
  needSync(dev: string, addr: DmaAddr): boolean {
    return bool('needSync', watched('needSync', () => this.inner.needSync(dev, addr)));
  }
  canMmap(dev: string): boolean {
    return bool('canMmap', watched('canMmap', () => this.inner.canMmap(dev)));
  }
  /** The backend's optional method `call`, or a TypeError as a NULL op would oops. */
  private op<K extends keyof DmaBackend>(call: K): NonNullable<DmaBackend[K]> {
    const f = this.inner[call];
    if (typeof f !== 'function') throw new TypeError(`the backend has no ${String(call)}`);
    return (f as (...a: unknown[]) => unknown).bind(this.inner) as NonNullable<DmaBackend[K]>;
  }
  allocPages(dev: string, sizeBytes: number, dir: DmaDataDirection, gfp: Gfp): { page: Pfn | null; dmaHandle: DmaAddr } {
    const r = watched('allocPages', () => this.op('allocPages')(dev, sizeBytes, dir, gfp)) as unknown;
    const shape = '{ page: a page frame number or null, dmaHandle: a DMA address }';
    if (typeof r !== 'object' || r === null) throw new BackendReturnError('allocPages', describeValue(r), shape);
    const page = field('allocPages', r, 'page');
    if (page === null) return { page: null, dmaHandle: DMA_MAPPING_ERROR };
    if (!isInt(page) || page < 0) throw new BackendReturnError('allocPages (page)', describeValue(page), shape);
    return { page: page as Pfn, dmaHandle: dmaAddr('allocPages (dmaHandle)', field('allocPages', r, 'dmaHandle')) };
  }
  freePages(dev: string, sizeBytes: number, page: Pfn, dmaHandle: DmaAddr, dir: DmaDataDirection): void {
    watched('freePages', () => this.op('freePages')(dev, sizeBytes, page, dmaHandle, dir));
  }
  mmapPages(dev: string, vma: VmArea, sizeBytes: number, page: Pfn): number {
    return errno('mmapPages', watched('mmapPages', () => this.op('mmapPages')(dev, vma, sizeBytes, page)));
  }
  allocNoncoherent(dev: string, sizeBytes: number, dir: DmaDataDirection, gfp: Gfp): DmaAllocation {
    return allocation(watched('allocNoncoherent', () => this.op('allocNoncoherent')(dev, sizeBytes, dir, gfp)));
  }
  freeNoncoherent(dev: string, sizeBytes: number, cpuAddr: CpuAddr, dmaHandle: DmaAddr, dir: DmaDataDirection): void {
    watched('freeNoncoherent', () => this.op('freeNoncoherent')(dev, sizeBytes, cpuAddr, dmaHandle, dir));
  }
  allocNoncontiguous(dev: string, sizeBytes: number, dir: DmaDataDirection, gfp: Gfp, attrs: number): SgTable | null {
    const call = 'allocNoncontiguous';
    const r = watched(call, () => this.op('allocNoncontiguous')(dev, sizeBytes, dir, gfp, attrs)) as unknown;
    if (r === null) return null;
    const t = sgtable({ ret: 0, sgt: r }, call).sgt;
    if (t === null || t.origNents < 1) throw new BackendReturnError(call, describeValue(r), 'null or an sg table with at least one entry');
    // The DMA side: nents segments with integer addresses and lengths (dma_alloc_noncontiguous fills them).
    const nents = field(call, r as object, 'nents');
    if (!isInt(nents) || nents < 1 || nents > t.origNents) throw new BackendReturnError(`${call} (nents)`, describeValue(nents), `1..origNents (${t.origNents})`);
    const raw = field(call, r as object, 'sgl') as unknown[];
    for (let i = 0; i < nents; i++) {
      const e = raw[i] as object;
      dmaAddr(`${call} (sgl[${i}].dmaAddress)`, field(call, e, 'dmaAddress'));
      const len = field(call, e, 'dmaLength');
      if (!isInt(len) || len < 0) throw new BackendReturnError(`${call} (sgl[${i}].dmaLength)`, describeValue(len), 'an integer ≥ 0');
    }
    // Checked: hand back the backend's own object, which it may know by identity.
    return r as SgTable;
  }
  freeNoncontiguous(dev: string, sizeBytes: number, sgt: SgTable, dir: DmaDataDirection): void {
    watched('freeNoncontiguous', () => this.op('freeNoncontiguous')(dev, sizeBytes, sgt, dir));
  }
  vmapNoncontiguous(dev: string, sizeBytes: number, sgt: SgTable): CpuAddr | null {
    const r = watched('vmapNoncontiguous', () => this.op('vmapNoncontiguous')(dev, sizeBytes, sgt)) as unknown;
    if (r === null) return null;
    if (!isInt(r) || r < 0) throw new BackendReturnError('vmapNoncontiguous', describeValue(r), 'a kernel virtual address (an integer ≥ 0) or null');
    return r as CpuAddr;
  }
  vunmapNoncontiguous(dev: string, cpuAddr: CpuAddr): void {
    watched('vunmapNoncontiguous', () => this.op('vunmapNoncontiguous')(dev, cpuAddr));
  }
  mmapNoncontiguous(dev: string, vma: VmArea, sizeBytes: number, sgt: SgTable): number {
    return errno('mmapNoncontiguous', watched('mmapNoncontiguous', () => this.op('mmapNoncontiguous')(dev, vma, sizeBytes, sgt)));
  }
  mapResource(dev: string, physAddr: number, sizeBytes: number, dir: DmaDataDirection, attrs: number): DmaAddr {
    return dmaAddr('mapResource', watched('mapResource', () => this.op('mapResource')(dev, physAddr, sizeBytes, dir, attrs)));
  }
  unmapResource(dev: string, addr: DmaAddr, sizeBytes: number, dir: DmaDataDirection, attrs: number): void {
    watched('unmapResource', () => this.op('unmapResource')(dev, addr, sizeBytes, dir, attrs));
  }
  getRequiredMask(dev: string): number {
    return count('getRequiredMask', watched('getRequiredMask', () => this.op('getRequiredMask')(dev)), 0);
  }
  addressingLimited(dev: string): boolean {
    return bool('addressingLimited', watched('addressingLimited', () => this.op('addressingLimited')(dev)));
  }
  optMappingSize(dev: string): number {
    return count('optMappingSize', watched('optMappingSize', () => this.op('optMappingSize')(dev)), 0);
  }
  needUnmap(dev: string): boolean {
    return bool('needUnmap', watched('needUnmap', () => this.op('needUnmap')(dev)));
  }
  getMergeBoundary(dev: string): number {
    return count('getMergeBoundary', watched('getMergeBoundary', () => this.op('getMergeBoundary')(dev)), 0);
  }
  /** Undefined when the backend has no `iovaState`. */
  iovaState(dev: string): number | null | undefined {
    const f = this.inner.iovaState;
    if (typeof f !== 'function') return undefined;
    const r = watched('iovaState', () => f.call(this.inner, dev));
    if (r === null) return null;
    if (!isInt(r) || (r as number) < 0) throw new BackendReturnError('iovaState', describeValue(r), 'null or a whole number of bytes ≥ 0');
    return r as number;
  }
  /** Undefined when the backend has no `swiotlbState`. */
  swiotlbState(dev: string): IoTlbMemState | null | undefined {
    const f = this.inner.swiotlbState;
    if (typeof f !== 'function') return undefined;
    const r = watched('swiotlbState', () => f.call(this.inner, dev));
    if (r === null) return null;
    if (typeof r !== 'object' || !isInt(field('swiotlbState', r, 'used')) || !Array.isArray(field('swiotlbState', r, 'pools'))) {
      throw new BackendReturnError('swiotlbState', describeValue(r), 'null or an IoTlbMemState { name, nslabs, used, pools }');
    }
    return r;
  }
}

/**
 * What is wrong with a created backend before any DMA call: a declared call
 * that is not a function, or one written as an `async` function.
 * @returns one line, or null when the backend can be driven
 */
export function backendShapeProblem(b: unknown, caps: BackendCapabilities): string | null {
  if (typeof b !== 'object' || b === null) return `create(env) returned ${describeValue(b)}: accepted is an object implementing DmaBackend`;
  for (const call of new Set<BackendCall>(['attachDevice', 'setMaskAndCoherent', ...caps.calls])) {
    let f: unknown;
    try {
      f = (b as Record<string, unknown>)[call];
    } catch (err) {
      return `reading the backend's \`${call}\` threw (${describeThrown(err)})`;
    }
    if (typeof f !== 'function') return `the backend's \`${call}\` is ${describeValue(f, 40)}: accepted is a function (${caps.calls.includes(call) ? 'the call is declared in capabilities.calls' : 'every backend attaches devices and sets masks'})`;
    const kind = safeName((f as { constructor?: unknown }).constructor);
    if (kind === 'AsyncFunction' || kind === 'AsyncGeneratorFunction') return `${call} is an async function: accepted are synchronous calls only (async backends cannot be driven)`;
  }
  return null;
}
