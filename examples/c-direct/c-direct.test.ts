/**
 * The C example backend, built to wasm32 by scripts/build-c.sh, holds every
 * contract check on the four profiles it declares and replays every seed
 * fixture of those profiles clean, and each bug put into it by a macro is
 * found at the property's default budget. Skipped where clang is not
 * installed (npm test does not need it; .ci/run runs it when present).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters as plain } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RUNS, PROPERTIES, checkProperty, getProfile, loadWasmBackend, parseTrace, runSequence, whyNot } from '../../src/index.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const hasClang = spawnSync('clang', ['--version']).status === 0 && spawnSync('wasm-ld', ['--version']).status === 0;
const wasm = (name: string) => join(root, 'build', `${name}.wasm`);

describe.skipIf(!hasClang)('c-direct: a DMA layer written in C, run as a wasm backend', () => {
  beforeAll(() => {
    execFileSync('sh', [join(root, 'scripts', 'build-c.sh')], { cwd: root, stdio: 'pipe' });
  });

  for (const profile of ['x86-64', 'arm64-soc', 'cc-guest', 'armv7-highmem']) {
    it(`holds every contract check on ${profile}: no false positive`, () => {
      const backend = loadWasmBackend(wasm('c-direct'));
      const verdicts = PROPERTIES.map((p) => {
        const why = whyNot(p, { profile: getProfile(profile), capabilities: backend.capabilities });
        if (why !== null) return { property: p.name, verdict: 'n/a', why };
        const r = checkProperty({ property: p, profile, backend, runs: 40, seed: 5 });
        return { property: p.name, verdict: r.verdict, why: r.counterexample?.violations[0]?.message ?? r.counterexample?.oops ?? null };
      });
      expect(verdicts.filter((v) => v.verdict !== 'holds' && v.verdict !== 'n/a')).toEqual([]);
      expect(verdicts.filter((v) => v.verdict === 'holds').length).toBeGreaterThanOrEqual(10);
    });
  }

  const BUGS: [string, string, string, RegExp][] = [
    ['no-copy-back', 'bounce-preserves-data', 'x86-64', /did not get the device write back from the bounce buffer/],
    ['no-invalidate', 'no-stale-cpu-read', 'arm64-soc', /CPU read stale data/],
    ['bounce-short', 'bounce-preserves-data', 'cc-guest', /bounce buffer that does not hold the data the CPU handed over/],
    ['no-zero', 'allocation-contract', 'arm64-soc', /a fresh coherent buffer is not zeroed/],
    ['not-limited', 'addressing-queries-agree', 'x86-64', /addressing_limited/],
  ];
  for (const [bug, property, profile, evidence] of BUGS) {
    it(`BUG_${bug.toUpperCase().replace(/-/g, '_')} is found by ${property} on ${profile}`, () => {
      const p = PROPERTIES.find((x) => x.name === property);
      const r = checkProperty({ property: p as NonNullable<typeof p>, profile, backend: loadWasmBackend(wasm(`c-direct-${bug}`)), runs: p?.runs ?? DEFAULT_RUNS, seed: 1 });
      expect(r.verdict).toBe('violated');
      expect(r.counterexample?.violations[0]?.message).toMatch(evidence);
    });
  }

  it('every seed fixture on a profile it supports replays clean on it: the verdict of an implementation without that bug', () => {
    const backend = loadWasmBackend(wasm('c-direct'));
    const manifest = JSON.parse(readFileSync(join(root, 'fixtures', 'manifest.json'), 'utf8')) as { fixtures: { name: string; profile: string }[] };
    const supported = manifest.fixtures.filter((f) => backend.capabilities.profiles === 'all' || backend.capabilities.profiles.includes(f.profile));
    expect(supported.length).toBeGreaterThanOrEqual(15);
    const verdicts = supported.map((f) => {
      const trace = parseTrace(readFileSync(join(root, 'fixtures', f.name, 'trace.json'), 'utf8'), f.name);
      const out = runSequence(trace.steps, { profile: trace.profile, backend, platformSeed: trace.platformSeed, properties: PROPERTIES });
      return { fixture: f.name, violations: out.violations.map((v) => v.message), halted: out.result.halted };
    });
    expect(verdicts.filter((v) => v.violations.length > 0 || v.halted)).toEqual([]);
  });

  it('runs from the command line through the worker pool', () => {
    const r = spawnSync(process.execPath, ['src/cli/dmacheck.js', 'run', '--backend', wasm('c-direct'), '--profile', 'arm64-soc', '--property', 'no-stale-device-read,no-oops', '--runs', '10', '--out', join(root, '.tmp', 'c-direct-cli')], { cwd: root, encoding: 'utf8' });
    expect({ code: r.status, out: plain(r.stdout + r.stderr) }).toMatchObject({ code: 0, out: expect.stringMatching(/^total: 2 checks, 2 hold, 0 violated/m) });
  });
});
