/**
 * Not a kernel mirror: runs properties. {@link runSequence} plays one driver
 * sequence on a fresh session and judges it; {@link checkProperty} hands the
 * state-aware generator to fast-check's runner for one property on one
 * profile, so seeds, shrinking and `path` replay are fast-check's own.
 */
import fc from 'fast-check';
import type { BackendCapabilities, BackendFactory } from '../backend/backend.ts';
import { noteSequence } from '../backend/guard.ts';
import { type PlatformProfile, getProfile } from '../platform/profiles.ts';
import { variantProfile } from './variation.ts';
import { type Coverage, addCoverage, unreached } from './coverage.ts';
import { MISUSE_WEIGHT, StepsArbitrary, profileGeneratorOptions } from './generator.ts';
import type { DebugFactory } from './debugged.ts';
import type { Observation, Violation } from './oracle.ts';
import { type Property, judgeOf } from './property.ts';
import { type CallStats, Session, type SessionResult } from './session.ts';

/** Zero calls of every kind. */
export function noCalls(): CallStats {
  return { alloc: { made: 0, failed: 0 }, allocNc: { made: 0, failed: 0 }, map: { made: 0, failed: 0 } };
}
import { type Step, renumber } from './steps.ts';

/** How one sequence went. */
export interface SequenceOutcome {
  readonly result: SessionResult;
  /** Violations of the judging properties, in step order (at most one per property and step). */
  readonly violations: readonly Violation[];
}

/** Options of {@link runSequence}. */
export interface SequenceOptions {
  readonly profile: string;
  readonly backend: BackendFactory;
  readonly platformSeed: string;
  /** Properties that judge the run. */
  readonly properties: readonly Property[];
  /** Also receives every observation (the replay printer uses this). */
  readonly observe?: (obs: Observation) => void;
  /** Devices to drive; default every device of the profile. */
  readonly devices?: readonly string[];
  /** The backend's capabilities as read when it was loaded. */
  readonly capabilities?: BackendCapabilities;
  /** Builds the dma-debug that watches the calls (default the model). */
  readonly debug?: DebugFactory;
}

/** Play `steps` on a fresh platform and backend and judge them. */
export function runSequence(steps: readonly Step[], o: SequenceOptions): SequenceOutcome {
  const violations: Violation[] = [];
  const seen = new Set<string>();
  const profile = profileOf(o.profile, steps);
  const ctx = { profile, capabilities: o.capabilities ?? o.backend.capabilities };
  const judges = o.properties.map((p) => judgeOf(p, ctx));
  noteSequence(steps);
  const session = new Session({
    profile,
    backend: o.backend,
    platformSeed: o.platformSeed,
    ...(o.devices === undefined ? {} : { devices: o.devices }),
    ...(o.capabilities === undefined ? {} : { capabilities: o.capabilities }),
    ...(o.debug === undefined ? {} : { debug: o.debug }),
    sink: (obs) => {
      o.observe?.(obs);
      for (const judge of judges) {
        for (const v of judge(obs)) {
          const key = `${v.property}/${v.check}@${v.at.index}`;
          if (seen.has(key)) continue;
          seen.add(key);
          violations.push(v);
        }
      }
    },
  });
  const result = session.run(steps);
  session.dispose();
  return { result, violations };
}

/** The machine a sequence runs on: the profile, or the variant its opening `platform` step names. */
export function profileOf(name: string, steps: readonly Step[]): PlatformProfile {
  const base = getProfile(name);
  const first = steps[0];
  return first?.op === 'platform' ? variantProfile(base, first.overrides) : base;
}

/** Options of {@link checkProperty}. */
export interface CheckOptions {
  readonly property: Property;
  readonly profile: string;
  readonly backend: BackendFactory;
  /** Sequences to try (fast-check `numRuns`). */
  readonly runs: number;
  /** fast-check seed; also the platform seed. */
  readonly seed: number;
  /** fast-check replay path of a known failure. */
  readonly path?: string;
  /** Longest sequence, steps. */
  readonly maxSteps?: number;
  /** Called after each sequence fast-check runs (generation and shrinking alike). */
  readonly onSequence?: (executedSteps: number) => void;
  /** Devices to drive; default every device of the profile. */
  readonly devices?: readonly string[];
  /** The backend's capabilities as read when it was loaded. */
  readonly capabilities?: BackendCapabilities;
  /** Misuse mode: misuse steps are drawn among the property's own (`MISUSE_WEIGHT`); what they touch is judged as their consequence, not as a violation. */
  readonly misuse?: boolean;
  /** Builds the dma-debug that watches the calls (default the model; tests pass mutants of it). */
  readonly debug?: DebugFactory;
}

/** The verdict of one property on one profile. */
export interface CheckResult {
  readonly property: string;
  readonly profile: string;
  /** Sequences run before the verdict (not counting shrinking). */
  readonly runs: number;
  /** Driver steps executed, shrinking included. */
  readonly steps: number;
  /** Steps skipped because an earlier call failed (the driver checked and gave up on that buffer). */
  readonly skipped: number;
  /** Calls made and failed over every sequence (generation and shrinking alike), by kind. */
  readonly calls: CallStats;
  /** The paths the sequences reached (`coverage.ts`), summed. */
  readonly coverage: Coverage;
  /** Paths the property needs, possible on the profile, that no sequence reached. */
  readonly unreached: readonly string[];
  /**
   * `violated`: a property check failed; `oops`: the backend threw (or
   * faulted) on a legal sequence; `hang`: a backend call never returned
   * (set by the worker pool, which watches calls from another thread).
   */
  readonly verdict: 'holds' | 'violated' | 'oops' | 'hang';
  /** What ended the job when there is no trace (the worker died, backend code left a rejection behind). */
  readonly message?: string;
  /** The shrunk failing sequence and how to replay it. */
  readonly counterexample: {
    readonly steps: readonly Step[];
    readonly violations: readonly Violation[];
    /** What the backend threw (oops) or where it hung, one line; null for a plain violation. */
    readonly oops: string | null;
    readonly seed: number;
    readonly path: string;
    readonly shrinks: number;
  } | null;
}

/** The platform seed a run with fast-check seed `seed` uses. */
export function platformSeedOf(seed: number): string {
  return `dmacheck-${seed}`;
}

/** Run one property on one profile. */
export function checkProperty(o: CheckOptions): CheckResult {
  const profile = getProfile(o.profile);
  const arb = new StepsArbitrary({
    devices: o.devices ?? profile.devices.map((d) => d.name),
    weights: o.misuse === true ? { ...o.property.weights, misuse: MISUSE_WEIGHT } : o.property.weights,
    maxSteps: o.maxSteps ?? o.property.generator?.maxSteps ?? 100,
    ...profileGeneratorOptions(profile),
    profile,
    capabilities: o.capabilities ?? o.backend.capabilities,
    ...(o.property.generator?.allocAttrs === undefined ? {} : { allocAttrs: o.property.generator.allocAttrs }),
    ...(o.property.generator?.bigBuffers === undefined ? {} : { bigBuffers: o.property.generator.bigBuffers }),
    ...(o.property.generator?.largeAllocs === undefined ? {} : { largeAllocs: o.property.generator.largeAllocs }),
    ...(o.property.generator?.swarm === undefined ? {} : { swarm: o.property.generator.swarm }),
  });
  const platformSeed = platformSeedOf(o.seed);
  let steps = 0;
  let skipped = 0;
  const calls = noCalls();
  const coverage: Coverage = {};
  const judge: SequenceOptions = {
    profile: o.profile,
    backend: o.backend,
    platformSeed,
    properties: [o.property],
    ...(o.devices === undefined ? {} : { devices: o.devices }),
    ...(o.capabilities === undefined ? {} : { capabilities: o.capabilities }),
    ...(o.debug === undefined ? {} : { debug: o.debug }),
  };
  // An unusable backend (it went async) or a bug of the harness ends the search: fast-check must not
  // shrink it as a failure of the backend. Everything the backend throws is already an oops observation.
  let fatal: unknown = null;
  const details = fc.check(
    fc.property(arb, (seq) => {
      if (fatal !== null) return true;
      let out: SequenceOutcome;
      try {
        out = runSequence(seq, judge);
      } catch (err) {
        fatal = err;
        return true;
      }
      steps += out.result.executed;
      skipped += out.result.skipped;
      calls.alloc.made += out.result.calls.alloc.made;
      calls.alloc.failed += out.result.calls.alloc.failed;
      calls.allocNc.made += out.result.calls.allocNc.made;
      calls.allocNc.failed += out.result.calls.allocNc.failed;
      calls.map.made += out.result.calls.map.made;
      calls.map.failed += out.result.calls.map.failed;
      addCoverage(coverage, out.result.coverage);
      o.onSequence?.(out.result.executed);
      return out.violations.length === 0 && (!out.result.halted || out.result.oopsByMisuse === true);
    }),
    { seed: o.seed, numRuns: o.runs, ...(o.path === undefined ? {} : { path: o.path }) },
  );
  if (fatal !== null) throw fatal;
  const base = { property: o.property.name, profile: o.profile, steps, skipped, calls, coverage, unreached: unreached(o.property.paths ?? [], profile, coverage) };
  if (!details.failed || details.counterexample === null) return { ...base, runs: details.numRuns, verdict: 'holds', counterexample: null };
  const seq = renumber(details.counterexample[0]);
  const out = runSequence(seq, judge);
  return {
    ...base,
    runs: details.numRuns,
    verdict: out.violations.length > 0 ? 'violated' : 'oops',
    counterexample: { steps: seq, violations: out.violations, oops: out.result.oops, seed: details.seed, path: details.counterexamplePath ?? '', shrinks: details.numShrinks },
  };
}
