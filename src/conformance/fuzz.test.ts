import { describe, expect, it } from 'vitest';
import { PROPERTIES } from '../../properties/index.ts';
import { referenceBackend } from '../backend/reference.ts';
import { NOTHING, fuzzProfile } from './fuzz.ts';
import { MISUSES, MISUSE_INFO } from './misuse.ts';
import { runSequence } from './runner.ts';

describe('fuzz: the consequence matrix of misuse', () => {
  const r = fuzzProfile({ profile: 'arm64-soc', backend: referenceBackend, runs: 150, seed: 1, properties: PROPERTIES });

  it('draws every misuse, and dma-debug reports each it is built for, every time (arm64-soc: no cache-line overlap tracking)', () => {
    expect(r.rows.map((x) => x.misuse)).toEqual([...MISUSES]);
    for (const row of r.rows) {
      expect(row.executed).toBeGreaterThan(0);
      // Every report that was due was made (a misuse on memory an earlier one touched is reported too, but not due).
      expect({ misuse: row.misuse, reported: row.debugReported }).toEqual({ misuse: row.misuse, reported: row.debugAsked });
      if (row.debugExpected === null) expect(row.debugAsked).toBe(0);
    }
    // arm64-soc bounces small kmalloc buffers: dma-debug does not track overlapping cache lines there.
    expect(r.rows.find((x) => x.misuse === 'mapTwice')?.debugAsked).toBe(0);
    expect(r.falseReports).toEqual([]);
    expect(r.violations).toEqual([]);
  });

  it('on a non-coherent SoC, a CPU read of a device-owned buffer returns stale data and dma-debug does not notice', () => {
    const row = r.rows.find((x) => x.misuse === 'cpuReadDeviceOwned');
    expect(row?.outcomes['stale CPU read']).toBeGreaterThan(0);
    expect(MISUSE_INFO.cpuReadDeviceOwned.debug).toBeNull();
    // Its example, replayed, shows the consequence at the misuse.
    const ex = row?.examples['stale CPU read'];
    expect(ex).toBeDefined();
    const kinds: string[] = [];
    runSequence(ex?.steps ?? [], { profile: 'arm64-soc', backend: referenceBackend, platformSeed: ex?.platformSeed ?? '', properties: PROPERTIES, observe: (o) => kinds.push(o.kind === 'consequence' ? `consequence:${o.misuse}:${o.observation.kind}` : o.kind) });
    expect(kinds).toContain('consequence:cpuReadDeviceOwned:cpu-read');
    expect(ex?.steps.length).toBeLessThanOrEqual(12);
  });

  it('is the same for the same seed, example traces included', () => {
    const again = fuzzProfile({ profile: 'arm64-soc', backend: referenceBackend, runs: 30, seed: 4, properties: PROPERTIES });
    const twice = fuzzProfile({ profile: 'arm64-soc', backend: referenceBackend, runs: 30, seed: 4, properties: PROPERTIES });
    expect(JSON.stringify(twice)).toBe(JSON.stringify(again));
    for (const row of again.rows) expect(Object.keys(row.outcomes).length).toBeGreaterThan(0);
    expect(again.rows.some((row) => row.outcomes[NOTHING] !== undefined)).toBe(true);
  });
});
