/**
 * Not a kernel mirror: the differential run of the reference against a real
 * Linux kernel (DESIGN.md "Checking the reference"; the herd7/litmus7
 * pattern). The same driver steps run on the model and, through the
 * `dmacheck_kcheck` module (`kernel-check/dmacheck_kcheck.c`), on Linux
 * booted in QEMU; this file encodes the steps for the module, decodes what
 * the kernel saw, and compares:
 * - **oracle soundness**: every kernel observation lies in the oracle's
 *   allowed set (the data checks of the properties, run on the kernel's
 *   bytes against the model's shadow);
 * - **model fidelity**: where the model's outcome is deterministic, the
 *   kernel's equals it — which calls succeed, the bytes every read sees
 *   (where their origin is known), and the address facts a bounce buffer
 *   must keep (the `min_align_mask` bits, page alignment, the segment
 *   boundary). QEMU models no CPU caches, so cache effects stay the
 *   simulated platform's job.
 *
 * The stream format (little endian): header `DMCK`, version 1, sequence
 * count; per sequence `SEQ1` and its step count; per step the op code, the
 * argument count and 64-bit arguments. The kernel answers per sequence
 * `SEQ1` and the step count, then per step its index, a status (0 ok,
 * 1 failed, 2 skipped), a 64-bit value (an address, a count) and bytes.
 */
import { PROPERTIES } from '../../properties/index.ts';
import type { BackendFactory } from '../backend/backend.ts';
import { REFERENCE_CAPABILITIES } from '../backend/reference.ts';
import { getProfile } from '../platform/profiles.ts';
import { PAGE_SIZE, hex } from '../platform/types.ts';
import { deviceConfig } from './judge.ts';
import { ModelState, teardownSteps } from './model.ts';
import { ORIGIN, ORIGIN_NAMES, type Observation, type ReadObservation } from './oracle.ts';
import { judgeOf } from './property.ts';
import type { StepWeights } from './generator.ts';
import { Session } from './session.ts';
import { GFP_FLAGS, type GfpFlagName, type MapAttrName, type Step, attrsValue, definedId } from './steps.ts';

/** The devices of the module, in its order (`kc_devs`), by their names in the `qemu-x86-64` profile. */
export const KERNEL_CHECK_DEVICES = ['nvme0', 'virtio0', 'nic0'] as const;

/** The steps the module executes; the others (user mappings, cache events, context, CMA) have no kernel counterpart here. */
export const KERNEL_CHECK_WEIGHTS: StepWeights = {
  mmap: 0, munmap: 0, getSgtable: 0, cpuWriteNeighbour: 0, userRead: 0, setContext: 0, speculativeFill: 0, evict: 0, wcDrain: 0, cmaPin: 0, runWork: 0, badCall: 0,
  alloc: 4, free: 2, kmalloc: 6, kfree: 2, allocPages: 4, freePages: 2, mapSingle: 6, mapPage: 5, mapSg: 3, unmapSingle: 3, unmapSg: 2,
  syncForCpu: 7, syncForDevice: 5, cpuWrite: 8, cpuRead: 8, deviceWrite: 8, deviceRead: 6, dmaWmb: 1, setMask: 1,
  // Not in the kernel module's vocabulary yet: the non-coherent allocators, resources and the queries.
  allocNc: 0, freeNc: 0, mapResource: 0, unmapResource: 0, queryAddressing: 0,
};

const OP = {
  kmalloc: 1, kfree: 2, allocPages: 3, freePages: 4, alloc: 5, free: 6, mapSingle: 7, mapPage: 8, mapSg: 9, unmap: 10,
  syncForCpu: 11, syncForDevice: 12, cpuWrite: 13, cpuRead: 14, deviceWrite: 15, deviceRead: 16, dmaWmb: 17, setMask: 18,
} as const;

/** A step's gfp modifiers as the module reads them: bit i for `GFP_FLAGS[i]`. */
function flagBits(flags: readonly GfpFlagName[] | undefined): number {
  return (flags ?? []).reduce((n, f) => n | (1 << GFP_FLAGS.indexOf(f)), 0);
}

const MAGIC = 0x4b434d44;
const SEQ = 0x31514553;
const DIR = { DMA_BIDIRECTIONAL: 0, DMA_TO_DEVICE: 1, DMA_FROM_DEVICE: 2 } as const;

/** The steps a sequence runs on both sides: the driver's, then the teardown a legal driver does (the session's own teardown then finds nothing left). */
export function withTeardown(steps: readonly Step[], devices: readonly string[]): Step[] {
  const m = new ModelState(devices);
  for (const s of steps) if (m.check(s) === null) m.apply(s);
  return [...steps, ...teardownSteps(m)];
}

/** Encode sequences for the module. @throws Error for a step the module has no counterpart of */
export function encodeSequences(seqs: readonly (readonly Step[])[]): Uint8Array {
  const head: number[] = [MAGIC, 1, seqs.length];
  const chunks: Uint8Array[] = [u32s(head)];
  for (const steps of seqs) {
    const ids = new Map<string, number>();
    let objs = 0;
    let maps = 0;
    const id = (ref: string) => {
      const n = ids.get(ref);
      if (n === undefined) throw new Error(`kernel-check: ${ref} is used before it is defined`);
      return n;
    };
    const dev = (d: string) => {
      const i = (KERNEL_CHECK_DEVICES as readonly string[]).indexOf(d);
      if (i < 0) throw new Error(`kernel-check: device ${d} is not one of the module's (${KERNEL_CHECK_DEVICES.join(', ')})`);
      return i;
    };
    const isObj = (ref: string) => (/^[bkp]\d+$/.test(ref) ? 1 : 0);
    // The session unmaps with the map's hint attributes and SKIP_CPU_SYNC only where the unmap step asks: the module does the same.
    const mapAttrs = new Map<string, number>();
    const mapAttrsOf = (ref: string, attrs: readonly MapAttrName[] | undefined) => ((mapAttrs.get(ref) ?? 0) & ~attrsValue(['DMA_ATTR_SKIP_CPU_SYNC'])) | attrsValue(attrs ?? []);
    const body: Uint8Array[] = [];
    for (const s of steps) {
      const d = definedId(s);
      if (d !== null) ids.set(d, /^[ms]\d+$/.test(d) ? maps++ : objs++);
      if ((s.op === 'mapSingle' || s.op === 'mapPage' || s.op === 'mapSg') && s.attrs !== undefined) mapAttrs.set(s.id, attrsValue(s.attrs));
      let op: number;
      let args: number[];
      switch (s.op) {
        case 'kmalloc': [op, args] = [OP.kmalloc, [id(s.id), s.size, flagBits(s.flags)]]; break;
        case 'kfree': [op, args] = [OP.kfree, [id(s.ref)]]; break;
        case 'allocPages': [op, args] = [OP.allocPages, [id(s.id), s.order, flagBits(s.flags)]]; break;
        case 'freePages': [op, args] = [OP.freePages, [id(s.ref)]]; break;
        case 'alloc': [op, args] = [OP.alloc, [id(s.id), dev(s.dev), s.size, s.gfp === 'GFP_KERNEL' ? 0 : 1, flagBits(s.flags)]]; break;
        case 'free': [op, args] = [OP.free, [id(s.ref)]]; break;
        case 'mapSingle': [op, args] = [OP.mapSingle, [id(s.id), dev(s.dev), id(s.ref), DIR[s.dir], attrsValue(s.attrs ?? [])]]; break;
        case 'mapPage': [op, args] = [OP.mapPage, [id(s.id), dev(s.dev), id(s.ref), s.offset, s.size, DIR[s.dir], attrsValue(s.attrs ?? [])]]; break;
        case 'mapSg': [op, args] = [OP.mapSg, [id(s.id), dev(s.dev), DIR[s.dir], s.segs.length, ...s.segs.flatMap((g) => [id(g.ref), g.offset, g.size]), attrsValue(s.attrs ?? [])]]; break;
        case 'unmapSingle':
        case 'unmapSg': [op, args] = [OP.unmap, [id(s.ref), mapAttrsOf(s.ref, s.attrs)]]; break;
        case 'setMask': [op, args] = [OP.setMask, [dev(s.dev), s.which === 'mask' ? 0 : s.which === 'coherent' ? 1 : 2, s.bits]]; break;
        case 'syncForCpu': [op, args] = [OP.syncForCpu, [id(s.ref), s.offset, s.size]]; break;
        case 'syncForDevice': [op, args] = [OP.syncForDevice, [id(s.ref), s.offset, s.size]]; break;
        case 'cpuWrite': [op, args] = [OP.cpuWrite, [id(s.ref), s.offset, s.size, s.pattern]]; break;
        case 'cpuRead': [op, args] = [OP.cpuRead, [id(s.ref), s.offset, s.size]]; break;
        case 'deviceWrite': [op, args] = [OP.deviceWrite, [id(s.ref), s.offset, s.size, s.pattern, isObj(s.ref)]]; break;
        case 'deviceRead': [op, args] = [OP.deviceRead, [id(s.ref), s.offset, s.size, isObj(s.ref)]]; break;
        case 'dmaWmb': [op, args] = [OP.dmaWmb, []]; break;
        default:
          throw new Error(`kernel-check: step ${s.op} has no kernel counterpart in the module`);
      }
      body.push(u32s([op, args.length]), u64s(args));
    }
    chunks.push(u32s([SEQ, steps.length]), ...body);
  }
  return concat(chunks);
}

function u32s(xs: readonly number[]): Uint8Array {
  const b = new Uint8Array(4 * xs.length);
  const v = new DataView(b.buffer);
  xs.forEach((x, i) => v.setUint32(4 * i, x, true));
  return b;
}

function u64s(xs: readonly number[]): Uint8Array {
  const b = new Uint8Array(8 * xs.length);
  const v = new DataView(b.buffer);
  xs.forEach((x, i) => v.setBigUint64(8 * i, BigInt(x), true));
  return b;
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** What the kernel did at one step. */
export interface KernelRecord {
  /** 1-based step index. */
  readonly index: number;
  readonly status: 'ok' | 'failed' | 'skipped';
  /** An address (kmalloc/page phys, DMA handle or address) or a count (mapped sg segments). */
  readonly value: number;
  /** Bytes a read saw; for a mapped sg list, its segments as (u64 address, u64 length) pairs. */
  readonly data: Uint8Array;
}

/**
 * Decode the module's answer. @returns one list of records per sequence, in order
 * @throws Error when the answer is cut short or malformed (the guest crashed, say)
 */
export function decodeResults(buf: Uint8Array): KernelRecord[][] {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: KernelRecord[][] = [];
  let at = 0;
  const need = (n: number) => {
    if (at + n > buf.length) throw new Error(`kernel-check: the kernel's answer ends early (at byte ${at} of ${buf.length})`);
  };
  while (at < buf.length) {
    need(8);
    if (v.getUint32(at, true) !== SEQ) throw new Error(`kernel-check: malformed answer at byte ${at}`);
    const n = v.getUint32(at + 4, true);
    at += 8;
    const recs: KernelRecord[] = [];
    for (let i = 0; i < n; i++) {
      need(20);
      const index = v.getUint32(at, true);
      const st = v.getUint32(at + 4, true);
      const value = Number(v.getBigUint64(at + 8, true));
      const len = v.getUint32(at + 16, true);
      at += 20;
      need(len);
      const data = buf.slice(at, at + len);
      at += (len + 3) & ~3;
      recs.push({ index, status: st === 0 ? 'ok' : st === 1 ? 'failed' : 'skipped', value, data });
    }
    out.push(recs);
  }
  return out;
}

/** A place where the kernel and the model (or the oracle) disagree. */
export interface Disagreement {
  readonly kind: 'soundness' | 'fidelity';
  /** 1-based step index. */
  readonly step: number;
  /** One line with both sides, bracketed evidence. */
  readonly message: string;
}

/**
 * A property the kernel breaks where the model, run with the same kernel
 * history knobs, breaks it too: a known bug of that kernel release (fixed
 * later), not a fault of the oracle.
 */
export interface KnownBreach {
  readonly step: number;
  /** `property/check`. */
  readonly check: string;
  readonly message: string;
}

/** The comparison of one sequence. */
export interface SequenceComparison {
  /** Observations compared (call results, reads, address facts). */
  readonly compared: number;
  readonly disagreements: readonly Disagreement[];
  readonly known: readonly KnownBreach[];
}

/** Run `steps` on the model and keep what it showed, by step. */
function modelRun(steps: readonly Step[], profile: string, backend: BackendFactory, platformSeed: string): Map<number, Observation[]> {
  const byStep = new Map<number, Observation[]>();
  const s = new Session({ profile, backend, platformSeed, sink: (o) => byStep.set(o.at.index, [...(byStep.get(o.at.index) ?? []), o]) });
  s.run(steps);
  s.dispose();
  return byStep;
}

/** The data checks that judge a read, for the soundness of kernel bytes. */
const DATA_JUDGES = (profile: string) =>
  PROPERTIES.filter((p) => ['no-stale-cpu-read', 'no-stale-device-read', 'coherent-buffer-agrees', 'bounce-preserves-data', 'allocation-contract'].includes(p.name)).map((p) =>
    judgeOf(p, { profile: getProfile(profile), capabilities: REFERENCE_CAPABILITIES }),
  );

/** Address facts of a bounce segment a backend must keep, as text: equal on both sides where the model is faithful. */
function addressFacts(profile: string, dev: string, dma: number, orig: number, len: number): string {
  const cfg = deviceConfig(getProfile(profile), dev);
  const m = cfg.minAlignMask;
  const kept = ((dma ^ orig) & m) === 0;
  const pageAligned = m !== 0 || len < PAGE_SIZE || dma % PAGE_SIZE === 0;
  const b = cfg.segmentBoundaryMask;
  const within = Math.floor(dma / (b + 1)) === Math.floor((dma + len - 1) / (b + 1));
  return `[min_align_bits_kept=${kept}] [page_aligned=${pageAligned}] [within_segment_boundary=${within}]`;
}

/**
 * Compare one sequence: the kernel's records against the model run of the
 * same steps on `profile` (the steps must already include their teardown).
 */
export function compareSequence(steps: readonly Step[], kernel: readonly KernelRecord[], o: { profile: string; backend: BackendFactory; platformSeed: string }): SequenceComparison {
  const model = modelRun(steps, o.profile, o.backend, o.platformSeed);
  const judges = DATA_JUDGES(o.profile);
  const out: Disagreement[] = [];
  const known: KnownBreach[] = [];
  let compared = 0;
  const rec = new Map(kernel.map((r) => [r.index, r]));
  const kPhys = new Map<string, number>();
  steps.forEach((s, k) => {
    const i = k + 1;
    const r = rec.get(i);
    const obs = model.get(i) ?? [];
    if (r === undefined) {
      out.push({ kind: 'fidelity', step: i, message: `the kernel did not answer step ${i}` });
      return;
    }
    if (s.op === 'kmalloc' || s.op === 'allocPages') {
      if (r.status === 'ok') kPhys.set(s.id, r.value);
      return;
    }
    if (s.op === 'alloc' || s.op === 'mapSingle' || s.op === 'mapPage' || s.op === 'mapSg') {
      const modelOk = s.op === 'alloc' ? obs.some((x) => x.kind === 'alloc' && x.ok) : obs.some((x) => x.kind === 'dma-address');
      const kernelOk = r.status === 'ok';
      compared++;
      if (modelOk !== kernelOk) out.push({ kind: 'fidelity', step: i, message: `${s.op} ${kernelOk ? 'succeeded' : 'failed'} on the kernel but ${modelOk ? 'succeeded' : 'failed'} on the model [kernel_status=${r.status}]` });
      if (!kernelOk || !modelOk || s.op === 'alloc') return;
      // Address facts of each bounce segment: the kernel's against the model's.
      const kSegs = s.op === 'mapSg' ? sgSegments(r.data) : [{ dma: r.value, len: s.op === 'mapPage' ? s.size : 0 }];
      const mSegs = obs.filter((x): x is Extract<Observation, { kind: 'bounce' }> => x.kind === 'bounce');
      const origs = s.op === 'mapSg' ? s.segs.map((g) => (kPhys.get(g.ref) ?? NaN) + g.offset) : [(kPhys.get(s.ref) ?? NaN) + (s.op === 'mapPage' ? s.offset : 0)];
      kSegs.forEach((seg, j) => {
        const m = mSegs[j];
        const orig = origs[j];
        if (m === undefined || orig === undefined || Number.isNaN(orig)) return;
        const len = seg.len === 0 ? m.sizeBytes : seg.len;
        const kf = addressFacts(o.profile, s.dev, seg.dma, orig, len);
        const mf = addressFacts(o.profile, s.dev, m.dma, m.origPhys, m.sizeBytes);
        compared++;
        if (kf !== mf) out.push({ kind: 'fidelity', step: i, message: `bounce address facts differ [segment=${j}] kernel ${kf} [dma=${hex(seg.dma)}] [orig=${hex(orig)}] model ${mf} [dma=${hex(m.dma)}] [orig=${hex(m.origPhys)}]` });
      });
      return;
    }
    if (s.op === 'cpuRead' || s.op === 'deviceRead') {
      const read = obs.find((x): x is ReadObservation => x.kind === 'cpu-read' || x.kind === 'device-read');
      if (r.status !== 'ok' || read === undefined) {
        if ((r.status === 'ok') !== (read !== undefined)) out.push({ kind: 'fidelity', step: i, message: `${s.op} ${r.status === 'ok' ? 'ran' : 'did not run'} on the kernel but ${read === undefined ? 'did not run' : 'ran'} on the model [kernel_status=${r.status}]` });
        return;
      }
      compared++;
      const kernelRead: ReadObservation = { ...read, seen: r.data };
      const modelBreaks = new Set(judges.flatMap((judge) => judge(read)).map((v) => `${v.property}/${v.check}`));
      for (const judge of judges) {
        for (const v of judge(kernelRead)) {
          const id = `${v.property}/${v.check}`;
          if (modelBreaks.has(id)) known.push({ step: i, check: id, message: v.message });
          else out.push({ kind: 'soundness', step: i, message: `the kernel's ${s.op} breaks ${id}: ${v.message}` });
        }
      }
      const m = firstDifference(read, r.data);
      if (m !== null) out.push({ kind: 'fidelity', step: i, message: `${s.op} saw other bytes on the kernel than on the model ${m}` });
    }
  });
  return { compared, disagreements: out, known };
}

/** The (address, length) pairs of a mapped sg list's record. */
function sgSegments(data: Uint8Array): { dma: number; len: number }[] {
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out = [];
  for (let at = 0; at + 16 <= data.length; at += 16) out.push({ dma: Number(v.getBigUint64(at, true)), len: Number(v.getBigUint64(at + 8, true)) });
  return out;
}

/**
 * Where the kernel's read and the model's disagree about which bytes are
 * what the oracle expects, among bytes of known origin, word by word (8
 * bytes from the start of the read): one side saw the expected word and the
 * other did not. Words both sides got wrong are not compared: they hold
 * whatever the memory held before (the model's garbage pattern, the guest's
 * zeroes), which neither side determines; whole words keep a garbage byte
 * that equals the expected one by chance from counting as a match.
 * @returns the evidence, or null when they agree
 */
function firstDifference(model: ReadObservation, kernel: Uint8Array): string | null {
  const { expected, origin, seen } = model;
  let first = -1;
  let count = 0;
  for (let w = 0; w < expected.length; w += 8) {
    const end = Math.min(w + 8, expected.length);
    let known = true;
    let modelOk = true;
    let kernelOk = true;
    for (let j = w; j < end; j++) {
      if (origin[j] === ORIGIN.unknown) known = false;
      if (seen[j] !== expected[j]) modelOk = false;
      if (kernel[j] !== expected[j]) kernelOk = false;
    }
    if (known && modelOk !== kernelOk) {
      if (first < 0) first = w;
      count += end - w;
    }
  }
  if (first < 0) return null;
  const hex8 = (b: Uint8Array) => Array.from(b.subarray(first, first + 8), (x) => x.toString(16).padStart(2, '0')).join('');
  return `[ref=${model.ref}] [offset=${first}] [bytes_differing=${count}/${kernel.length}] [kernel=${hex8(kernel)}] [model=${hex8(seen)}] [expected=${hex8(expected)}] [written_by=${ORIGIN_NAMES[origin[first] as number]}]`;
}
