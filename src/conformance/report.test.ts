import { stripVTControlCharacters as plain } from 'node:util';
import { describe, expect, it } from 'vitest';
import { renderListing, renderTable, observationNotes } from './report.ts';
import { type Step, STEP_OPS, formatStep } from './steps.ts';
import { generateSteps } from './generator.ts';
import { Prng } from '../platform/prng.ts';

describe('report', () => {
  it('formats every op in kernel call syntax', () => {
    const p = new Prng('fmt');
    const seen = new Map<string, string>();
    for (let i = 0; i < 40 && seen.size < STEP_OPS.length; i++) {
      for (const s of generateSteps({ devices: ['gpu0'], weights: { badCall: 2, cmaPin: 1, runWork: 1, setMask: 2, mmap: 3, userRead: 4, misuse: 3 }, cmaAreas: [{ name: 'reserved', pages: 16 }], deviceBits: { gpu0: 40 }, resources: new Map([['fifo0', { sizeBytes: 4096, users: ['gpu0'] }]]), swarm: false }, { int: (a, b) => a + p.below(b - a + 1) }, 100)) seen.set(s.op, formatStep(s));
    }
    seen.set('platform', formatStep({ op: 'platform', overrides: { swiotlbSlots: 256, devices: { gpu0: { addressBits: 32 } } } }));
    expect(seen.get('platform')).toBe('platform: the profile with swiotlb 256 slots, gpu0 addressBits=32');
    expect([...seen.keys()].sort()).toEqual([...STEP_OPS].sort());
    for (const text of seen.values()) expect(text).toMatch(/^(\w+ = )?[a-z_]+( call)?(\(|:)/);
  });

  it('renders the verdict table with a total line, and a listing with violations under their step', () => {
    const cells = [
      { property: 'no-leak', profile: 'x86-64', runs: 10, steps: 1234, skipped: 0, calls: { alloc: { made: 20, failed: 11 }, allocNc: { made: 0, failed: 0 }, map: { made: 5, failed: 5 } }, coverage: {}, unreached: [], verdict: 'holds' as const, counterexample: null },
      { property: 'no-leak', profile: 'arm64-soc', verdict: 'n/a' as const, reason: 'x' },
    ];
    const table = plain(renderTable(cells, ['no-leak'], ['x86-64', 'arm64-soc']));
    expect(table).toContain('holds 10/1,234 [1]');
    expect(table).toContain('n/a [2]');
    expect(table).toContain('[1] on x86-64 more than half of the dma_alloc_attrs calls failed (counts per cell in the JSON report)\n[2] x\n');
    expect(table).toContain('total: 1 checks, 1 hold, 0 violated, 1 not applicable · 10 runs · 1,234 steps\n');
    const steps: Step[] = [{ op: 'kmalloc', id: 'k1', size: 64, gfp: 'GFP_KERNEL' }, { op: 'kfree', ref: 'k1' }];
    const v = { property: 'no-leak', check: 'accounting-differs', level: 'contract' as const, rules: ['R39' as const], at: { index: 2, step: steps[1] as Step }, message: 'lost [x=1]' };
    const notes = observationNotes();
    notes.observe({ kind: 'mmap', at: { index: 1, step: null }, ref: 'b1', dev: 'gpu0', region: null, ret: 0, populatedPages: 1, expectedPages: 1 });
    const listing = plain(renderListing(steps, [v, { ...v, at: { index: 0, step: null } }], notes.notes));
    expect(listing.split('\n')).toEqual([
      '  1  k1 = kmalloc(64, GFP_KERNEL)',
      expect.stringContaining('ret=0, 1/1 pages mapped'),
      expect.stringContaining('kfree(k1)'),
      expect.stringContaining('✗ no-leak: lost [x=1]'),
      '     (teardown: unmap, munmap and free what is live)',
      expect.stringContaining('✗ no-leak: lost [x=1]'),
    ]);
  });
});
