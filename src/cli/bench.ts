/**
 * Not a kernel mirror: `npm run bench`, the benchmark (never a test). It
 * prints, per profile, how many driver steps per second the reference
 * backend runs under the harness (generation excluded; oracle and every
 * property's checker included) and the cost of building a fresh machine;
 * and per fixture, over 10 search seeds, the median number of runs and
 * seconds to the first failure and the median shrunk length. An
 * allocation-heavy mix (mostly `dma_alloc_attrs`/`dma_free_attrs`, large
 * sizes, atomic context, CMA pins, pool expansion) is timed on its own,
 * since CMA, the pools and the alloc-source checks are its cost. Timing uses
 * the wall clock, which is why it lives here and not in a test.
 */
import { readFileSync } from 'node:fs';
import Table from 'cli-table3';
import { PROPERTIES, findProperty } from '../../properties/index.ts';
import type { BackendFactory } from '../backend/backend.ts';
import { loadBackend } from '../backend/loader.ts';
import referenceBackend from '../backend/reference.ts';
import { type StepWeights, cmaPinTargets, generateSteps } from '../conformance/generator.ts';
import type { Property } from '../conformance/property.ts';
import { checkProperty, runSequence } from '../conformance/runner.ts';
import { Session } from '../conformance/session.ts';
import { Prng } from '../platform/prng.ts';
import { PROFILES, getProfile, hasHighmem } from '../platform/profiles.ts';

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

function stepsPerSecond(profile: string, backend: BackendFactory, allocHeavy = false): { steps: number; perSecond: number; setupMs: number } {
  const p = getProfile(profile);
  const prng = new Prng(`bench-${profile}${allocHeavy ? '-alloc' : ''}`);
  const draw = { int: (min: number, max: number) => min + prng.below(max - min + 1) };
  const gen = {
    devices: p.devices.map((d) => d.name),
    highmem: hasHighmem(p),
    ...(allocHeavy ? { weights: ALLOC_HEAVY, largeAllocs: true, cmaAreas: cmaPinTargets(p) } : {}),
  };
  const seqs = Array.from({ length: SEQUENCES }, () => generateSteps(gen, draw, 100));
  // Warm the JIT on this profile's paths before timing.
  for (const s of seqs.slice(0, 50)) runSequence(s, { profile, backend, platformSeed: 'bench', properties: PROPERTIES });
  let steps = 0;
  const t0 = performance.now();
  for (const s of seqs) steps += runSequence(s, { profile, backend, platformSeed: 'bench', properties: PROPERTIES }).result.executed;
  const seconds = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  for (let i = 0; i < 50; i++) new Session({ profile, backend, platformSeed: 'bench', sink: () => {} });
  return { steps, perSecond: steps / seconds, setupMs: (performance.now() - t1) / 50 };
}

async function main(): Promise<void> {
  const t = new Table({ head: ['profile', 'steps', 'steps/s (oracle + all checkers)', 'allocation-heavy steps/s', 'fresh machine, ms'], style: { head: [], border: [], compact: true } });
  for (const profile of Object.keys(PROFILES)) {
    const r = stepsPerSecond(profile, referenceBackend);
    const a = stepsPerSecond(profile, referenceBackend, true);
    t.push([profile, r.steps.toLocaleString('en-US'), Math.round(r.perSecond).toLocaleString('en-US'), Math.round(a.perSecond).toLocaleString('en-US'), r.setupMs.toFixed(2)]);
  }
  process.stdout.write(`reference backend, ${SEQUENCES} generated sequences of up to 100 steps per profile\n${t.toString()}\n\n`);

  const manifest = JSON.parse(readFileSync(new URL('../../fixtures/manifest.json', import.meta.url), 'utf8')) as { fixtures: { name: string; property: string; profile: string; search: { runs: number } }[] };
  const f = new Table({ head: ['fixture', 'property', 'profile', 'found in (runs)', 'seconds to failure', 'shrunk steps', 'found'], style: { head: [], border: [], compact: true } });
  for (const fx of manifest.fixtures) {
    const mutant = await loadBackend(`fixtures/${fx.name}/mutant.ts`);
    const property = findProperty(fx.property) as Property;
    const runs: number[] = [];
    const secs: number[] = [];
    const lens: number[] = [];
    for (let seed = 1; seed <= SEARCH_SEEDS; seed++) {
      const t0 = performance.now();
      const r = checkProperty({ property, profile: fx.profile, backend: mutant, runs: fx.search.runs, seed });
      secs.push((performance.now() - t0) / 1000);
      if (r.verdict === 'violated') {
        runs.push(r.runs);
        lens.push(r.counterexample?.steps.length ?? 0);
      }
    }
    f.push([fx.name, fx.property, fx.profile, runs.length === 0 ? '-' : median(runs), median(secs).toFixed(2), lens.length === 0 ? '-' : median(lens), `${runs.length}/${SEARCH_SEEDS}`]);
  }
  process.stdout.write(`fixtures: median over ${SEARCH_SEEDS} search seeds (budget: the manifest's runs)\n${f.toString()}\n`);
}

await main();
