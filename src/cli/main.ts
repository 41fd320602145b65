/**
 * Not a kernel mirror: the `dmacheck` command line.
 *
 * - `dmacheck run` runs every property on every profile against a backend
 *   (default: the reference), with a progress bar on a terminal, and ends
 *   with the verdict table. A violation prints the property, its rules, the
 *   evidence, the shrunk trace and the one command that replays it, and
 *   writes the trace under `--out` (default `.dmacheck/`); stored failures
 *   are replayed first on the next run, before any new random sequence.
 * - `dmacheck replay <trace>` replays a trace on its backend or `--backend`,
 *   printing each step with what the oracle expected and saw.
 * - `dmacheck explain <rule-id | property>` prints a rule's clause and the
 *   properties enforcing it, or a property's summary and rules.
 *
 * Exit codes: 0 everything holds; 1 a violation; 2 bad input, with one line
 * naming the bad value and what is accepted.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import pc from 'picocolors';
import { PROPERTIES, findProperty } from '../../properties/index.ts';
import { RULES, isRuleId } from '../../spec/rules.ts';
import type { BackendFactory } from '../backend/backend.ts';
import { BackendLoadError, loadBackend } from '../backend/loader.ts';
import type { Property } from '../conformance/property.ts';
import { type Cell, describeRules, observationNotes, renderListing, renderTable, sessionNotes } from '../conformance/report.ts';
import { type CheckResult, checkProperty, platformSeedOf, runSequence } from '../conformance/runner.ts';
import { type Trace, TraceError, makeTrace, parseTrace, serializeTrace } from '../conformance/trace.ts';
import { PROFILES, getProfile } from '../platform/profiles.ts';

const USAGE = [
  'usage: dmacheck run [--backend <module>] [--profile <name>[,<name>]] [--property <name>[,<name>]] [--runs <n>] [--seed <n>] [--max-steps <n>] [--json <file>] [--out <dir>]',
  '       dmacheck replay <trace.json> [--backend <module>]',
  '       dmacheck explain <rule-id | property>',
].join('\n');

/** Bad input: one line, exit code 2. */
class UsageError extends Error {}

function list(value: string | undefined, accepted: readonly string[], what: string): string[] {
  if (value === undefined) return [...accepted];
  const names = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const n of names) if (!accepted.includes(n)) throw new UsageError(`--${what} ${n}: accepted are ${accepted.join(', ')}`);
  if (names.length === 0) throw new UsageError(`--${what} is empty: accepted are ${accepted.join(', ')}`);
  return names;
}

function positiveInt(value: string, what: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new UsageError(`--${what} ${value}: a positive integer is accepted`);
  return n;
}

async function backendOf(spec: string | undefined): Promise<BackendFactory> {
  try {
    return await loadBackend(spec);
  } catch (err) {
    if (err instanceof BackendLoadError) throw new UsageError(err.message);
    throw err;
  }
}

/** How the trace's backend is named in a replay command. */
function backendArg(spec: string | undefined): string {
  return spec === undefined ? '' : ` --backend ${spec}`;
}

function traceFile(out: string, property: string, profile: string): string {
  return join(out, 'failures', `${property}--${profile}.json`);
}

function report(r: CheckResult, file: string, spec: string | undefined): string {
  const ce = r.counterexample;
  if (ce === null) return '';
  const first = ce.violations[0];
  const lines = [
    pc.red(pc.bold(`✗ ${r.property} violated on ${r.profile}`)) + ` (run ${r.runs}, shrunk ${ce.shrinks} times to ${ce.steps.length} steps)`,
  ];
  if (first !== undefined) {
    lines.push(`rules:\n${describeRules(first)}`);
    lines.push(`evidence: ${first.message}`);
  } else lines.push('evidence: none on re-run (the failure is not deterministic: please report it)');
  lines.push('trace:', renderListing(ce.steps, ce.violations));
  lines.push(`trace written to ${file}`);
  lines.push(`replay: npx dmacheck replay ${file}${backendArg(spec)}`);
  return `${lines.join('\n')}\n`;
}

async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      backend: { type: 'string' },
      profile: { type: 'string' },
      property: { type: 'string' },
      runs: { type: 'string', default: '100' },
      seed: { type: 'string', default: '1' },
      'max-steps': { type: 'string', default: '100' },
      json: { type: 'string' },
      out: { type: 'string', default: '.dmacheck' },
    },
  });
  const profiles = list(values.profile, Object.keys(PROFILES), 'profile');
  const propNames = list(values.property, PROPERTIES.map((p) => p.name), 'property');
  const runs = positiveInt(values.runs, 'runs');
  const seed = Number(values.seed);
  if (!/^-?\d+$/.test(values.seed) || !Number.isSafeInteger(seed)) throw new UsageError(`--seed ${values.seed}: an integer is accepted`);
  const maxSteps = positiveInt(values['max-steps'], 'max-steps');
  const factory = await backendOf(values.backend);
  const properties = propNames.map((n) => findProperty(n) as Property);
  const out = values.out;

  process.stdout.write(`dmacheck run: backend=${factory.name} profiles=${profiles.join(',')} runs=${runs} seed=${seed}\n`);
  const bar = process.stderr.isTTY ? new cliProgress.SingleBar({ format: ' {bar} {percentage}% | {cell} | {value}/{total} runs', stream: process.stderr, hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic) : null;
  const cellsToRun = profiles.length * properties.length;
  bar?.start(cellsToRun * runs, 0, { cell: '' });
  const t0 = performance.now();
  const cells: Cell[] = [];
  const failures: string[] = [];
  let done = 0;
  for (const profile of profiles) {
    for (const property of properties) {
      const reason = property.needs({ profile: getProfile(profile), capabilities: factory.capabilities }) ?? (factory.capabilities.profiles !== 'all' && !factory.capabilities.profiles.includes(profile) ? `backend does not support ${profile}` : null);
      if (reason !== null) {
        cells.push({ property: property.name, profile, verdict: 'n/a', reason });
        done += runs;
        bar?.update(done, { cell: `${property.name} on ${profile}` });
        continue;
      }
      const file = traceFile(out, property.name, profile);
      let result = regression(file, property, profile, factory);
      if (result === null) {
        let k = 0;
        result = checkProperty({
          property,
          profile,
          backend: factory,
          runs,
          seed,
          maxSteps,
          onSequence: () => {
            if (k < runs) bar?.update(done + ++k, { cell: `${property.name} on ${profile}` });
          },
        });
      }
      done += runs;
      bar?.update(done);
      cells.push(result);
      if (result.verdict === 'violated' && result.counterexample !== null) {
        mkdirSync(join(out, 'failures'), { recursive: true });
        const trace = makeTrace({ property: property.name, profile, backend: values.backend ?? 'reference', fastCheck: { seed: result.counterexample.seed, path: result.counterexample.path }, platformSeed: platformSeedOf(result.counterexample.seed), steps: result.counterexample.steps });
        writeFileSync(file, serializeTrace(trace));
        failures.push(report(result, file, values.backend));
      } else if (existsSync(file)) rmSync(file);
    }
  }
  bar?.stop();
  const seconds = (performance.now() - t0) / 1000;
  for (const f of failures) process.stdout.write(`\n${f}`);
  process.stdout.write(`\n${renderTable(cells, propNames, profiles, seconds)}`);
  if (values.json !== undefined) {
    const doc = { backend: factory.name, seed, runs, maxSteps, seconds: Number(seconds.toFixed(3)), cells: cells.map(jsonCell) };
    writeFileSync(values.json, `${JSON.stringify(doc, null, 2)}\n`);
  }
  return cells.some((c) => c.verdict === 'violated') ? 1 : 0;
}

function jsonCell(c: Cell): unknown {
  if (c.verdict === 'n/a') return c;
  const ce = c.counterexample;
  return {
    property: c.property,
    profile: c.profile,
    runs: c.runs,
    steps: c.steps,
    skipped: c.skipped,
    verdict: c.verdict,
    ...(ce === null ? {} : { violations: ce.violations.map((v) => ({ property: v.property, rules: v.rules, step: v.at.index, message: v.message })), seed: ce.seed, path: ce.path, trace: ce.steps }),
  };
}

/**
 * Replay a stored failure for this property and profile first (the
 * regression store). @returns a violated result when it still fails, else null
 */
function regression(file: string, property: Property, profile: string, factory: BackendFactory): CheckResult | null {
  if (!existsSync(file)) return null;
  let trace: Trace;
  try {
    trace = parseTrace(readFileSync(file, 'utf8'), file);
  } catch {
    return null;
  }
  const outcome = runSequence(trace.steps, { profile, backend: factory, platformSeed: trace.platformSeed, properties: [property] });
  if (outcome.violations.length === 0) return null;
  return {
    property: property.name,
    profile,
    runs: 1,
    steps: outcome.result.executed,
    skipped: outcome.result.skipped,
    verdict: 'violated',
    counterexample: { steps: trace.steps, violations: outcome.violations, seed: trace.fastCheck.seed, path: trace.fastCheck.path, shrinks: 0 },
  };
}

async function replay(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { backend: { type: 'string' } } });
  const [file, extra] = positionals;
  if (file === undefined || extra !== undefined) throw new UsageError(`replay takes one trace file, got ${positionals.length}: ${USAGE.split('\n')[1]?.trim()}`);
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
  if (PROFILES[trace.profile] === undefined) throw new UsageError(`${file}: profile ${trace.profile}: accepted are ${Object.keys(PROFILES).join(', ')}`);
  const spec = values.backend ?? (trace.backend === 'reference' ? undefined : trace.backend);
  const factory = await backendOf(spec);
  const devices = getProfile(trace.profile).devices.map((d) => d.name);
  for (const s of trace.steps) {
    if ('dev' in s && !devices.includes(s.dev)) throw new UsageError(`${file}: device ${s.dev} is not on ${trace.profile}: accepted are ${devices.join(', ')}`);
  }
  const notes = observationNotes();
  const outcome = runSequence(trace.steps, { profile: trace.profile, backend: factory, platformSeed: trace.platformSeed, properties: PROPERTIES, observe: (o) => notes.observe(o) });
  sessionNotes(outcome.result, notes.notes);
  process.stdout.write(`dmacheck replay: ${file} on backend=${factory.name} profile=${trace.profile}${trace.property === null ? '' : ` (recorded for ${trace.property})`}\n`);
  process.stdout.write(`${renderListing(trace.steps, outcome.violations, notes.notes)}\n`);
  if (outcome.violations.length === 0) {
    process.stdout.write(pc.green(`every property holds (${outcome.result.executed} steps executed, ${outcome.result.skipped} skipped)\n`));
    return 0;
  }
  for (const v of outcome.violations) process.stdout.write(`\n${pc.red(`✗ ${v.property}`)} at step ${v.at.index === 0 ? 'teardown' : v.at.index}: ${v.message}\nrules:\n${describeRules(v)}\n`);
  return 1;
}

function explain(argv: string[]): number {
  const [what, extra] = argv;
  if (what === undefined || extra !== undefined) throw new UsageError(`explain takes one rule id or property: ${USAGE.split('\n')[2]?.trim()}`);
  if (isRuleId(what)) {
    const r = RULES[what];
    const by = PROPERTIES.filter((p) => p.rules.includes(what)).map((p) => p.name);
    process.stdout.write(`${what} (${r.group}): ${r.clause}\nsource: ${r.source}\nenforced by: ${by.length === 0 ? 'no property yet' : by.join(', ')}\n`);
    return 0;
  }
  const p = findProperty(what);
  if (p === undefined) throw new UsageError(`explain ${what}: accepted are a rule id R1..R${Object.keys(RULES).length} or a property: ${PROPERTIES.map((x) => x.name).join(', ')}`);
  process.stdout.write(`${p.name}: ${p.summary}\nrules:\n${p.rules.map((r) => `  ${r}: ${RULES[r].clause} [${RULES[r].source}]`).join('\n')}\n`);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === 'run') return await run(rest);
    if (command === 'replay') return await replay(rest);
    if (command === 'explain') return explain(rest);
    throw new UsageError(`unknown command '${command ?? ''}': accepted are run, replay, explain\n${USAGE}`);
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true) {
      process.stderr.write(`dmacheck: ${(err as Error).message.split('\n')[0]}\n`);
      return 2;
    }
    throw err;
  }
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
