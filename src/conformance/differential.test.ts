import { describe, expect, it } from 'vitest';
import referenceBackend from '../backend/reference.ts';
import { QEMU_X86_64, profileNames, registerProfile } from '../platform/profiles.ts';
import { KERNEL_CHECK_DEVICES, type KernelRecord, compareSequence, decodeResults, encodeSequences, withTeardown } from './differential.ts';
import { type Step, patternBytes } from './steps.ts';

if (!profileNames().includes(QEMU_X86_64.name)) registerProfile(QEMU_X86_64);

/** The module's answer format, written here independently of the decoder. */
function answer(seqs: readonly (readonly KernelRecord[])[]): Uint8Array {
  const parts: number[] = [];
  const u32 = (x: number) => parts.push(x & 0xff, (x >>> 8) & 0xff, (x >>> 16) & 0xff, (x >>> 24) & 0xff);
  for (const recs of seqs) {
    u32(0x31514553);
    u32(recs.length);
    for (const r of recs) {
      u32(r.index);
      u32(r.status === 'ok' ? 0 : r.status === 'failed' ? 1 : 2);
      u32(r.value % 2 ** 32);
      u32(Math.floor(r.value / 2 ** 32));
      u32(r.data.length);
      parts.push(...r.data);
      while (parts.length % 4 !== 0) parts.push(0);
    }
  }
  return Uint8Array.from(parts);
}

const SEQ: Step[] = [
  { op: 'kmalloc', id: 'k1', size: 256, gfp: 'GFP_KERNEL' },
  { op: 'cpuWrite', ref: 'k1', offset: 0, size: 64, pattern: 5 },
  { op: 'mapSingle', id: 'm1', ref: 'k1', dev: 'nvme0', dir: 'DMA_TO_DEVICE' },
  { op: 'deviceRead', ref: 'm1', offset: 0, size: 64 },
];
const KMALLOC_PHYS = 0x0123_4540;
const SLOT = 0x7bf0_0000;

/** What a faithful kernel answers for SEQ plus its teardown. */
function kernelOf(steps: readonly Step[], over: Partial<Record<number, Partial<KernelRecord>>> = {}): KernelRecord[] {
  return steps.map((s, k) => {
    const base: KernelRecord = {
      index: k + 1,
      status: 'ok',
      value: s.op === 'kmalloc' ? KMALLOC_PHYS : s.op === 'mapSingle' ? SLOT + (KMALLOC_PHYS & 0xfff) : 0,
      data: s.op === 'deviceRead' ? patternBytes(5, 64) : new Uint8Array(0),
    };
    return { ...base, ...over[k + 1] };
  });
}

const opts = { profile: QEMU_X86_64.name, backend: referenceBackend, platformSeed: 'differential-test' };

describe('differential run against a kernel (no QEMU)', () => {
  it('appends the teardown a legal driver does, so both sides make the same calls', () => {
    const full = withTeardown(SEQ, KERNEL_CHECK_DEVICES);
    expect(full.slice(SEQ.length)).toEqual([{ op: 'unmapSingle', ref: 'm1' }, { op: 'kfree', ref: 'k1' }]);
  });

  it('encodes steps for the module: header, sequence marker, op codes and 64-bit arguments', () => {
    const b = encodeSequences([withTeardown(SEQ, KERNEL_CHECK_DEVICES)]);
    const v = new DataView(b.buffer);
    expect([v.getUint32(0, true), v.getUint32(4, true), v.getUint32(8, true)]).toEqual([0x4b434d44, 1, 1]);
    expect([v.getUint32(12, true), v.getUint32(16, true)]).toEqual([0x31514553, 6]);
    // kmalloc(id 0, 256, no gfp modifiers): op 1, three arguments
    expect([v.getUint32(20, true), v.getUint32(24, true), Number(v.getBigUint64(28, true)), Number(v.getBigUint64(36, true)), Number(v.getBigUint64(44, true))]).toEqual([1, 3, 0, 256, 0]);
  });

  it('refuses steps the module cannot run, naming them', () => {
    expect(() => encodeSequences([[{ op: 'mmap', id: 'u1', ref: 'b1' }]])).toThrow(/mmap has no kernel counterpart/);
    expect(() => encodeSequences([[{ op: 'kfree', ref: 'k9' }]])).toThrow(/k9 is used before it is defined/);
    expect(() => encodeSequences([[{ op: 'alloc', id: 'b1', dev: 'gpu0', size: 4096, gfp: 'GFP_KERNEL', attrs: [] }]])).toThrow(/device gpu0 is not one of the module's/);
  });

  it('decodes the answer and refuses one cut short', () => {
    const recs = kernelOf(withTeardown(SEQ, KERNEL_CHECK_DEVICES));
    const bytes = answer([recs, recs.slice(0, 2)]);
    const back = decodeResults(bytes);
    expect(back).toHaveLength(2);
    expect(back[0]?.map((r) => [r.index, r.status, r.value])).toEqual(recs.map((r) => [r.index, r.status, r.value]));
    expect(Array.from(back[0]?.[3]?.data ?? [])).toEqual(Array.from(patternBytes(5, 64)));
    expect(() => decodeResults(bytes.subarray(0, bytes.length - 3))).toThrow(/ends early/);
  });

  it('agrees with a faithful kernel and compares calls, address facts and bytes', () => {
    const steps = withTeardown(SEQ, KERNEL_CHECK_DEVICES);
    const c = compareSequence(steps, kernelOf(steps), opts);
    expect(c.disagreements).toEqual([]);
    expect(c.compared).toBeGreaterThanOrEqual(3);
  });

  it('reports a call that fails on one side only (fidelity)', () => {
    const steps = withTeardown(SEQ, KERNEL_CHECK_DEVICES);
    const c = compareSequence(steps, kernelOf(steps, { 3: { status: 'failed', value: 0 }, 4: { status: 'skipped', data: new Uint8Array(0) } }), opts);
    expect(c.disagreements[0]).toMatchObject({ kind: 'fidelity', step: 3 });
    expect(c.disagreements[0]?.message).toMatch(/mapSingle failed on the kernel but succeeded on the model/);
  });

  it('reports a bounce slot that loses the min_align_mask bits (fidelity)', () => {
    const steps = withTeardown(SEQ, KERNEL_CHECK_DEVICES);
    const c = compareSequence(steps, kernelOf(steps, { 3: { value: SLOT } }), opts);
    expect(c.disagreements.map((d) => d.message).join('\n')).toMatch(/bounce address facts differ .*kernel \[min_align_bits_kept=false\].*model \[min_align_bits_kept=true\]/);
  });

  it('judges the kernel\'s bytes with the oracle: a stale device read is a soundness disagreement', () => {
    const steps = withTeardown(SEQ, KERNEL_CHECK_DEVICES);
    const c = compareSequence(steps, kernelOf(steps, { 4: { data: new Uint8Array(64) } }), opts);
    const kinds = c.disagreements.filter((d) => d.step === 4).map((d) => d.kind);
    expect(kinds).toContain('soundness');
    expect(kinds).toContain('fidelity');
    expect(c.disagreements.find((d) => d.kind === 'fidelity' && d.step === 4)?.message).toMatch(/\[kernel=00.*\] \[model=/);
  });

  it('reports a step the kernel never answered', () => {
    const steps = withTeardown(SEQ, KERNEL_CHECK_DEVICES);
    const c = compareSequence(steps, kernelOf(steps).slice(0, 4), opts);
    expect(c.disagreements.map((d) => d.message)).toContain('the kernel did not answer step 5');
  });
});

describe('kernel history (src/backend/history.ts)', () => {
  it('replays the behaviours a release predates, and none for mainline', async () => {
    const { historyOf, referenceAsOf, kernelVersion } = await import('../backend/history.ts');
    expect(kernelVersion('6.1.0-57-cloud-amd64')).toEqual([6, 1]);
    expect(historyOf('6.1.0-57-cloud-amd64').map((h) => h.knob)).toEqual(['swiotlbBounceBeforeStartRefused']);
    expect(historyOf('5.10.0-30-amd64').map((h) => h.knob)).toEqual(['swiotlbMapTimeCopy=to-device-only', 'swiotlbBounceBeforeStartRefused']);
    expect(historyOf('6.18.2')).toEqual([]);
    expect(referenceAsOf('6.18.2').name).toBe('reference');
    expect(referenceAsOf('6.1.0-57-cloud-amd64').name).toBe('reference as of 6.1 (swiotlbBounceBeforeStartRefused)');
    expect(() => historyOf('next')).toThrow(/has no major.minor/);
  });

  it('a kernel breach the model of that release shows too is a known bug, not an oracle fault', async () => {
    const { referenceAsOf } = await import('../backend/history.ts');
    // v6.1: a partial sync at a negative in-slot offset copies nothing (fixed in v6.9)
    const steps = withTeardown([
      { op: 'allocPages', id: 'p1', order: 1, gfp: 'GFP_KERNEL', highmem: false },
      { op: 'mapPage', id: 'm1', ref: 'p1', dev: 'nvme0', offset: 512, size: 4096, dir: 'DMA_FROM_DEVICE' },
      { op: 'deviceWrite', ref: 'm1', offset: 0, size: 4096, pattern: 9 },
      { op: 'syncForCpu', ref: 'm1', offset: 1536, size: 256 },
      { op: 'cpuRead', ref: 'p1', offset: 2048, size: 256 },
    ], KERNEL_CHECK_DEVICES);
    const stale = new Uint8Array(256); // the guest's page was zero and nothing was copied
    const kernel: KernelRecord[] = steps.map((s, k) => ({
      index: k + 1,
      status: 'ok',
      value: s.op === 'allocPages' ? 0x0140_0000 : s.op === 'mapPage' ? 0x7bf0_0200 : 0,
      data: s.op === 'cpuRead' ? stale : new Uint8Array(0),
    }));
    const old = compareSequence(steps, kernel, { ...opts, backend: referenceAsOf('6.1.0-57-cloud-amd64') });
    expect(old.disagreements).toEqual([]);
    expect(old.known.map((k) => k.check)).toContain('no-stale-cpu-read/stale-read');
    const mainline = compareSequence(steps, kernel, opts);
    expect(mainline.known).toEqual([]);
    expect(mainline.disagreements.map((d) => d.kind)).toEqual(expect.arrayContaining(['soundness', 'fidelity']));
  });
});
