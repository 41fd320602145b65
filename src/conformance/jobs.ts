/**
 * Not a kernel mirror: the units of work of a run, as plain data, and
 * {@link runJob}, which performs one. A worker thread (`worker.ts`) runs
 * jobs for the pool (`pool.ts`); tests run them in-process. Everything a
 * job returns is plain data (structured-clone safe), so results do not
 * depend on which thread, or how many threads, computed them.
 *
 * - `probe`: load a backend module, read its name and capabilities once,
 *   create it on each profile it declares and attach the devices (a device
 *   the backend refuses is left out, as `-ENODEV` allows);
 * - `check`: replay a stored failure (if any), then search one property on
 *   one profile with fast-check;
 * - `sequence`: run one driver sequence (a replay, or a candidate while a
 *   hang is shrunk) and judge it.
 * A module that cannot be driven at all (it fails to load, `create` throws
 * or returns garbage, a call returns a Promise) gives an `unusable` result
 * with one line saying why.
 */
import { PROPERTIES, findProperty } from '../../properties/index.ts';
import type { BackendCapabilities, BackendFactory } from '../backend/backend.ts';
import { AsyncBackendError, BackendCallError, UnusableBackendError, describeThrown } from '../backend/guard.ts';
import { BackendLoadError, loadBackend } from '../backend/loader.ts';
import { bootMachine } from '../backend/setup.ts';
import { type PlatformProfile, getProfile, profileNames, registerProfile } from '../platform/profiles.ts';
import type { Violation } from './oracle.ts';
import type { Property } from './property.ts';
import { observationNotes, sessionNotes } from './report.ts';
import { type CheckResult, checkProperty, runSequence } from './runner.ts';
import { type FuzzResult, fuzzProfile } from './fuzz.ts';
import type { SessionResult } from './session.ts';
import type { Step } from './steps.ts';

/** A backend module path, or null for the reference backend. */
export type BackendSpec = string | null;

/** What a backend is, as the probe read it (plain data). */
export interface BackendInfo {
  readonly spec: BackendSpec;
  readonly name: string;
  readonly capabilities: BackendCapabilities;
  /** Per profile the backend runs on: devices attached, and devices refused with why. */
  readonly devices: Readonly<Record<string, { readonly attached: readonly string[]; readonly refused: readonly { readonly dev: string; readonly why: string }[] }>>;
}

/** A failure stored by an earlier run, replayed first. */
export interface StoredFailure {
  readonly file: string;
  readonly steps: readonly Step[];
  readonly platformSeed: string;
  readonly seed: number;
  readonly path: string;
}

/** What every job carries: the user's own profiles (`--profile-file`) it may name, which a worker learns before running it. */
interface JobBase {
  readonly userProfiles?: readonly PlatformProfile[];
}

export interface ProbeJob extends JobBase {
  readonly kind: 'probe';
  readonly backend: BackendSpec;
  /** Profiles to try, in order (the backend's own list narrows them). */
  readonly profiles: readonly string[];
}

export interface CheckJob extends JobBase {
  readonly kind: 'check';
  readonly backend: BackendInfo;
  readonly property: string;
  readonly profile: string;
  readonly runs: number;
  readonly seed: number;
  readonly maxSteps: number;
  readonly stored: StoredFailure | null;
  /** Misuse mode (`--misuse`): misuse steps drawn among the property's own. */
  readonly misuse?: boolean;
}

/** `dmacheck fuzz` on one profile: the matrix column of what each misuse leads to. */
export interface FuzzJob extends JobBase {
  readonly kind: 'fuzz';
  readonly backend: BackendInfo;
  readonly profile: string;
  readonly runs: number;
  readonly seed: number;
  readonly maxSteps: number;
}

export interface SequenceJob extends JobBase {
  readonly kind: 'sequence';
  readonly backend: BackendInfo;
  /** The judging property, or null for every property. */
  readonly property: string | null;
  readonly profile: string;
  readonly platformSeed: string;
  readonly steps: readonly Step[];
  /** Also return what the oracle compared at each step (for `replay`). */
  readonly notes: boolean;
}

export type Job = ProbeJob | CheckJob | SequenceJob | FuzzJob;

export interface UnusableResult {
  readonly kind: 'unusable';
  /** One line: what is wrong with the module, and what is accepted. */
  readonly problem: string;
}
export interface ProbeResult {
  readonly kind: 'probe';
  readonly info: BackendInfo;
}
export interface CheckJobResult {
  readonly kind: 'check';
  readonly result: CheckResult;
  /** A stored failure: `still-fails` (the result is its replay) or `fixed` (it passed; the search ran). */
  readonly stored: 'still-fails' | 'fixed' | null;
}
export interface SequenceJobResult {
  readonly kind: 'sequence';
  readonly violations: readonly Violation[];
  readonly result: SessionResult;
  /** Per step index, what the oracle compared; null unless asked for. */
  readonly notes: readonly (readonly [number, readonly string[]])[] | null;
}
export interface FuzzJobResult {
  readonly kind: 'fuzz';
  readonly result: FuzzResult;
}
export type JobResult = UnusableResult | ProbeResult | CheckJobResult | SequenceJobResult | FuzzJobResult;

const factories = new Map<string, Promise<BackendFactory>>();

/** Load (once per thread) the backend a spec names. */
function factoryOf(spec: BackendSpec): Promise<BackendFactory> {
  const key = spec ?? 'reference';
  let f = factories.get(key);
  if (f === undefined) factories.set(key, (f = loadBackend(spec ?? undefined)));
  return f;
}

/** The factory of a probed backend, with the capabilities read at probe time (a module's getters run once). */
async function probedFactory(info: BackendInfo): Promise<BackendFactory> {
  const f = await factoryOf(info.spec);
  return { name: info.name, capabilities: info.capabilities, create: (env) => f.create(env) };
}

function propertyOf(name: string): Property {
  const p = findProperty(name);
  if (p === undefined) throw new Error(`unknown property ${name}`);
  return p;
}

/** Run one job. Never throws for anything a backend does; a bug of the harness still throws. */
export async function runJob(job: Job): Promise<JobResult> {
  for (const p of job.userProfiles ?? []) if (profileNames().includes(p.name) === false) registerProfile(p);
  try {
    if (job.kind === 'probe') return await probe(job);
    if (job.kind === 'check') return await check(job);
    if (job.kind === 'fuzz') return await fuzz(job);
    return await sequence(job);
  } catch (err) {
    if (err instanceof BackendLoadError) return { kind: 'unusable', problem: err.message };
    if (err instanceof UnusableBackendError) return { kind: 'unusable', problem: err.message };
    if (err instanceof AsyncBackendError) return { kind: 'unusable', problem: `--backend ${job.kind === 'probe' ? job.backend : job.backend.spec}: ${err.message}` };
    throw err;
  }
}

async function probe(job: ProbeJob): Promise<JobResult> {
  const factory = await factoryOf(job.backend);
  const caps = factory.capabilities;
  const devices: Record<string, { attached: string[]; refused: { dev: string; why: string }[] }> = {};
  for (const profile of job.profiles) {
    if (caps.profiles !== 'all' && !caps.profiles.includes(profile)) continue;
    try {
      const m = bootMachine(profile, { seed: 'probe', backend: factory, capabilities: caps });
      devices[profile] = { attached: [...m.attached], refused: [...m.refused] };
    } catch (err) {
      if (!(err instanceof BackendCallError)) throw err;
      return { kind: 'unusable', problem: `--backend ${job.backend}: ${err.call === 'create' ? 'create(env)' : err.call} threw on ${profile}: ${describeThrown(err.thrown)}` };
    }
  }
  return { kind: 'probe', info: { spec: job.backend, name: factory.name, capabilities: caps, devices } };
}

async function check(job: CheckJob): Promise<JobResult> {
  const backend = await probedFactory(job.backend);
  const property = propertyOf(job.property);
  const devices = job.backend.devices[job.profile]?.attached ?? [];
  const base = { profile: job.profile, backend, devices, capabilities: job.backend.capabilities };
  let stored: CheckJobResult['stored'] = null;
  if (job.stored !== null) {
    const s = job.stored;
    const out = runSequence(s.steps, { ...base, platformSeed: s.platformSeed, properties: [property] });
    if (out.violations.length > 0 || (out.result.halted && out.result.oopsByMisuse !== true)) {
      const result: CheckResult = {
        property: property.name,
        profile: job.profile,
        runs: 1,
        steps: out.result.executed,
        skipped: out.result.skipped,
        calls: out.result.calls,
        coverage: out.result.coverage,
        unreached: [],
        verdict: out.violations.length > 0 ? 'violated' : 'oops',
        counterexample: { steps: s.steps, violations: out.violations, oops: out.result.oops, seed: s.seed, path: s.path, shrinks: 0 },
      };
      return { kind: 'check', result, stored: 'still-fails' };
    }
    stored = 'fixed';
  }
  const result = checkProperty({ property, ...base, runs: job.runs, seed: job.seed, maxSteps: job.maxSteps, misuse: job.misuse === true });
  return { kind: 'check', result, stored };
}

async function fuzz(job: FuzzJob): Promise<JobResult> {
  const backend = await probedFactory(job.backend);
  const devices = job.backend.devices[job.profile]?.attached ?? [];
  const result = fuzzProfile({ profile: job.profile, backend, devices, capabilities: job.backend.capabilities, runs: job.runs, seed: job.seed, maxSteps: job.maxSteps, properties: PROPERTIES });
  return { kind: 'fuzz', result };
}

async function sequence(job: SequenceJob): Promise<JobResult> {
  const backend = await probedFactory(job.backend);
  const properties = job.property === null ? PROPERTIES : [propertyOf(job.property)];
  const notes = job.notes ? observationNotes() : null;
  const out = runSequence(job.steps, {
    profile: job.profile,
    backend,
    platformSeed: job.platformSeed,
    properties,
    devices: job.backend.devices[job.profile]?.attached ?? getProfile(job.profile).devices.map((d) => d.name),
    capabilities: job.backend.capabilities,
    ...(notes === null ? {} : { observe: (o) => notes.observe(o) }),
  });
  if (notes !== null) sessionNotes(out.result, notes.notes);
  return { kind: 'sequence', violations: out.violations, result: out.result, notes: notes === null ? null : [...notes.notes] };
}
