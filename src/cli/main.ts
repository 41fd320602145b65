/**
 * Not a kernel mirror: the `dmacheck` command line.
 *
 * - `dmacheck run` runs every property on every profile against a backend
 *   (default: the reference), spread over worker threads (`--jobs`), with a
 *   progress bar on a terminal, and ends with the verdict table. A failure
 *   prints the property, its rules, the evidence, the shrunk trace and the
 *   one command that replays it, and writes the trace under `--out`
 *   (default `.dmacheck/`), keyed by backend; stored failures are replayed
 *   first on the next run, before any new random sequence.
 * - `dmacheck replay <trace>` replays a trace on its backend or `--backend`,
 *   printing each step with what the oracle expected and saw.
 * - `dmacheck explain <rule-id | property>` prints a rule's clause and the
 *   properties enforcing it, or a property's summary and rules.
 *
 * Backend code never runs in this thread: loading, probing and every driver
 * sequence run in workers (`src/conformance/pool.ts`), so a backend that
 * exits, throws anything, loops or returns garbage ends as a verdict.
 *
 * Exit codes: 0 everything holds; 1 a violation, oops or hang; 2 bad input
 * or an unusable backend module, with one line naming the bad value and
 * what is accepted; 130 interrupted (Ctrl-C), after the partial table.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, rmdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import junitModule, { type Builder as JUnitBuilder } from 'junit-report-builder';
import pc from 'picocolors';
import { PROPERTIES, findProperty } from '../../properties/index.ts';
import { RULES, isRuleId } from '../../spec/rules.ts';
import type { BackendInfo, CheckJob, JobResult, StoredFailure } from '../conformance/jobs.ts';
import { JobPool, type PoolOutcome, shrinkHang } from '../conformance/pool.ts';
import { type Cell, describeRules, failed, renderCoverage, renderFailure, renderFuzzMatrix, renderListing, renderTable } from '../conformance/report.ts';
import type { FuzzResult } from '../conformance/fuzz.ts';
import { DEFAULT_RUNS, whyNot } from '../conformance/property.ts';
import { type CheckResult, noCalls, platformSeedOf } from '../conformance/runner.ts';
import { type Trace, TraceError, makeTrace, parseTrace, serializeTrace } from '../conformance/trace.ts';
import { parseProfileFile } from '../platform/profile-file.ts';
import { KernelCheckError, kernelCheck } from './kernel-check.ts';
import { resourceUsers } from '../conformance/model.ts';
import { WASM_ABI_VERSION, WasmBackendError, loadWasmBackend } from '../backend/wasm.ts';
import { type PlatformProfile, getProfile, profileNames, registerProfile } from '../platform/profiles.ts';

const USAGE = [
  'usage: dmacheck run [--backend <module>] [--profile <name>[,<name>]] [--profile-file <json>] [--device <name>[,<name>]] [--property <name>[,<name>]] [--runs <n>] [--seed <n>] [--max-steps <n>] [--jobs <n>] [--call-timeout <time>] [--json <file>] [--junit <file>] [--coverage] [--misuse] [--out <dir>]',
  '       dmacheck fuzz [--backend <module>] [--profile <name>[,<name>]] [--profile-file <json>] [--runs <n>] [--seed <n>] [--max-steps <n>] [--jobs <n>] [--call-timeout <time>] [--json <file>] [--out <dir>]',
  '       dmacheck replay <trace.json> [--backend <module>] [--profile-file <json>] [--call-timeout <time>]',
  '       dmacheck explain <rule-id | property>',
  '       dmacheck check-types <module>',
  '       dmacheck kernel-check [--arch x86_64] [--runs <n>] [--seed <n>] [--max-steps <n>] [--model reference|mainline|<module>] [--trace <file>] [--out <dir>]',
].join('\n');

/** Bounds of the numeric options (documented in the README). */
export const LIMITS = {
  runs: [1, 1_000_000],
  maxSteps: [1, 10_000],
  seed: [-(2 ** 31), 2 ** 31 - 1],
  jobs: [1, 256],
  callTimeoutMs: [100, 3_600_000],
} as const;

/** Bad input: one line, exit code 2. */
class UsageError extends Error {}

/** The bundled worker beside this file (dist/worker.js). */
const WORKER = join(dirname(fileURLToPath(import.meta.url)), 'worker.js');

function list(value: string | undefined, accepted: readonly string[], what: string): string[] {
  if (value === undefined) return [...accepted];
  const names = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const n of names) if (!accepted.includes(n)) throw new UsageError(`--${what} ${n}: accepted are ${accepted.join(', ')}`);
  if (names.length === 0) throw new UsageError(`--${what} is empty: accepted are ${accepted.join(', ')}`);
  return names;
}

function int(value: string, what: string, [min, max]: readonly [number, number]): number {
  const n = Number(value);
  if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`--${what} ${value}: accepted is an integer from ${min} to ${max}`);
  return n;
}

/** `--call-timeout`: `10s`, `500ms`, `2m`, or a number of seconds. @returns milliseconds */
function duration(value: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value);
  const [min, max] = LIMITS.callTimeoutMs;
  const ms = m === null ? NaN : Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 'm' ? 60_000 : 1000);
  if (!(ms >= min && ms <= max)) throw new UsageError(`--${what} ${value}: accepted is a time from ${min}ms to ${max / 60_000}m, such as 10s, 500ms or 2m`);
  return Math.round(ms);
}

/**
 * `util.parseArgs` with the messages this tool promises: an unknown option
 * lists the accepted ones, and a value that starts with a dash (`--runs -1`)
 * is taken as the value (then checked) rather than refused as ambiguous.
 */
function parse<O extends Record<string, { type: 'string' | 'boolean'; default?: string; multiple?: boolean }>>(argv: string[], options: O, positionals: boolean) {
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const next = argv[i + 1];
    const name = a.startsWith('--') && !a.includes('=') ? a.slice(2) : null;
    if (name !== null && options[name]?.type === 'string' && next !== undefined && next.startsWith('-') && !next.startsWith('--')) {
      args.push(`${a}=${next}`);
      i++;
    } else args.push(a);
  }
  try {
    return parseArgs({ args, options, allowPositionals: positionals, strict: true });
  } catch (err) {
    const e = err as { code?: string; message: string };
    const accepted = Object.keys(options).map((o) => `--${o}`).join(', ');
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const opt = /'([^']+)'/.exec(e.message)?.[1] ?? e.message;
      throw new UsageError(`unknown option '${opt}': accepted are ${accepted}`);
    }
    if (e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') throw new UsageError(`${e.message.split('\n')[0]} (${USAGE.split('\n')[0]})`);
    if (e.code?.startsWith('ERR_PARSE_ARGS') === true) throw new UsageError(`${e.message.split('\n')[0]} (accepted options: ${accepted})`);
    throw err;
  }
}

/** A file we will write at the end: checked now (an existing directory, writable), so a bad path costs no run. */
function checkOutputFile(opt: string, path: string): string {
  const abs = resolve(path);
  const parent = dirname(abs);
  let st: ReturnType<typeof statSync> | null = null;
  try {
    st = statSync(abs);
  } catch {
    st = null;
  }
  if (st?.isDirectory() === true) throw new UsageError(`--${opt} ${path}: is a directory; accepted is a file path in an existing, writable directory`);
  try {
    if (!statSync(parent).isDirectory()) throw new Error('not a directory');
    if (st === null) {
      closeSync(openSync(abs, 'wx'));
      unlinkSync(abs);
    } else closeSync(openSync(abs, 'r+'));
  } catch (err) {
    throw new UsageError(`--${opt} ${path}: cannot be written (${(err as { code?: string }).code ?? (err as Error).message}); accepted is a file path in an existing, writable directory`);
  }
  return abs;
}

/** The output directory: an existing writable directory, or one that can be created under a writable ancestor. */
function checkOutputDir(opt: string, path: string): string {
  const abs = resolve(path);
  let probe = abs;
  while (!existsSync(probe) && dirname(probe) !== probe) probe = dirname(probe);
  try {
    if (!statSync(probe).isDirectory()) throw Object.assign(new Error(), { code: probe === abs ? 'ENOTDIR (it is a file)' : `ENOTDIR (${probe} is a file)` });
    rmdirSync(mkdtempSync(join(probe, '.dmacheck-probe-')));
  } catch (err) {
    throw new UsageError(`--${opt} ${path}: cannot be created or written (${(err as { code?: string }).code ?? (err as Error).message}); accepted is a writable directory`);
  }
  return abs;
}

/** How the store and traces name a backend: `reference`, or the module's name and a hash of its resolved path. */
function backendKey(info: BackendInfo): string {
  if (info.spec === null) return 'reference';
  const safe = info.name.replace(/[^A-Za-z0-9_.-]+/g, '_').slice(0, 40) || 'backend';
  return `${safe}-${createHash('sha256').update(resolve(info.spec)).digest('hex').slice(0, 8)}`;
}

function traceFile(out: string, info: BackendInfo, property: string, profile: string): string {
  return join(out, 'failures', backendKey(info), `${property}--${profile}.json`);
}

/** How the trace's backend is named in a replay command. */
function backendArg(spec: string | null): string {
  return spec === null ? '' : ` --backend ${spec}`;
}

/**
 * The stored failure of a cell, if any. A file that no longer parses is
 * moved aside (never silently dropped or overwritten) with a warning.
 */
function storedFailure(file: string, warn: (line: string) => void): StoredFailure | null {
  if (!existsSync(file)) return null;
  try {
    const t = parseTrace(readFileSync(file, 'utf8'), file);
    return { file, steps: t.steps, platformSeed: t.platformSeed, seed: t.fastCheck.seed, path: t.fastCheck.path };
  } catch (err) {
    let aside = `${file}.corrupt`;
    for (let n = 2; existsSync(aside); n++) aside = `${file}.corrupt-${n}`;
    renameSync(file, aside);
    warn(`warning: stored failure ${file} is unreadable (${(err as Error).message.split('\n')[0]}); moved to ${aside}`);
    return null;
  }
}

/** Load `--profile-file` through the profile validator and make it known by name. @throws UsageError with the file's first problem */
function loadProfileFile(file: string): PlatformProfile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new UsageError(`--profile-file ${file}: cannot read the file; a JSON platform profile is accepted (see docs/backends.md)`);
  }
  try {
    const p = parseProfileFile(text, `--profile-file ${file}`);
    registerProfile(p);
    return p;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** Probe the backend module in a worker. @throws UsageError when it cannot be used */
async function probeBackend(pool: JobPool, spec: string | null, profiles: readonly string[], userProfiles: readonly PlatformProfile[] = []): Promise<BackendInfo | { hang: string }> {
  const out = await pool.run({ kind: 'probe', backend: spec, profiles, userProfiles });
  if (out.kind === 'hang') return { hang: `--backend ${spec ?? 'reference'}: ${out.call} did not return within ${pool.options.callTimeoutMs / 1000} s while the module was loaded` };
  if (out.kind === 'crash') throw new UsageError(`--backend ${spec ?? 'reference'}: ${out.message}`);
  if (out.kind === 'interrupted') throw new UsageError('interrupted');
  const r = out.result;
  if (r.kind === 'unusable') throw new UsageError(r.problem);
  if (r.kind !== 'probe') throw new Error(`probe answered ${r.kind}`);
  return r.info;
}

/** Turn a job's outcome into its cell (shrinking a hang first). */
async function cellOf(pool: JobPool, job: CheckJob, out: PoolOutcome): Promise<Cell | { unusable: string }> {
  const base = { property: job.property, profile: job.profile, steps: 0, skipped: 0, calls: noCalls(), coverage: {}, unreached: [] };
  if (out.kind === 'interrupted') return { property: job.property, profile: job.profile, verdict: 'interrupted' };
  if (out.kind === 'crash') return { ...base, runs: 0, verdict: 'oops', message: out.message, counterexample: null };
  if (out.kind === 'done') {
    const r: JobResult = out.result;
    if (r.kind === 'unusable') return { unusable: r.problem };
    if (r.kind !== 'check') throw new Error(`check job answered ${r.kind}`);
    return r.result;
  }
  const seconds = pool.options.callTimeoutMs / 1000;
  if (out.steps === null) return { ...base, runs: out.sequences, verdict: 'hang', message: `${out.call} did not return within ${seconds} s`, counterexample: null };
  const devices = job.backend.devices[job.profile]?.attached ?? [];
  const s = await shrinkHang(pool, { kind: 'sequence', backend: job.backend, property: job.property, profile: job.profile, platformSeed: platformSeedOf(job.seed), notes: false, userProfiles: job.userProfiles ?? [] }, { ...out, steps: out.steps }, {
    devices,
    resources: resourceUsers(getProfile(job.profile)),
  });
  const at = s.hang.step === 0 ? 'during setup or teardown' : `at step ${s.hang.step}`;
  return {
    ...base,
    runs: out.sequences,
    verdict: 'hang',
    counterexample: { steps: s.steps, violations: [], oops: `${s.hang.call} did not return within ${seconds} s ${at}`, seed: job.seed, path: '', shrinks: s.shrinks },
  };
}

async function run(argv: string[]): Promise<number> {
  const { values } = parse(
    argv,
    {
      backend: { type: 'string' },
      profile: { type: 'string' },
      property: { type: 'string' },
      runs: { type: 'string' },
      seed: { type: 'string', default: '1' },
      'max-steps': { type: 'string', default: '100' },
      jobs: { type: 'string', default: String(availableParallelism()) },
      'call-timeout': { type: 'string', default: '10s' },
      json: { type: 'string' },
      junit: { type: 'string' },
      coverage: { type: 'boolean' },
      misuse: { type: 'boolean' },
      out: { type: 'string', default: '.dmacheck' },
      device: { type: 'string' },
      'profile-file': { type: 'string', multiple: true },
    },
    false,
  );
  const userProfiles = (values['profile-file'] ?? []).map(loadProfileFile);
  const profiles = list(values.profile, profileNames(), 'profile');
  const allDevices = [...new Set(profiles.flatMap((p) => getProfile(p).devices.map((d) => d.name)))];
  const onlyDevices = values.device === undefined ? null : list(values.device, allDevices, 'device');
  const propNames = list(values.property, PROPERTIES.map((p) => p.name), 'property');
  // Without --runs each property runs its own default budget (`Property.runs`), measured so the fixtures are found.
  const runsOption = values.runs === undefined ? null : int(values.runs, 'runs', LIMITS.runs);
  const runsOf = (property: string): number => runsOption ?? findProperty(property)?.runs ?? DEFAULT_RUNS;
  const seed = int(values.seed, 'seed', LIMITS.seed);
  const maxSteps = int(values['max-steps'], 'max-steps', LIMITS.maxSteps);
  const jobs = int(values.jobs, 'jobs', LIMITS.jobs);
  const callTimeoutMs = duration(values['call-timeout'], 'call-timeout');
  const json = values.json === undefined ? null : checkOutputFile('json', values.json);
  const junitFile = values.junit === undefined ? null : checkOutputFile('junit', values.junit);
  const out = checkOutputDir('out', values.out);
  const spec = values.backend === undefined || values.backend === 'reference' ? null : values.backend;
  if (spec !== null && !existsSync(spec)) throw new UsageError(`--backend ${spec}: no such file (accepted: 'reference' or a path to a .ts/.js module)`);

  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const pool = new JobPool({ workerFile: WORKER, threads: jobs, callTimeoutMs });
  let interrupted = false;
  const onSigint = (): void => {
    interrupted = true;
    pool.interrupt();
  };
  process.once('SIGINT', onSigint);
  const bar = process.stderr.isTTY
    ? new cliProgress.SingleBar({ format: ' {bar} {percentage}% | {value}/{total} runs', stream: process.stderr, hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic)
    : null;
  try {
    const probed = await probeBackend(pool, spec, profiles, userProfiles);
    if ('hang' in probed) {
      process.stdout.write(`dmacheck run: ${probed.hang}\n`);
      return 1;
    }
    // --device: drive only the named devices (each profile keeps those it has).
    const info: BackendInfo =
      onlyDevices === null
        ? probed
        : { ...probed, devices: Object.fromEntries(Object.entries(probed.devices).map(([p, d]) => [p, { attached: d.attached.filter((x) => onlyDevices.includes(x)), refused: d.refused }])) };
    process.stdout.write(`dmacheck run: backend=${info.name} profiles=${profiles.join(',')} runs=${runsOption ?? 'per property'} seed=${seed} jobs=${jobs}\n`);
    for (const [profile, d] of Object.entries(info.devices)) for (const r of d.refused) process.stdout.write(`note: ${profile}: the backend refused ${r.dev} (${r.why}); it is left out\n`);

    // Plan: one job per applicable cell, in table order.
    const cells: (Cell | null)[] = [];
    const planned: { index: number; job: CheckJob }[] = [];
    for (const profile of profiles) {
      for (const name of propNames) {
        const property = findProperty(name);
        if (property === undefined) throw new Error(`unknown property ${name}`);
        const devices = info.devices[profile];
        const reason =
          devices === undefined
            ? `backend does not support ${profile}`
            : devices.attached.length === 0
              ? `backend attaches no ${onlyDevices === null ? '' : 'selected '}device of ${profile}`
              : whyNot(property, { profile: getProfile(profile), capabilities: info.capabilities });
        if (reason !== null) {
          cells.push({ property: name, profile, verdict: 'n/a', reason });
          continue;
        }
        const file = traceFile(out, info, name, profile);
        const stored = storedFailure(file, (line) => process.stdout.write(`${line}\n`));
        if (stored !== null) process.stdout.write(`replaying stored failure ${file}${stored.seed === seed ? '' : ` (recorded with --seed ${stored.seed}; new sequences use --seed ${seed})`}\n`);
        planned.push({ index: cells.length, job: { kind: 'check', backend: info, property: name, profile, runs: runsOf(name), seed, maxSteps, stored, userProfiles, misuse: values.misuse === true } });
        cells.push(null);
      }
    }
    if (planned.length === 0) {
      const reasons = [...new Set(cells.map((c) => (c !== null && c.verdict === 'n/a' ? c.reason : '')))].filter((r) => r !== '');
      throw new UsageError(`nothing to check: every property is n/a (${reasons.slice(0, 3).join('; ')})`);
    }

    const progress = new Map<number, number>();
    bar?.start(planned.reduce((n, p) => n + p.job.runs, 0), 0);
    const report = () => bar?.update([...progress.values()].reduce((a, b) => a + b, 0));
    const results = await Promise.all(
      planned.map(async ({ index, job }) => {
        const o = await pool.run(job, (n) => {
          progress.set(index, Math.min(n, job.runs));
          report();
        });
        const c = await cellOf(pool, job, o);
        progress.set(index, job.runs);
        report();
        return { index, job, cell: c };
      }),
    );
    bar?.stop();
    const unusable = results.find((r) => 'unusable' in r.cell);
    if (unusable !== undefined && 'unusable' in unusable.cell) throw new UsageError(unusable.cell.unusable);

    const reports: string[] = [];
    for (const { index, job, cell } of results) {
      const c = cell as Cell;
      cells[index] = c;
      const file = traceFile(out, info, job.property, job.profile);
      if (c.verdict === 'interrupted') continue;
      if (failed(c)) {
        const r = c as CheckResult;
        const ce = r.counterexample;
        if (ce !== null) {
          mkdirSync(dirname(file), { recursive: true });
          const trace = makeTrace({ property: job.property, profile: job.profile, backend: spec ?? 'reference', fastCheck: { seed: ce.seed, path: ce.path }, platformSeed: platformSeedOf(ce.seed), steps: ce.steps });
          writeFileSync(file, serializeTrace(trace));
        }
        reports.push(renderFailure(r, ce === null ? null : file, ce === null ? null : `npx dmacheck replay ${file}${backendArg(spec)}`));
      } else if (job.stored !== null) {
        process.stdout.write(`fixed: ${job.property} on ${job.profile}: stored failure ${file} now passes; removed\n`);
        rmSync(file, { force: true });
      }
    }
    const final = cells.filter((c): c is Cell => c !== null);
    for (const f of reports) process.stdout.write(`\n${f}`);
    process.stdout.write(`\n${renderTable(final, propNames, profiles)}`);
    if (values.coverage === true) process.stdout.write(`\n${renderCoverage(final, profiles)}`);
    const wall = (performance.now() - t0) / 1000;
    const cpuTime = process.cpuUsage(cpu0);
    const cpuSeconds = (cpuTime.user + cpuTime.system) / 1e6;
    process.stdout.write(`time: ${wall.toFixed(1)} s wall, ${cpuSeconds.toFixed(1)} s CPU, ${jobs} worker${jobs === 1 ? '' : 's'}\n`);
    if (json !== null) {
      const doc = { backend: info.name, backendModule: spec, seed, runs: runsOption ?? 'per property', maxSteps, jobs, wallSeconds: Number(wall.toFixed(3)), cpuSeconds: Number(cpuSeconds.toFixed(3)), cells: final.map(jsonCell) };
      writeFileSync(json, `${JSON.stringify(doc, null, 2)}\n`);
    }
    if (junitFile !== null) writeFileSync(junitFile, junitReport(final, profiles, propNames));
    if (interrupted) {
      if (process.stderr.isTTY) process.stderr.write('\x1b[?25h');
      process.stdout.write('interrupted: the table shows the cells that finished\n');
      return 130;
    }
    return final.some(failed) ? 1 : 0;
  } finally {
    bar?.stop();
    process.removeListener('SIGINT', onSigint);
    await pool.destroy();
  }
}

function jsonCell(c: Cell): unknown {
  if (c.verdict === 'n/a' || c.verdict === 'interrupted') return c;
  const ce = c.counterexample;
  return {
    property: c.property,
    profile: c.profile,
    runs: c.runs,
    steps: c.steps,
    skipped: c.skipped,
    calls: c.calls,
    coverage: c.coverage,
    unreached: c.unreached,
    verdict: c.verdict,
    ...(c.message === undefined ? {} : { message: c.message }),
    ...(ce === null
      ? {}
      : { violations: ce.violations.map((v) => ({ property: v.property, check: v.check, level: v.level, rules: v.rules, step: v.at.index, message: v.message })), oops: ce.oops, seed: ce.seed, path: ce.path, trace: ce.steps }),
  };
}

/** The run as JUnit XML: a test suite per profile, a test case per property (n/a ones skipped). */
function junitReport(cells: readonly Cell[], profiles: readonly string[], properties: readonly string[]): string {
  // The package's default export is a builder at run time; its types describe the CommonJS wrapper.
  const b = (junitModule as unknown as JUnitBuilder).newBuilder();
  for (const profile of profiles) {
    const suite = b.testSuite().name(`dmacheck ${profile}`);
    for (const p of properties) {
      const c = cells.find((x) => x.property === p && x.profile === profile);
      if (c === undefined) continue;
      const tc = suite.testCase().className(`dmacheck.${profile}`).name(p);
      if (c.verdict === 'n/a') tc.skipped();
      else if (c.verdict === 'interrupted') tc.error('interrupted');
      else if (failed(c)) tc.failure(c.counterexample?.violations[0]?.message ?? c.counterexample?.oops ?? c.message ?? c.verdict, c.verdict);
    }
  }
  return b.build();
}

async function replay(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { backend: { type: 'string' }, 'call-timeout': { type: 'string', default: '10s' }, 'profile-file': { type: 'string', multiple: true } }, true);
  const [file, extra] = positionals;
  if (file === undefined || extra !== undefined) throw new UsageError(`replay takes one trace file, got ${positionals.length}: ${USAGE.split('\n')[1]?.trim()}`);
  const callTimeoutMs = duration(values['call-timeout'], 'call-timeout');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new UsageError(`${file}: cannot read the trace file; a path to a dmacheck trace JSON is accepted`);
  }
  let trace: Trace;
  try {
    trace = parseTrace(text, file);
  } catch (err) {
    if (err instanceof TraceError) throw new UsageError(err.message);
    throw err;
  }
  const userProfiles = (values['profile-file'] ?? []).map(loadProfileFile);
  if (!profileNames().includes(trace.profile)) throw new UsageError(`${file}: profile ${trace.profile}: accepted are ${profileNames().join(', ')} (a profile of your own needs --profile-file)`);
  const devices = getProfile(trace.profile).devices.map((d) => d.name);
  for (const s of trace.steps) {
    if ('dev' in s && !devices.includes(s.dev)) throw new UsageError(`${file}: device ${s.dev} is not on ${trace.profile}: accepted are ${devices.join(', ')}`);
  }
  const given = values.backend ?? (trace.backend === 'reference' ? undefined : trace.backend);
  const spec = given === undefined || given === 'reference' ? null : given;
  if (spec !== null && !existsSync(spec)) throw new UsageError(`--backend ${spec}: no such file (accepted: 'reference' or a path to a .ts/.js module)`);
  const pool = new JobPool({ workerFile: WORKER, threads: 1, callTimeoutMs });
  try {
    const info = await probeBackend(pool, spec, [trace.profile], userProfiles);
    if ('hang' in info) {
      process.stdout.write(`${info.hang}\n`);
      return 1;
    }
    if (info.devices[trace.profile] === undefined) throw new UsageError(`${file}: backend ${info.name} does not support ${trace.profile}`);
    const o = await pool.run({ kind: 'sequence', backend: info, property: null, profile: trace.profile, platformSeed: trace.platformSeed, steps: trace.steps, notes: true, userProfiles });
    process.stdout.write(`dmacheck replay: ${file} on backend=${info.name} profile=${trace.profile}${trace.property === null ? '' : ` (recorded for ${trace.property})`}\n`);
    if (o.kind === 'hang') {
      process.stdout.write(`${renderListing(trace.steps, [])}\n${pc.red(`✗ hang: ${o.call} did not return within ${callTimeoutMs / 1000} s at step ${o.step}`)}\n`);
      return 1;
    }
    if (o.kind !== 'done') {
      process.stdout.write(pc.red(`✗ ${o.kind === 'crash' ? o.message : 'interrupted'}\n`));
      return o.kind === 'crash' ? 1 : 130;
    }
    const r = o.result;
    if (r.kind === 'unusable') throw new UsageError(r.problem);
    if (r.kind !== 'sequence') throw new Error(`replay answered ${r.kind}`);
    process.stdout.write(`${renderListing(trace.steps, r.violations, new Map(r.notes?.map(([i, n]) => [i, [...n]]) ?? []))}\n`);
    if (r.violations.length === 0 && (!r.result.halted || r.result.oopsByMisuse === true)) {
      process.stdout.write(pc.green(`every property holds (${r.result.executed} steps executed, ${r.result.skipped} skipped)\n`));
      return 0;
    }
    for (const v of r.violations) process.stdout.write(`\n${pc.red(`✗ ${v.property}`)} at step ${v.at.index === 0 ? 'teardown' : v.at.index}: ${v.message}\nrules:\n${describeRules(v)}\n`);
    if (r.result.halted) process.stdout.write(`\n${pc.red(`✗ oops: ${r.result.oops ?? 'the backend halted'}`)}\n`);
    return 1;
  } finally {
    await pool.destroy();
  }
}

function explain(argv: string[]): number {
  const [what, extra] = argv;
  if (what === undefined || extra !== undefined) throw new UsageError(`explain takes one rule id or property: ${USAGE.split('\n')[2]?.trim()}`);
  if (isRuleId(what)) {
    const r = RULES[what];
    const by = PROPERTIES.flatMap((p) => p.checks.filter((c) => c.rules.includes(what)).map((c) => `${p.name}/${c.id} (${c.level})`));
    process.stdout.write(`${what} (${r.group}): ${r.clause}\nsource: ${r.source}\nenforced by: ${by.length === 0 ? 'no property yet' : by.join(', ')}\n`);
    return 0;
  }
  const p = findProperty(what);
  if (p === undefined) throw new UsageError(`explain ${what}: accepted are a rule id R1..R${Object.keys(RULES).length} or a property: ${PROPERTIES.map((x) => x.name).join(', ')}`);
  const lines = [`${p.name}: ${p.summary}`, 'checks:'];
  for (const c of p.checks) {
    lines.push(`  ${c.id} [level=${c.level}]: ${c.summary}`);
    for (const r of c.rules) lines.push(`    ${r}: ${RULES[r].clause} [${RULES[r].source}]`);
    if (c.see !== undefined) lines.push(`    see ${c.see}`);
    if (c.latitude !== undefined) lines.push(`    allows: ${c.latitude}`);
  }
  lines.push('levels: contract = what the DMA API documents (every backend); linux = what Linux chooses; hardening = refusals beyond the kernel. A backend is held to the levels it declares in capabilities.levels (default contract).');
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

/**
 * `dmacheck check-types <module>`: type-check a backend module (and what it
 * imports) with the project's compiler options, or check a `.wasm` module
 * against the ABI. Exit 0 when it is clean; exit 2 with the compiler's (or
 * the ABI check's) first error otherwise.
 */
async function checkTypes(argv: string[]): Promise<number> {
  const [file, extra] = argv;
  if (file === undefined || extra !== undefined) throw new UsageError(`check-types takes one backend module: ${USAGE.split('\n')[3]?.trim()}`);
  if (!existsSync(file)) throw new UsageError(`check-types ${file}: no such file; a path to a .ts backend module or a .wasm module is accepted`);
  if (file.endsWith('.wasm')) {
    // A wasm module has no TypeScript types: check it against the ABI (exports, signatures, capabilities) instead.
    try {
      const f = loadWasmBackend(resolve(file));
      process.stdout.write(`check-types: ${file} conforms to the wasm ABI v${WASM_ABI_VERSION} of include/dmacheck.h (${f.name}: ${f.capabilities.calls.length} calls)\n`);
      return 0;
    } catch (err) {
      if (err instanceof WasmBackendError) throw new UsageError(`check-types ${file}: ${err.message}`);
      throw err;
    }
  }
  const ts = (await import('typescript')).default;
  const options: import('typescript').CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ['lib.es2022.d.ts'],
    types: ['node'],
    strict: true,
    noUncheckedIndexedAccess: true,
    exactOptionalPropertyTypes: true,
    allowImportingTsExtensions: true,
    noEmit: true,
    skipLibCheck: true,
    isolatedModules: true,
  };
  const program = ts.createProgram([resolve(file)], options);
  const diagnostics = ts.getPreEmitDiagnostics(program).filter((d) => d.category === ts.DiagnosticCategory.Error);
  const first = diagnostics[0];
  if (first === undefined) {
    process.stdout.write(`check-types: ${file} type-checks (${program.getSourceFiles().filter((f) => !f.isDeclarationFile).length} files)\n`);
    return 0;
  }
  const text = ts.flattenDiagnosticMessageText(first.messageText, ' ');
  const where = first.file === undefined ? '' : `${relative(process.cwd(), first.file.fileName)}(${first.file.getLineAndCharacterOfPosition(first.start ?? 0).line + 1}): `;
  throw new UsageError(`check-types ${file}: ${where}error TS${first.code}: ${text}${diagnostics.length > 1 ? ` (and ${diagnostics.length - 1} more)` : ''}`);
}

/** `dmacheck kernel-check`: the differential run against Linux in QEMU (src/cli/kernel-check.ts). */
async function kernelCheckCommand(argv: string[]): Promise<number> {
  const { values } = parse(
    argv,
    {
      arch: { type: 'string', default: 'x86_64' },
      runs: { type: 'string', default: '200' },
      seed: { type: 'string', default: '1' },
      'max-steps': { type: 'string', default: '40' },
      model: { type: 'string', default: 'reference' },
      trace: { type: 'string' },
      out: { type: 'string', default: '.dmacheck' },
    },
    false,
  );
  if (values.arch !== 'x86_64' && values.arch !== 'arm64') throw new UsageError(`--arch ${values.arch}: accepted are x86_64, arm64`);
  const runs = int(values.runs, 'runs', [1, 100_000]);
  const seed = int(values.seed, 'seed', LIMITS.seed);
  const maxSteps = int(values['max-steps'], 'max-steps', [1, 1000]);
  if (values.model !== 'reference' && values.model !== 'mainline' && !existsSync(values.model)) throw new UsageError(`--model ${values.model}: no such file (accepted: 'reference' (as the booted release behaved), 'mainline', or a path to a backend module)`);
  if (values.trace !== undefined && !existsSync(values.trace)) throw new UsageError(`--trace ${values.trace}: no such file; a dmacheck trace is accepted`);
  const out = checkOutputDir('out', values.out);
  try {
    return await kernelCheck({ arch: values.arch, runs, seed, maxSteps, model: values.model, trace: values.trace ?? null, out, write: (s) => process.stdout.write(s) });
  } catch (err) {
    if (err instanceof KernelCheckError) throw new UsageError(err.message);
    throw err;
  }
}

/**
 * `dmacheck fuzz`: misuse mode on every profile, ending with the
 * consequence matrix (misuse × profile: what happened, and whether
 * dma-debug reported it), one shrunk example trace per cell written under
 * `--out`, and the same data with `--json`. Exit 1 when dma-debug reported a
 * legal step, memory no misuse touched broke a property, or the backend
 * hung or crashed; else 0.
 */
async function fuzzCommand(argv: string[]): Promise<number> {
  const { values } = parse(
    argv,
    {
      backend: { type: 'string' },
      profile: { type: 'string' },
      runs: { type: 'string', default: '200' },
      seed: { type: 'string', default: '1' },
      'max-steps': { type: 'string', default: '100' },
      jobs: { type: 'string', default: String(availableParallelism()) },
      'call-timeout': { type: 'string', default: '10s' },
      json: { type: 'string' },
      out: { type: 'string', default: '.dmacheck' },
      'profile-file': { type: 'string', multiple: true },
    },
    false,
  );
  const userProfiles = (values['profile-file'] ?? []).map(loadProfileFile);
  const profiles = list(values.profile, profileNames(), 'profile');
  const runs = int(values.runs, 'runs', LIMITS.runs);
  const seed = int(values.seed, 'seed', LIMITS.seed);
  const maxSteps = int(values['max-steps'], 'max-steps', LIMITS.maxSteps);
  const jobs = int(values.jobs, 'jobs', LIMITS.jobs);
  const callTimeoutMs = duration(values['call-timeout'], 'call-timeout');
  const json = values.json === undefined ? null : checkOutputFile('json', values.json);
  const out = checkOutputDir('out', values.out);
  const spec = values.backend === undefined || values.backend === 'reference' ? null : values.backend;
  if (spec !== null && !existsSync(spec)) throw new UsageError(`--backend ${spec}: no such file (accepted: 'reference' or a path to a .ts/.js/.wasm module)`);
  const t0 = performance.now();
  const pool = new JobPool({ workerFile: WORKER, threads: jobs, callTimeoutMs });
  try {
    const info = await probeBackend(pool, spec, profiles, userProfiles);
    if ('hang' in info) {
      process.stdout.write(`dmacheck fuzz: ${info.hang}\n`);
      return 1;
    }
    const usable = profiles.filter((p) => (info.devices[p]?.attached.length ?? 0) > 0);
    if (usable.length === 0) throw new UsageError(`nothing to fuzz: --backend ${spec ?? 'reference'} attaches no device of ${profiles.join(', ')}`);
    process.stdout.write(`dmacheck fuzz: backend=${info.name} profiles=${usable.join(',')} runs=${runs} seed=${seed} jobs=${jobs}\n`);
    const outcomes = await Promise.all(usable.map(async (profile) => ({ profile, out: await pool.run({ kind: 'fuzz', backend: info, profile, runs, seed, maxSteps, userProfiles }) })));
    const results: FuzzResult[] = [];
    const problems: string[] = [];
    const files: Record<string, Record<string, Record<string, string>>> = {};
    for (const { profile, out: o } of outcomes) {
      if (o.kind === 'done' && o.result.kind === 'unusable') throw new UsageError(o.result.problem);
      if (o.kind !== 'done' || o.result.kind !== 'fuzz') {
        problems.push(`${profile}: ${o.kind === 'hang' ? `hang: ${o.call} did not return within ${callTimeoutMs / 1000} s at step ${o.step}` : o.kind === 'crash' ? `crash: ${o.message}` : o.kind}`);
        continue;
      }
      const r = o.result.result;
      results.push(r);
      for (const row of r.rows) {
        for (const [outcome, ex] of Object.entries(row.examples)) {
          const file = join(out, 'fuzz', backendKey(info), profile, `${row.misuse}--${outcome.replace(/[^a-z]+/gi, '-')}.json`);
          mkdirSync(dirname(file), { recursive: true });
          writeFileSync(file, serializeTrace(makeTrace({ property: 'debug-flags-misuse', profile, backend: spec ?? 'reference', fastCheck: { seed, path: '' }, platformSeed: ex.platformSeed, steps: ex.steps })));
          ((files[profile] ??= {})[row.misuse] ??= {})[outcome] = file;
        }
      }
      for (const f of r.falseReports) problems.push(`${profile}: dma-debug reported a legal step: ${f}`);
      for (const v of r.violations) problems.push(`${profile}: ${v.property} violated on memory no misuse touched: ${v.message} [step=${v.at.index}]`);
    }
    process.stdout.write(`\n${renderFuzzMatrix(results)}`);
    process.stdout.write('cell: what the misuse led to, in how many of its executions; dma-debug: the check built to report it, and how often it did (blind: dma-debug cannot see this misuse)\n');
    process.stdout.write(`example traces (one per cell and outcome, shrunk): ${join(out, 'fuzz', backendKey(info))}/<profile>/<misuse>--<outcome>.json; replay one with npx dmacheck replay <file>${backendArg(spec)}\n`);
    for (const p of problems) process.stdout.write(`${pc.red('✗')} ${p}\n`);
    const steps = results.reduce((n, r) => n + r.steps, 0);
    process.stdout.write(`total: ${usable.length} profiles · ${runs * results.length} sequences · ${steps.toLocaleString('en-US')} steps · ${problems.length} problem${problems.length === 1 ? '' : 's'}\ntime: ${((performance.now() - t0) / 1000).toFixed(1)} s wall, ${jobs} worker${jobs === 1 ? '' : 's'}\n`);
    if (json !== null) writeFileSync(json, `${JSON.stringify({ backend: info.name, backendModule: spec, runs, seed, maxSteps, results: results.map((r) => ({ ...r, rows: r.rows.map((row) => ({ ...row, exampleFiles: files[r.profile]?.[row.misuse] ?? {} })) })), problems }, null, 2)}\n`);
    return problems.length > 0 ? 1 : 0;
  } finally {
    await pool.destroy();
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === 'run') return await run(rest);
    if (command === 'replay') return await replay(rest);
    if (command === 'explain') return explain(rest);
    if (command === 'check-types') return await checkTypes(rest);
    if (command === 'kernel-check') return await kernelCheckCommand(rest);
    if (command === 'fuzz') return await fuzzCommand(rest);
    throw new UsageError(`unknown command '${command ?? ''}': accepted are run, fuzz, replay, explain, check-types, kernel-check\n${USAGE}`);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`dmacheck: ${err.message.split('\n')[0]}\n`);
      return 2;
    }
    throw err;
  }
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
