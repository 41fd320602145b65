/**
 * The kernel's own kernel/dma/swiotlb.c, direct.c (and pool.c on cc-guest),
 * from Debian 12's linux-source-6.1, compiled to wasm32 with the shim of
 * kernel-wasm/ and run under the whole suite: every check it is asked holds
 * at each property's default budget on x86-64 and cc-guest, and a glue
 * mutant (swiotlb_bounce's copies one byte short) is caught. Skipped where
 * clang or the kernel source tarball is missing (npm test needs neither;
 * `apt-get install clang lld linux-source-6.1`).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RUNS, PROPERTIES, checkProperty, getProfile, loadWasmBackend, whyNot } from '../src/index.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const hasTools = spawnSync('clang', ['--version']).status === 0 && spawnSync('wasm-ld', ['--version']).status === 0 && existsSync('/usr/src/linux-source-6.1.tar.xz');
const wasm = (name: string) => join(root, 'build', `${name}.wasm`);

describe.skipIf(!hasTools)("kernel-swiotlb: Linux 6.1's dma-direct and swiotlb, compiled to wasm, under the suite", () => {
  beforeAll(() => {
    const build = join(root, 'scripts', 'build-kernel-swiotlb.sh');
    execFileSync('sh', [build], { cwd: root, stdio: 'pipe' });
    execFileSync('sh', [build], { cwd: root, stdio: 'pipe', env: { ...process.env, MUTANT: 'copy-short' } });
  });

  for (const [profile, module] of [['x86-64', 'kernel-swiotlb'], ['cc-guest', 'kernel-swiotlb-cc']] as const) {
    it(`every check it claims holds on ${profile} at the default budgets`, () => {
      const backend = loadWasmBackend(wasm(module));
      expect(backend.capabilities.kernel).toBe('6.1');
      const verdicts = PROPERTIES.map((p) => {
        const why = whyNot(p, { profile: getProfile(profile), capabilities: backend.capabilities });
        if (why !== null) return { property: p.name, verdict: 'n/a', why };
        const r = checkProperty({ property: p, profile, backend, runs: p.runs ?? DEFAULT_RUNS, seed: 1 });
        return { property: p.name, verdict: r.verdict, why: r.counterexample?.violations[0]?.message ?? r.counterexample?.oops ?? null };
      });
      expect(verdicts.filter((v) => v.verdict !== 'holds' && v.verdict !== 'n/a')).toEqual([]);
      expect(verdicts.filter((v) => v.verdict === 'holds').length).toBeGreaterThanOrEqual(13);
    });
  }

  it('a bounce copy one byte short in the glue is found by bounce-preserves-data', () => {
    const p = PROPERTIES.find((x) => x.name === 'bounce-preserves-data');
    const r = checkProperty({ property: p as NonNullable<typeof p>, profile: 'x86-64', backend: loadWasmBackend(wasm('kernel-swiotlb-copy-short')), runs: p?.runs ?? DEFAULT_RUNS, seed: 1 });
    expect(r.verdict).toBe('violated');
    expect(r.counterexample?.violations[0]?.message).toMatch(/bounce buffer that does not hold the data the CPU handed over|did not get the device write back/);
  });
});
