/**
 * The consequence matrix of driver misuse (`dmacheck fuzz`): random
 * sequences of legal steps and misuse steps (misuse.ts) on one profile,
 * and, for each misuse, what it led to on that machine — stale data,
 * corruption, a fault, a leak, or nothing observable — and whether
 * dma-debug reported it. This is the answer a driver author wants: "on a
 * non-coherent arm64 SoC, reading a FROM_DEVICE buffer before
 * sync_for_cpu returns stale data and dma-debug does not notice".
 *
 * What a misuse led to is read from its consequences: observations about
 * memory it touched (session.ts taints them), judged by every property as
 * if they were violations, and named by the property that would have
 * fired. Each cell keeps one example trace, cut after the consequence and
 * shrunk (a bounded number of re-runs) while the same misuse still leads
 * to the same outcome. Violations of memory no misuse touched are still
 * violations: the fuzzer reports them as the conformance run would.
 */
import fc from 'fast-check';
import type { BackendCapabilities, BackendFactory } from '../backend/backend.ts';
import { getProfile } from '../platform/profiles.ts';
import { MISUSE_WEIGHT, StepsArbitrary, profileGeneratorOptions, repair, shrinkSteps } from './generator.ts';
import { MISUSES, MISUSE_INFO, type DebugCheckId, type Misuse } from './misuse.ts';
import { resourceUsers } from './model.ts';
import type { Observation, Violation } from './oracle.ts';
import { type Property, judgeOf } from './property.ts';
import { platformSeedOf, profileOf, runSequence } from './runner.ts';
import { kernelFalseReport } from './debugged.ts';
import type { Step } from './steps.ts';

/** What a consequence is called in the matrix, by the property that would have judged it. */
const OUTCOME_OF: Readonly<Record<string, string>> = {
  'no-stale-cpu-read': 'stale CPU read',
  'no-stale-device-read': 'device read stale data',
  'coherent-buffer-agrees': 'data corrupted',
  'bounce-preserves-data': 'data corrupted',
  'mmap-shows-buffer': 'data corrupted',
  'dma-address-reachable': 'device fault',
  'no-leak': 'leak',
  'swiotlb-slots-sound': 'leak',
  'no-oops': 'oops',
  'cookie-never-dereferenced': 'oops',
  'private-memory-stays-private': 'private memory exposed',
  'iommu-isolates': 'IOMMU still maps it',
};

/** The outcome of a misuse whose consequences no property would flag. */
export const NOTHING = 'nothing observable';

/** One example of a misuse leading to an outcome: a trace to replay. */
export interface FuzzExample {
  readonly steps: readonly Step[];
  readonly platformSeed: string;
}

/** One misuse on one profile. */
export interface FuzzRow {
  readonly misuse: Misuse;
  /** Times it was executed. */
  readonly executed: number;
  /** The dma-debug check built to catch it, or null. */
  readonly debugExpected: DebugCheckId | null;
  /** Executions where dma-debug was due to report it (not on a machine it exempts, not after a failed map, not on memory it never saw). */
  readonly debugAsked: number;
  /** Of those, the executions it reported with the expected check. */
  readonly debugReported: number;
  /** Executions it reported although no report was due. */
  readonly debugUnasked: number;
  /** Executions per outcome (one execution may have several). */
  readonly outcomes: Readonly<Record<string, number>>;
  /** One shrunk example per outcome. */
  readonly examples: Readonly<Record<string, FuzzExample>>;
}

/** The matrix column of one profile. */
export interface FuzzResult {
  readonly profile: string;
  readonly runs: number;
  readonly steps: number;
  readonly rows: readonly FuzzRow[];
  /** dma-debug reports on legal steps (false positives), one line each, at most 10. */
  readonly falseReports: readonly string[];
  /** Violations of memory no misuse touched, at most 10, with the sequence of the first. */
  readonly violations: readonly Violation[];
  readonly violationExample: FuzzExample | null;
}

/** Options of {@link fuzzProfile}. */
export interface FuzzOptions {
  readonly profile: string;
  readonly backend: BackendFactory;
  readonly capabilities?: BackendCapabilities;
  readonly devices?: readonly string[];
  /** Sequences to run. */
  readonly runs: number;
  readonly seed: number;
  readonly maxSteps?: number;
  /** Every property: the judges of consequences. */
  readonly properties: readonly Property[];
  /** Re-runs allowed to shrink each example (default 25). */
  readonly shrinkRuns?: number;
  /** Called after each sequence. */
  readonly onSequence?: () => void;
}

interface Seen {
  readonly misuses: Map<number, Observation & { kind: 'misuse' }>;
  readonly outcomes: Map<number, Set<string>>;
  /** Outcomes seen in whole-machine observations (accounting, platform violations, an oops): which misuse caused them is decided by running without it. */
  readonly machine: Set<string>;
  readonly falseReports: string[];
  readonly violations: Violation[];
}

/** Run `steps` and read, per misuse step, what it led to. */
function observe(steps: readonly Step[], o: FuzzOptions, platformSeed: string): Seen {
  // The machine the sequence runs on: the variant its opening platform step names.
  const profile = profileOf(o.profile, steps);
  const ctx = { profile, capabilities: o.capabilities ?? o.backend.capabilities };
  const judges = o.properties.map((p) => ({ name: p.name, judge: judgeOf(p, ctx) }));
  const seen: Seen = { misuses: new Map(), outcomes: new Map(), machine: new Set(), falseReports: [], violations: [] };
  const add = (index: number, label: string) => {
    let set = seen.outcomes.get(index);
    if (set === undefined) seen.outcomes.set(index, (set = new Set()));
    set.add(label);
  };
  const out = runSequence(steps, {
    profile: o.profile,
    backend: o.backend,
    platformSeed,
    properties: o.properties,
    ...(o.devices === undefined ? {} : { devices: o.devices }),
    ...(o.capabilities === undefined ? {} : { capabilities: o.capabilities }),
    observe: (obs) => {
      if (obs.kind === 'misuse') {
        seen.misuses.set(obs.at.index, obs);
        if (obs.immediate !== null) add(obs.at.index, obs.immediate.startsWith('device') ? 'device fault' : 'CPU fault');
      } else if (obs.kind === 'consequence') {
        const at = obs.misuseStep;
        const inner = obs.observation;
        const machineWide = !('ref' in inner) || typeof inner.ref !== 'string';
        const label = (l: string) => (machineWide ? seen.machine.add(l) : add(at, l));
        if (inner.kind === 'device-fault') label('device fault');
        for (const j of judges) for (const v of j.judge(inner)) label(OUTCOME_OF[v.property] ?? v.property);
      } else if (obs.kind === 'debug-report' && !obs.duringMisuse && !kernelFalseReport(obs.check, obs.at.step) && seen.falseReports.length < 10) {
        seen.falseReports.push(`${obs.check} ${obs.dev}: ${obs.message} [step=${obs.at.index}]`);
      }
    },
  });
  // Violations of untouched memory (debug-flags-misuse's own findings are the false reports above).
  for (const v of out.violations) if (v.property !== 'debug-flags-misuse') seen.violations.push(v);
  // An oops in a misuse's illegal call is its own consequence; any other oops after a misuse is decided by running without it.
  const lastMisuse = Math.max(0, ...seen.misuses.keys());
  if (out.result.halted && out.result.oopsByMisuse === true) add(lastMisuse, 'oops');
  else if (out.result.halted && seen.misuses.size > 0) seen.machine.add('oops');
  return seen;
}

/**
 * Attribute whole-machine outcomes (a leak, an oops, a platform violation,
 * seen after a misuse): the same sequence without any misuse shows whether
 * the driver's legal steps alone break something (then it is a violation,
 * reported as such); otherwise a misuse caused it when the sequence without
 * that one step (repaired to a legal driver again) no longer shows it, and
 * when no single misuse does, all of them together did.
 */
function attributeMachine(seq: readonly Step[], s: Seen, o: FuzzOptions, platformSeed: string, devices: readonly string[]): void {
  if (s.machine.size === 0) return;
  const resources = resourceUsers(getProfile(o.profile));
  const clean = observe(repair(devices, seq.filter((x) => x.op !== 'misuse'), resources), o, platformSeed);
  for (const v of clean.violations) if (!s.violations.some((w) => w.property === v.property && w.message === v.message)) s.violations.push(v);
  const attributed = new Set<string>();
  const add = (index: number, label: string) => {
    let set = s.outcomes.get(index);
    if (set === undefined) s.outcomes.set(index, (set = new Set()));
    set.add(label);
    attributed.add(label);
  };
  // Only misuses that can change machine-wide state are candidates (misuse.ts `machine`).
  const candidates = [...s.misuses.entries()].filter(([, m]) => MISUSE_INFO[m.misuse].machine).map(([index]) => index);
  for (const index of candidates) {
    const w = observe(repair(devices, seq.filter((_, i) => i !== index - 1), resources), o, platformSeed).machine;
    for (const label of s.machine) if (!w.has(label)) add(index, label);
  }
  const legal = new Set(clean.violations.map((v) => OUTCOME_OF[v.property] ?? v.property));
  for (const label of s.machine) if (!attributed.has(label) && !legal.has(label)) for (const index of candidates) add(index, label);
}

/** What each misuse step of a trace led to, and what dma-debug said: how a misuse fixture (`fixtures/misuse/`) is checked. */
export function misuseOutcomes(steps: readonly Step[], o: Omit<FuzzOptions, 'runs' | 'seed'>, platformSeed: string): { index: number; misuse: Misuse; outcomes: string[]; expectedDebug: DebugCheckId | null; reported: readonly string[] }[] {
  const opts = { ...o, runs: 1, seed: 0 };
  const profile = profileOf(o.profile, steps);
  const devices = o.devices ?? profile.devices.map((d) => d.name);
  const s = observe(steps, opts, platformSeed);
  attributeMachine(steps, s, opts, platformSeed, devices);
  return [...s.misuses].map(([index, m]) => {
    const got = s.outcomes.get(index);
    return { index, misuse: m.misuse, outcomes: got === undefined || got.size === 0 ? [NOTHING] : [...got].sort(), expectedDebug: m.expectedDebug, reported: m.reported };
  });
}

/** Does running `steps` make `misuse` lead to `outcome`? */
function leadsTo(steps: readonly Step[], o: FuzzOptions, platformSeed: string, misuse: Misuse, outcome: string, devices: readonly string[]): boolean {
  const s = observe(steps, o, platformSeed);
  attributeMachine(steps, s, o, platformSeed, devices);
  for (const [index, m] of s.misuses) {
    if (m.misuse !== misuse) continue;
    const got = s.outcomes.get(index);
    if (outcome === NOTHING ? got === undefined || got.size === 0 : got?.has(outcome) === true) return true;
  }
  return false;
}

/** Shrink an example while the same misuse still leads to the same outcome, within `budget` re-runs. */
function shrinkExample(steps: readonly Step[], o: FuzzOptions, platformSeed: string, misuse: Misuse, outcome: string, devices: readonly string[]): Step[] {
  let best = [...steps];
  let budget = o.shrinkRuns ?? 25;
  const resources = resourceUsers(getProfile(o.profile));
  let improved = true;
  while (improved && budget > 0) {
    improved = false;
    for (const cand of shrinkSteps(devices, best, resources)) {
      if (budget-- <= 0) break;
      if (cand.length < best.length && cand.some((s) => s.op === 'misuse' && s.misuse === misuse) && leadsTo(cand, o, platformSeed, misuse, outcome, devices)) {
        best = cand;
        improved = true;
        break;
      }
    }
  }
  return best;
}

/** Fuzz one profile: `runs` sequences with misuse, the matrix column of what each misuse led to. */
export function fuzzProfile(o: FuzzOptions): FuzzResult {
  const profile = getProfile(o.profile);
  const devices = o.devices ?? profile.devices.map((d) => d.name);
  const arb = new StepsArbitrary({
    devices,
    weights: { misuse: MISUSE_WEIGHT },
    maxSteps: o.maxSteps ?? 100,
    ...profileGeneratorOptions(profile),
    profile,
    capabilities: o.capabilities ?? o.backend.capabilities,
  });
  const platformSeed = platformSeedOf(o.seed);
  const rows = new Map<Misuse, { executed: number; debugAsked: number; debugReported: number; debugUnasked: number; outcomes: Record<string, number>; examples: Record<string, FuzzExample> }>();
  const falseReports: string[] = [];
  const violations: Violation[] = [];
  let violationExample: FuzzExample | null = null;
  let steps = 0;
  for (const seq of fc.sample(arb, { numRuns: o.runs, seed: o.seed })) {
    steps += seq.length;
    const s = observe(seq, o, platformSeed);
    attributeMachine(seq, s, o, platformSeed, devices);
    for (const r of s.falseReports) if (falseReports.length < 10) falseReports.push(r);
    for (const v of s.violations) if (violations.length < 10) violations.push(v);
    if (violationExample === null && s.violations.length > 0) violationExample = { steps: seq, platformSeed };
    for (const [index, m] of s.misuses) {
      let row = rows.get(m.misuse);
      if (row === undefined) rows.set(m.misuse, (row = { executed: 0, debugAsked: 0, debugReported: 0, debugUnasked: 0, outcomes: {}, examples: {} }));
      row.executed++;
      if (m.expectedDebug !== null) {
        row.debugAsked++;
        if (m.reported.includes(m.expectedDebug)) row.debugReported++;
      } else if (m.reported.length > 0) row.debugUnasked++;
      const got = s.outcomes.get(index);
      const labels = got === undefined || got.size === 0 ? [NOTHING] : [...got];
      for (const label of labels) {
        row.outcomes[label] = (row.outcomes[label] ?? 0) + 1;
        if (row.examples[label] === undefined) row.examples[label] = { steps: shrinkExample(seq, o, platformSeed, m.misuse, label, devices), platformSeed };
      }
    }
    o.onSequence?.();
  }
  return {
    profile: o.profile,
    runs: o.runs,
    steps,
    rows: MISUSES.filter((m) => rows.has(m)).map((m) => {
      const r = rows.get(m) as NonNullable<ReturnType<typeof rows.get>>;
      return { misuse: m, executed: r.executed, debugExpected: MISUSE_INFO[m].debug, debugAsked: r.debugAsked, debugReported: r.debugReported, debugUnasked: r.debugUnasked, outcomes: r.outcomes, examples: r.examples };
    }),
    falseReports,
    violations,
    violationExample,
  };
}
