/**
 * Not a kernel mirror: `npm run bench`, the benchmark (never a test). In one
 * process and one run it prints:
 * - the no-op baseline: fast-check's own `fc.commands` of no-op commands in
 *   100-step sequences, generated and run, commands per second;
 * - per profile, the reference backend's driver steps per second through
 *   the same runner (generation, session, oracle and every property's
 *   checker), its ratio to the baseline, and an allocation-heavy mix
 *   (mostly `dma_alloc_attrs`/`dma_free_attrs` with large sizes, atomic
 *   context, CMA pins and pool expansion);
 * - `npm start` (`dmacheck run`, every property on every profile), its wall
 *   and CPU time, read from the run's own JSON report;
 * - per fixture, over 10 search seeds, the median and worst runs to the
 *   first failure, seconds and shrunk length.
 * Timing uses the wall clock, which is why it lives here and not in a test.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Table from 'cli-table3';
import fc from 'fast-check';
import { PROPERTIES, findProperty } from '../../properties/index.ts';
import { root } from '../../scripts/build.mjs';
import type { BackendFactory } from '../backend/backend.ts';
import { loadBackend } from '../backend/loader.ts';
import referenceBackend from '../backend/reference.ts';
import { StepsArbitrary, type StepWeights, profileGeneratorOptions } from '../conformance/generator.ts';
import type { Property } from '../conformance/property.ts';
import { checkProperty, runSequence } from '../conformance/runner.ts';
import { PROFILES, getProfile } from '../platform/profiles.ts';

const SEQUENCES = 300;
const SEARCH_SEEDS = 10;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** The allocation-heavy mix. */
const ALLOC_HEAVY: StepWeights = {
  kmalloc: 1, allocPages: 1, mapSingle: 1, mapPage: 1, mapSg: 0, unmapSingle: 1, unmapSg: 0, syncForCpu: 0, syncForDevice: 0,
  cpuWrite: 1, cpuRead: 1, cpuWriteNeighbour: 0, deviceWrite: 1, deviceRead: 1, userRead: 0, mmap: 1, munmap: 1, getSgtable: 0,
  speculativeFill: 0, evict: 0, alloc: 12, free: 6, setContext: 3, cmaPin: 2, runWork: 1,
};

/** fast-check's floor: no-op commands, 100-step sequences, generated and run. @returns commands per second */
function noopBaseline(): number {
  class Noop implements fc.Command<object, object> {
    constructor(readonly n: number) {}
    check(): boolean {
      return true;
    }
    run(): void {}
    toString(): string {
      return `noop(${this.n})`;
    }
  }
  const cmds = [fc.nat(7).map((n) => new Noop(n)), fc.constant(new Noop(-1))];
  let count = 0;
  const prop = fc.property(fc.commands(cmds, { maxCommands: 100, size: 'max' }), (seq) => {
    fc.modelRun(() => ({ model: {}, real: {} }), seq);
    count += [...seq].length;
  });
  fc.assert(prop, { numRuns: 50, seed: 1 });
  count = 0;
  const t0 = performance.now();
  fc.assert(prop, { numRuns: SEQUENCES * 3, seed: 2 });
  return count / ((performance.now() - t0) / 1000);
}

/** Steps per second of the reference under fast-check's runner, generation included, every property judging. */
function stepsPerSecond(profile: string, backend: BackendFactory, allocHeavy = false): { steps: number; perSecond: number } {
  const p = getProfile(profile);
  const arb = new StepsArbitrary({
    devices: p.devices.map((d) => d.name),
    ...profileGeneratorOptions(p),
    ...(allocHeavy ? { weights: ALLOC_HEAVY, largeAllocs: true } : {}),
  });
  let steps = 0;
  const prop = fc.property(arb, (seq) => {
    steps += runSequence(seq, { profile, backend, platformSeed: 'bench', properties: PROPERTIES }).result.executed;
  });
  // Warm the JIT on this profile's paths before timing.
  fc.assert(prop, { numRuns: 50, seed: 1 });
  steps = 0;
  const t0 = performance.now();
  fc.assert(prop, { numRuns: SEQUENCES, seed: 2 });
  return { steps, perSecond: steps / ((performance.now() - t0) / 1000) };
}

/** `npm start`'s run, timed by the run itself. */
function npmStart(): { wall: number; cpu: number; steps: number } {
  const json = join(mkdtempSync(join(tmpdir(), 'dmacheck-bench-')), 'run.json');
  execFileSync(process.execPath, [join(root, 'src/cli/dmacheck.js'), 'run', '--json', json, '--out', join(tmpdir(), 'dmacheck-bench-out')], { cwd: root, stdio: 'ignore' });
  const doc = JSON.parse(readFileSync(json, 'utf8')) as { wallSeconds: number; cpuSeconds: number; cells: { steps?: number }[] };
  return { wall: doc.wallSeconds, cpu: doc.cpuSeconds, steps: doc.cells.reduce((n, c) => n + (c.steps ?? 0), 0) };
}

async function main(): Promise<void> {
  const base = noopBaseline();
  process.stdout.write(`no-op baseline: fc.commands of no-op commands, 100-step sequences: ${Math.round(base).toLocaleString('en-US')} commands/s\n\n`);
  const t = new Table({ head: ['profile', 'steps', 'steps/s (generation, oracle, all checkers)', 'baseline ÷ reference', 'allocation-heavy steps/s'], style: { head: [], border: [], compact: true } });
  for (const profile of Object.keys(PROFILES)) {
    const r = stepsPerSecond(profile, referenceBackend);
    const a = stepsPerSecond(profile, referenceBackend, true);
    t.push([profile, r.steps.toLocaleString('en-US'), Math.round(r.perSecond).toLocaleString('en-US'), `${(base / r.perSecond).toFixed(1)}×`, Math.round(a.perSecond).toLocaleString('en-US')]);
  }
  process.stdout.write(`reference backend, ${SEQUENCES} generated sequences of up to 100 steps per profile\n${t.toString()}\n\n`);

  const s = npmStart();
  process.stdout.write(`npm start (dmacheck run, every property on every profile, each property's default budget): ${s.wall.toFixed(1)} s wall, ${s.cpu.toFixed(1)} s CPU, ${s.steps.toLocaleString('en-US')} steps\n\n`);

  const manifest = JSON.parse(readFileSync(join(root, 'fixtures/manifest.json'), 'utf8')) as { fixtures: { name: string; property: string; profile: string; search: { runs: number } }[] };
  const f = new Table({ head: ['fixture', 'property', 'profile', 'runs to failure (median)', 'worst', 'seconds (median)', 'shrunk steps', 'found'], style: { head: [], border: [], compact: true } });
  for (const fx of manifest.fixtures) {
    const mutant = await loadBackend(join(root, `fixtures/${fx.name}/mutant.ts`));
    const property = findProperty(fx.property) as Property;
    const runs: number[] = [];
    const secs: number[] = [];
    const lens: number[] = [];
    for (let seed = 1; seed <= SEARCH_SEEDS; seed++) {
      const t0 = performance.now();
      const r = checkProperty({ property, profile: fx.profile, backend: mutant, runs: fx.search.runs, seed });
      secs.push((performance.now() - t0) / 1000);
      if (r.verdict !== 'holds') {
        runs.push(r.runs);
        lens.push(r.counterexample?.steps.length ?? 0);
      }
    }
    const worst = runs.length < SEARCH_SEEDS ? `> ${fx.search.runs}` : Math.max(...runs);
    f.push([fx.name, fx.property, fx.profile, runs.length === 0 ? '-' : median(runs), worst, median(secs).toFixed(2), lens.length === 0 ? '-' : median(lens), `${runs.length}/${SEARCH_SEEDS}`]);
  }
  process.stdout.write(`fixtures: over ${SEARCH_SEEDS} search seeds (budget: the manifest's runs)\n${f.toString()}\n`);
}

await main();
