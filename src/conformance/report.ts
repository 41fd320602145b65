/**
 * Not a kernel mirror: what `dmacheck` prints. The verdict table (property ×
 * profile), the failure report (property, rules with their clauses, the
 * evidence, the shrunk trace, the replay command), the annotated replay
 * listing, and the JSON report. Tables are rendered by cli-table3 and
 * colours come from picocolors (off when the output is not a terminal).
 */
import Table from 'cli-table3';
import pc from 'picocolors';
import { RULES } from '../../spec/rules.ts';
import { hex } from '../platform/types.ts';
import { PATHS } from './coverage.ts';
import { type Observation, type Violation, firstMismatch } from './oracle.ts';
import type { CheckResult } from './runner.ts';
import type { SessionResult } from './session.ts';
import { type Step, formatStep } from './steps.ts';
import { type FuzzResult, NOTHING } from './fuzz.ts';
import { MISUSES } from './misuse.ts';

/** One cell of a run: a result, or why the property did not run there (or stopped). */
export type Cell =
  | CheckResult
  | { readonly property: string; readonly profile: string; readonly verdict: 'n/a'; readonly reason: string }
  | { readonly property: string; readonly profile: string; readonly verdict: 'interrupted' };

/** True for a cell whose verdict fails the run (exit code 1). */
export function failed(c: Cell): boolean {
  return c.verdict === 'violated' || c.verdict === 'oops' || c.verdict === 'hang';
}

/** A cell's call kinds of which more than half failed (with enough calls to tell): the call names (the counts are in the JSON report). */
export function failureRates(c: CheckResult): string[] {
  const kinds = [
    ['dma_alloc_attrs', c.calls.alloc],
    ['dma_alloc_pages/_noncoherent/_noncontiguous', c.calls.allocNc],
    ['dma_map_*', c.calls.map],
  ] as const;
  return kinds.filter(([, k]) => k.made >= 10 && k.failed * 2 > k.made).map(([what]) => what);
}

function cellText(c: Cell | undefined, note: (reason: string) => number): string {
  if (c === undefined) return '';
  if (c.verdict === 'n/a') return pc.dim(`n/a [${note(c.reason)}]`);
  if (c.verdict === 'interrupted') return pc.yellow('interrupted');
  const numbers = `${c.runs}/${c.steps.toLocaleString('en-US')}`;
  const rates = failureRates(c);
  // One note per profile and set of failing calls, shared by every cell it applies to.
  let flag = rates.length === 0 ? '' : ` ${pc.yellow(`[${note(`on ${c.profile} more than half of the ${rates.join(', ')} calls failed (counts per cell in the JSON report)`)}]`)}`;
  if (c.unreached.length > 0) flag += ` ${pc.yellow(`[${note(`${c.property} on ${c.profile} never reached ${c.unreached.join(', ')} (a path its checks need): it holds there untested`)}]`)}`;
  if (c.verdict === 'holds') return `${pc.green('holds')} ${numbers}${flag}`;
  return `${pc.red(pc.bold(c.verdict === 'violated' ? 'VIOLATED' : c.verdict.toUpperCase()))} ${numbers}${flag}`;
}

/**
 * The verdict table: one row per property, one column per profile, each
 * cell `verdict runs/steps`, and a total line. The same cells give the
 * same text byte for byte (no timing in it).
 */
export function renderTable(cells: readonly Cell[], properties: readonly string[], profiles: readonly string[]): string {
  const t = new Table({ head: ['property', ...profiles], style: { head: [], border: [], compact: true } });
  const notes: string[] = [];
  const note = (text: string): number => {
    const i = notes.indexOf(text);
    if (i >= 0) return i + 1;
    notes.push(text);
    return notes.length;
  };
  for (const p of properties) t.push([p, ...profiles.map((pr) => cellText(cells.find((c) => c.property === p && c.profile === pr), note))]);
  const ran = cells.filter((c): c is CheckResult => c.verdict !== 'n/a' && c.verdict !== 'interrupted');
  const bad = ran.filter(failed);
  const kinds = (['violated', 'oops', 'hang'] as const).map((k) => [k, bad.filter((c) => c.verdict === k).length] as const).filter(([, n]) => n > 0);
  const runs = ran.reduce((n, c) => n + c.runs, 0);
  const steps = ran.reduce((n, c) => n + c.steps, 0);
  const na = cells.filter((c) => c.verdict === 'n/a').length;
  const stopped = cells.filter((c) => c.verdict === 'interrupted').length;
  const total =
    `total: ${ran.length} checks, ${ran.length - bad.length} hold, ${kinds.length === 0 ? '0 violated' : kinds.map(([k, n]) => `${n} ${k}`).join(', ')}` +
    `${na > 0 ? `, ${na} not applicable` : ''}${stopped > 0 ? `, ${stopped} interrupted` : ''}` +
    ` · ${runs.toLocaleString('en-US')} runs · ${steps.toLocaleString('en-US')} steps`;
  const legend = notes.map((n, i) => `[${i + 1}] ${n}`).join('\n');
  return `${t.toString()}\ncell: verdict runs/steps; [n] a note below\n${legend === '' ? '' : `${legend}\n`}${bad.length > 0 ? pc.red(total) : pc.green(total)}\n`;
}

/**
 * The coverage table (`--coverage`): one row per path any cell reached, one
 * column per profile, each cell the count summed over the properties run
 * there. Paths no cell reached on a profile where they are possible show `0`.
 */
export function renderCoverage(cells: readonly Cell[], profiles: readonly string[]): string {
  const ran = cells.filter((c): c is CheckResult => c.verdict !== 'n/a' && c.verdict !== 'interrupted');
  const paths = new Set<string>(Object.keys(PATHS));
  for (const c of ran) for (const k of Object.keys(c.coverage)) paths.add(k);
  const t = new Table({ head: ['path', ...profiles], style: { head: [], border: [], compact: true } });
  for (const path of paths) {
    const row = profiles.map((pr) => {
      const n = ran.filter((c) => c.profile === pr).reduce((m, c) => m + (c.coverage[path] ?? 0), 0);
      return n === 0 ? pc.dim('0') : n.toLocaleString('en-US');
    });
    t.push([path, ...row]);
  }
  return `${t.toString()}
coverage: times each path was reached, over every property run on the profile
`;
}

/**
 * The report of one failed cell: what failed, the rules and evidence, the
 * shrunk trace and the command that replays it.
 * @param file where the trace was written; null when there is no trace
 * @param replay the replay command, or null
 */
export function renderFailure(r: CheckResult, file: string | null, replay: string | null): string {
  const ce = r.counterexample;
  const what = r.verdict === 'violated' ? 'violated' : r.verdict === 'hang' ? 'hung' : 'oopsed';
  const head = pc.red(pc.bold(`✗ ${r.property} ${what} on ${r.profile}`));
  if (ce === null) return `${head}\n${r.verdict === 'hang' ? 'hang' : 'oops'}: ${r.message ?? 'no detail'}\n`;
  const lines = [`${head} (run ${r.runs}, shrunk ${ce.shrinks} times to ${ce.steps.length} steps)`];
  const first = ce.violations[0];
  if (first !== undefined) {
    lines.push(`rules:\n${describeRules(first)}`);
    lines.push(`evidence: ${first.message}`);
  } else if (ce.oops !== null) lines.push(`${r.verdict === 'hang' ? 'hang' : 'oops'}: ${ce.oops}`);
  else lines.push('evidence: none on re-run (the failure is not deterministic: please report it)');
  lines.push('trace:', renderListing(ce.steps, ce.violations));
  if (file !== null) lines.push(`trace written to ${file}`);
  if (replay !== null) lines.push(`replay: ${replay}`);
  return `${lines.join('\n')}\n`;
}

/** The failed check of a violation: its level and rules with their clauses (or the kernel source it follows), one per line. */
export function describeRules(v: Violation): string {
  const lines = [`  check ${v.property}/${v.check} [level=${v.level}]${v.latitude === undefined ? '' : ` (allows: ${v.latitude})`}`];
  for (const r of v.rules) lines.push(`  ${r}: ${RULES[r].clause} [${RULES[r].source}]`);
  if (v.see !== undefined) lines.push(`  see ${v.see}`);
  return lines.join('\n');
}

/** Listing of `steps`, numbered, in kernel call syntax, with the violations under the step they happened at. */
export function renderListing(steps: readonly Step[], violations: readonly Violation[], notes: ReadonlyMap<number, string[]> = new Map()): string {
  const out: string[] = [];
  const width = String(steps.length).length;
  const flag = (i: number) => violations.filter((v) => v.at.index === i);
  steps.forEach((s, k) => {
    const i = k + 1;
    const bad = flag(i).length > 0;
    out.push(`  ${String(i).padStart(width)}  ${bad ? pc.red(formatStep(s)) : formatStep(s)}`);
    for (const n of notes.get(i) ?? []) out.push(`  ${' '.repeat(width)}      ${pc.dim(n)}`);
    for (const v of flag(i)) out.push(`  ${' '.repeat(width)}      ${pc.red(`✗ ${v.property}: ${v.message}`)}`);
  });
  const teardown = violations.filter((v) => v.at.index === 0);
  if (teardown.length > 0) {
    out.push(`  ${' '.repeat(width)}  (teardown: unmap, munmap and free what is live)`);
    for (const v of teardown) out.push(`  ${' '.repeat(width)}      ${pc.red(`✗ ${v.property}: ${v.message}`)}`);
  }
  return out.join('\n');
}

/** What the oracle expected and saw at each step, for the replay listing. */
export function observationNotes(): { readonly notes: Map<number, string[]>; observe(obs: Observation): void } {
  const notes = new Map<number, string[]>();
  const add = (i: number, s: string) => notes.set(i, [...(notes.get(i) ?? []), s]);
  return {
    notes,
    observe(obs) {
      const i = obs.at.index;
      switch (obs.kind) {
        case 'cpu-read':
        case 'device-read':
        case 'user-read':
        case 'neighbour-read': {
          const m = firstMismatch(obs);
          const compared = obs.origin.reduce((n, o) => n + (o === 0 ? 0 : 1), 0);
          if (m === null) add(i, `${obs.kind}: ${compared}/${obs.expected.length} bytes compared, all as expected`);
          return;
        }
        case 'alloc':
          add(i, obs.ok ? `allocated at dma ${hex(obs.dma)}${obs.region === null ? '' : ` from ${obs.region}`}` : 'allocation failed (allowed); later uses are skipped');
          return;
        case 'dma-address':
          if (obs.unreachable !== null) add(i, `dma address ${obs.unreachable}`);
          if (obs.privatePhys !== null) add(i, `dma address leads to private memory at ${hex(obs.privatePhys)}`);
          if (obs.outsidePool !== null) add(i, `dma address outside the restricted pool ${obs.outsidePool}`);
          return;
        case 'device-fault':
          add(i, `device access faulted: ${obs.reason}`);
          return;
        case 'oops':
          add(i, `oops: ${obs.message}`);
          return;
        case 'sgtable':
          add(i, `ret=${obs.ret}, pages expected [${obs.expectedPfns.join(', ')}], seen [${obs.seenPfns.join(', ')}]`);
          return;
        case 'mmap':
          add(i, `ret=${obs.ret}, ${obs.populatedPages}/${obs.expectedPages} pages mapped`);
          return;
        case 'refusal':
          add(i, `expected ${obs.expected}, got ${obs.got}${obs.changed === null ? ', nothing changed' : `, changed: ${obs.changed}`}`);
          return;
        case 'misuse':
          add(i, `misuse ${obs.misuse}: dma-debug ${obs.expectedDebug === null ? 'is not built to see it' : `should report ${obs.expectedDebug}`}, reported ${obs.reported.length === 0 ? 'nothing' : obs.reported.join(', ')}${obs.immediate === null ? '' : `; ${obs.immediate}`}`);
          return;
        case 'debug-report':
          add(i, `dma-debug ${obs.check}: ${obs.dev}: ${obs.message}`);
          return;
        case 'consequence': {
          const inner = obs.observation;
          const m = inner.kind === 'cpu-read' || inner.kind === 'device-read' || inner.kind === 'user-read' || inner.kind === 'neighbour-read' ? firstMismatch(inner) : null;
          if (m !== null) add(i, `consequence of ${obs.misuse}: ${inner.kind} differs from what the driver wrote`);
          else if (inner.kind === 'leak' && inner.differences.length > 0) add(i, `consequence of ${obs.misuse}: accounting differs ${inner.differences.slice(0, 3).join(' ')}`);
          else if (inner.kind === 'device-fault') add(i, `consequence of ${obs.misuse}: device access faulted: ${inner.reason}`);
          return;
        }
        default:
          return;
      }
    },
  };
}

/** One line per step that was skipped or illegal in a session. */
export function sessionNotes(r: SessionResult, notes: Map<number, string[]>): void {
  for (const x of r.illegal) notes.set(x.index, [...(notes.get(x.index) ?? []), `skipped: illegal here, would break ${x.rule}`]);
}

/**
 * The consequence matrix of `dmacheck fuzz`: misuse × profile, each cell
 * what the misuse led to (outcomes with how many of its executions showed
 * each) and whether dma-debug reported it (`D11 13/13`: the check built for
 * it, reported in 13 of the 13 executions where a report was due; `not
 * due here`: the kernel exempts this machine; `blind`: dma-debug is not
 * built to see this misuse). An empty cell: the misuse was never drawn there.
 */
export function renderFuzzMatrix(results: readonly FuzzResult[]): string {
  const t = new Table({ head: ['misuse', ...results.map((r) => r.profile)], style: { head: [], border: [], compact: false }, wordWrap: true, colWidths: [24, ...results.map(() => 26)] });
  for (const m of MISUSES) {
    const row: string[] = [m];
    for (const r of results) {
      const x = r.rows.find((y) => y.misuse === m);
      if (x === undefined) {
        row.push('');
        continue;
      }
      const seen = Object.entries(x.outcomes)
        .filter(([k]) => k !== NOTHING)
        .sort((a, b) => b[1] - a[1])
        .map(([k, n]) => `${pc.red(k)} ${n}/${x.executed}`);
      const outcome = seen.length === 0 ? pc.dim(`${NOTHING} (${x.executed}×)`) : seen.join('\n');
      const unasked = x.debugUnasked > 0 ? ` (+${x.debugUnasked} not due)` : '';
      const debug = x.debugExpected === null ? `dma-debug: blind${unasked}` : x.debugAsked === 0 ? `dma-debug: ${x.debugExpected} not due here${unasked}` : `dma-debug: ${x.debugExpected} ${x.debugReported}/${x.debugAsked}${unasked}`;
      row.push(`${outcome}\n${x.debugExpected !== null && x.debugReported === x.debugAsked ? pc.green(debug) : pc.yellow(debug)}`);
    }
    t.push(row);
  }
  return `${t.toString()}\n`;
}
