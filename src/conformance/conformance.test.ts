import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import referenceBackend from '../backend/reference.ts';
import { type Draw, StepsArbitrary, generateSteps, repair, shrinkSteps, validateGeneratorOptions } from './generator.ts';
import { ModelState } from './model.ts';
import { ORIGIN, type ReadObservation, firstMismatch } from './oracle.ts';
import { Session } from './session.ts';
import { type Step, formatStep, patternBytes, renumber } from './steps.ts';
import { TraceError, makeTrace, parseTrace, serializeTrace } from './trace.ts';
import { Prng } from '../platform/prng.ts';

const DEVICES = ['gpu0', 'vpu0', 'pcie0'];
const draw = (seed: string): Draw => {
  const p = new Prng(seed);
  return { int: (min, max) => min + p.below(max - min + 1) };
};

function allLegal(steps: readonly Step[]): boolean {
  const s = new ModelState(DEVICES);
  for (const step of steps) {
    if (s.check(step) !== null) return false;
    s.apply(step);
  }
  return true;
}

describe('symbolic model', () => {
  const s = new ModelState(DEVICES);
  const run = (steps: Step[]) => steps.map((st) => {
    const r = s.check(st);
    if (r === null) s.apply(st);
    return r;
  });

  it('names the rule an illegal step breaks', () => {
    expect(run([
      { op: 'kmalloc', id: 'k1', size: 256, gfp: 'GFP_KERNEL' },
      { op: 'mapSingle', id: 'm1', ref: 'k1', dev: 'gpu0', dir: 'DMA_FROM_DEVICE' },
      { op: 'cpuRead', ref: 'k1', offset: 0, size: 8 },
      { op: 'deviceWrite', ref: 'm1', offset: 0, size: 8, pattern: 1 },
      { op: 'syncForCpu', ref: 'm1', offset: 0, size: 128 },
      { op: 'cpuWrite', ref: 'k1', offset: 0, size: 8, pattern: 2 },
      { op: 'deviceRead', ref: 'm1', offset: 0, size: 8 },
      { op: 'kfree', ref: 'k1' },
      { op: 'syncForCpu', ref: 'm1', offset: 0, size: 128 },
      { op: 'mapSingle', id: 'm2', ref: 'k1', dev: 'gpu0', dir: 'DMA_TO_DEVICE' },
      { op: 'setContext', context: 'atomic' },
      { op: 'alloc', id: 'b1', dev: 'gpu0', size: 4096, gfp: 'GFP_KERNEL', attrs: [] },
      { op: 'unmapSingle', ref: 'm1' },
      { op: 'cpuRead', ref: 'b9', offset: 0, size: 1 },
    ])).toEqual([null, null, 'R35', null, null, 'R30', 'R28', 'R39', null /* taking back again what the CPU owns unwritten is harmless */, 'R8', null, 'R19', null, 'no-such-object']);
  });

  it('a CPU write while the CPU owns a mapping must be handed back before unmap (R36)', () => {
    const m = new ModelState(DEVICES);
    const steps: Step[] = [
      { op: 'allocPages', id: 'p1', order: 0, gfp: 'GFP_KERNEL', highmem: false },
      { op: 'mapPage', id: 'm1', ref: 'p1', dev: 'gpu0', offset: 0, size: 4096, dir: 'DMA_BIDIRECTIONAL' },
      { op: 'syncForCpu', ref: 'm1', offset: 0, size: 4096 },
      { op: 'cpuWrite', ref: 'p1', offset: 0, size: 64, pattern: 3 },
    ];
    for (const st of steps) m.apply(st);
    expect(m.check({ op: 'unmapSingle', ref: 'm1' })).toBe('R36');
    m.apply({ op: 'syncForDevice', ref: 'm1', offset: 0, size: 4096 });
    expect(m.check({ op: 'unmapSingle', ref: 'm1' })).toBeNull();
  });

  it('coherent stores must be ordered before the device looks (R18)', () => {
    const m = new ModelState(DEVICES);
    m.apply({ op: 'alloc', id: 'b1', dev: 'gpu0', size: 4096, gfp: 'GFP_KERNEL', attrs: [] });
    expect(m.check({ op: 'deviceRead', ref: 'b1', offset: 0, size: 8 })).toBe('R18');
    m.apply({ op: 'dmaWmb' });
    expect(m.check({ op: 'deviceRead', ref: 'b1', offset: 0, size: 8 })).toBeNull();
  });
});

describe('generator', () => {
  it('draws only legal sequences, the same for the same seed', () => {
    for (const seed of ['a', 'b', 'c', 'd']) {
      const one = generateSteps({ devices: DEVICES }, draw(seed), 100);
      expect(one.length).toBeGreaterThan(50);
      expect(allLegal(one)).toBe(true);
      expect(generateSteps({ devices: DEVICES }, draw(seed), 100)).toEqual(one);
    }
  });

  it('honours weights: a zero weight is never drawn', () => {
    const steps = generateSteps({ devices: DEVICES, weights: { deviceWrite: 0, alloc: 0 } }, draw('w'), 100);
    expect(steps.some((s) => s.op === 'deviceWrite' || s.op === 'alloc')).toBe(false);
  });

  it('every shrink candidate is shorter or simpler, and legal', () => {
    const steps = generateSteps({ devices: DEVICES }, draw('shrink'), 60);
    let n = 0;
    for (const cand of shrinkSteps(DEVICES, steps)) {
      expect(allLegal(cand)).toBe(true);
      expect(cand.length).toBeLessThanOrEqual(steps.length);
      if (++n > 200) break;
    }
    expect(n).toBeGreaterThan(10);
  });

  it('repair drops a creating step\'s uses with it', () => {
    const steps: Step[] = [
      { op: 'kmalloc', id: 'k1', size: 64, gfp: 'GFP_KERNEL' },
      { op: 'mapSingle', id: 'm1', ref: 'k1', dev: 'gpu0', dir: 'DMA_TO_DEVICE' },
      { op: 'deviceRead', ref: 'm1', offset: 0, size: 8 },
      { op: 'dmaWmb' },
    ];
    expect(repair(DEVICES, steps.slice(1))).toEqual([{ op: 'dmaWmb' }]);
  });

  it('rejects bad options with the value and what is accepted', () => {
    expect(validateGeneratorOptions({ devices: [], maxSteps: 0, weights: { alloc: -1 } })).toEqual([
      'devices: at least one device is needed',
      'maxSteps=0: a positive integer is accepted',
      'weights.alloc=-1: a known op with a weight >= 0 is accepted',
    ]);
    expect(() => new StepsArbitrary({ devices: [] })).toThrow(/at least one device/);
  });

  it('fast-check replays a failure from its seed and path', () => {
    const arb = new StepsArbitrary({ devices: DEVICES, maxSteps: 40 });
    const prop = fc.property(arb, (steps) => !steps.some((s) => s.op === 'deviceWrite'));
    const first = fc.check(prop, { seed: 42, numRuns: 50 });
    expect(first.failed).toBe(true);
    const again = fc.check(prop, { seed: 42, numRuns: 50, path: first.counterexamplePath ?? '' });
    expect(again.counterexample).toEqual(first.counterexample);
    expect(first.counterexample?.[0].filter((s) => s.op === 'deviceWrite').length).toBe(1);
  });
});

describe('steps and traces', () => {
  const steps: Step[] = [
    { op: 'alloc', id: 'b7', dev: 'gpu0', size: 8192, gfp: 'GFP_KERNEL', attrs: ['DMA_ATTR_NO_KERNEL_MAPPING'] },
    { op: 'mmap', id: 'u3', ref: 'b7' },
    { op: 'kmalloc', id: 'k4', size: 64, gfp: 'GFP_KERNEL' },
    { op: 'mapSg', id: 's2', dev: 'gpu0', segs: [{ ref: 'k4', offset: 0, size: 64 }], dir: 'DMA_TO_DEVICE' },
  ];

  it('prints kernel call syntax', () => {
    expect(formatStep(steps[0] as Step)).toBe('b7 = dma_alloc_attrs(gpu0, 8192, GFP_KERNEL, DMA_ATTR_NO_KERNEL_MAPPING)');
    expect(formatStep(steps[3] as Step)).toBe('s2 = dma_map_sg(gpu0, [k4+0:64], DMA_TO_DEVICE)');
  });

  it('renumbers ids in order of definition', () => {
    expect(renumber(steps).map(formatStep)).toEqual([
      'b1 = dma_alloc_attrs(gpu0, 8192, GFP_KERNEL, DMA_ATTR_NO_KERNEL_MAPPING)',
      'u1 = dma_mmap_attrs(b1)',
      'k1 = kmalloc(64, GFP_KERNEL)',
      's1 = dma_map_sg(gpu0, [k1+0:64], DMA_TO_DEVICE)',
    ]);
  });

  it('patterns are deterministic and differ between patterns', () => {
    expect(patternBytes(5, 16)).toEqual(patternBytes(5, 16));
    const a = patternBytes(5, 64);
    const b = patternBytes(6, 64);
    expect(a.filter((x, i) => x !== b[i]).length).toBeGreaterThan(50);
  });

  it('a trace round-trips through its serialised form', () => {
    const t = makeTrace({ property: 'no-leak', profile: 'arm64-soc', backend: 'reference', fastCheck: { seed: 3, path: '1:2' }, platformSeed: 'x', steps });
    const text = serializeTrace(t);
    expect(parseTrace(text, 't.json')).toEqual(t);
    expect(text).toContain('\n    {"op":"mmap","id":"u3","ref":"b7"},\n');
  });

  it('refuses malformed traces with one line naming the field', () => {
    const good = JSON.parse(serializeTrace(makeTrace({ property: null, profile: 'x86-64', backend: 'reference', fastCheck: { seed: 1, path: '' }, platformSeed: 'p', steps })));
    const bad = (doc: unknown) => {
      try {
        parseTrace(typeof doc === 'string' ? doc : JSON.stringify(doc), 'bad.json');
      } catch (err) {
        expect(err).toBeInstanceOf(TraceError);
        expect((err as Error).message).not.toContain('\n');
        return (err as Error).message;
      }
      return 'accepted';
    };
    expect(bad('{')).toMatch(/^bad\.json: not JSON/);
    expect(bad({ ...good, version: 2 })).toMatch(/^bad\.json: version: /);
    expect(bad({ ...good, steps: [{ op: 'teleport' }] })).toMatch(/^bad\.json: steps\.0\.op: /);
    expect(bad({ ...good, steps: [{ op: 'kmalloc', id: 'k1', size: -1, gfp: 'GFP_KERNEL' }] })).toMatch(/^bad\.json: steps\.0\.size: /);
  });
});

describe('session and oracle', () => {
  it('compares only bytes with a known origin', () => {
    const obs: ReadObservation = {
      kind: 'cpu-read', at: { index: 1, step: null }, ref: 'k1', objKind: 'kmalloc', dev: null, addr: 0x1000, phys: 0x1000, bounced: false, region: null,
      expected: Uint8Array.of(1, 2, 3, 4), origin: Uint8Array.of(ORIGIN.unknown, ORIGIN.cpu, ORIGIN.device, ORIGIN.cpu), seen: Uint8Array.of(9, 2, 7, 8),
    };
    expect(firstMismatch(obs)).toEqual({ offset: 2, count: 2, origin: 'device write', expectedHex: '0304', seenHex: '0708' });
    expect(firstMismatch(obs, (o) => o === ORIGIN.cpu)?.offset).toBe(3);
  });

  it('skips the uses of a failed allocation and tears down what is live without leaking', () => {
    const kinds: string[] = [];
    const s = new Session({ profile: 'armv7-nommu', backend: referenceBackend, platformSeed: 's', sink: (o) => kinds.push(o.kind) });
    const r = s.run([
      // Larger than the 1 MiB global pool: fails.
      { op: 'alloc', id: 'b1', dev: 'dmac0', size: 2 * 1024 * 1024, gfp: 'GFP_KERNEL', attrs: [] },
      { op: 'dmaWmb' },
      { op: 'deviceWrite', ref: 'b1', offset: 0, size: 8, pattern: 1 },
      { op: 'kmalloc', id: 'k1', size: 256, gfp: 'GFP_KERNEL' },
      { op: 'mapSingle', id: 'm1', ref: 'k1', dev: 'dmac0', dir: 'DMA_TO_DEVICE' },
    ]);
    expect(r).toEqual({ executed: 4, skipped: 2, illegal: [], halted: false, oops: null, calls: { alloc: { made: 1, failed: 1 }, allocNc: { made: 0, failed: 0 }, map: { made: 1, failed: 0 } }, coverage: { 'alloc-failed': 1, direct: 1 } });
    expect(kinds).toContain('leak');
  });
});
