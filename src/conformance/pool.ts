/**
 * Not a kernel mirror: the worker pool a run spreads its jobs over (piscina
 * worker threads), with a watchdog. The main thread never runs backend
 * code: it hands jobs to workers, watches each backend call through a
 * shared heartbeat (`guard.ts`), and collects results. What a worker cannot
 * report itself becomes an outcome here:
 * - `hang`: a backend call did not return within the call timeout; the
 *   worker is terminated, and the outcome carries the call, the step and
 *   the sequence it hung in (read from the heartbeat), so the hang can be
 *   shrunk and replayed like any failure ({@link shrinkHang});
 * - `crash`: the worker died (a native abort) or backend code left an
 *   unhandled rejection or exception behind;
 * - `interrupted`: the run was stopped (Ctrl-C).
 * Outcomes are keyed to the job that produced them, never to timing, so a
 * run prints the same results whatever the number of workers.
 */
import type { resourceUsers } from './model.ts';
import { Piscina } from 'piscina';
import { HEARTBEAT_HEADER_BYTES, callName } from '../backend/guard.ts';
import { repair, shrinkSteps } from './generator.ts';
import type { Job, JobResult, SequenceJob } from './jobs.ts';
import type { Step } from './steps.ts';
import type { WorkerAnswer, WorkerTask } from './worker.ts';

/** Options of a {@link JobPool}. */
export interface PoolOptions {
  /** The bundled worker module (`dist/worker.js`). */
  readonly workerFile: string;
  /** Worker threads, ≥ 1. */
  readonly threads: number;
  /** A backend call running longer than this is a hang, milliseconds. */
  readonly callTimeoutMs: number;
}

/** How a job ended. */
export type PoolOutcome =
  | { readonly kind: 'done'; readonly result: JobResult }
  | {
      readonly kind: 'hang';
      /** The call that did not return, and the step it was called at (1-based; 0 = setup or teardown). */
      readonly call: string;
      readonly step: number;
      /** The sequence it hung in, when the heartbeat held one. */
      readonly steps: readonly Step[] | null;
      /** Sequences the job had started. */
      readonly sequences: number;
    }
  | { readonly kind: 'crash'; readonly message: string }
  | { readonly kind: 'interrupted' };

interface Active {
  readonly words: Int32Array;
  readonly bytes: Uint8Array;
  readonly abort: AbortController;
  lastCount: number;
  lastChange: number;
  hang: Extract<PoolOutcome, { kind: 'hang' }> | null;
  onProgress: ((sequences: number) => void) | undefined;
}

/** Heartbeat buffer size for a job: room for its longest sequence as JSON. */
function heartbeatBytes(job: Job): number {
  const steps = job.kind === 'check' || job.kind === 'fuzz' ? job.maxSteps : job.kind === 'sequence' ? job.steps.length : 0;
  return HEARTBEAT_HEADER_BYTES + 65536 + 512 * steps;
}

/** A pool of worker threads running {@link Job}s under a watchdog. */
export class JobPool {
  private readonly piscina: Piscina;
  private readonly active = new Set<Active>();
  private readonly timer: NodeJS.Timeout;
  private stopped = false;

  constructor(readonly options: PoolOptions) {
    // Workers start on demand (minThreads 0): a worker still loading its bundle when a short run (a probe that
    // refuses the backend) destroys the pool is terminated mid-load, which can take Node 20 down with a signal.
    this.piscina = new Piscina({ filename: options.workerFile, minThreads: 0, maxThreads: options.threads, idleTimeout: 60_000, concurrentTasksPerWorker: 1 });
    this.timer = setInterval(() => this.tick(), 50);
    this.timer.unref();
  }

  private tick(): void {
    const now = performance.now();
    for (const a of this.active) {
      const count = Atomics.load(a.words, 0);
      a.onProgress?.(Atomics.load(a.words, 1));
      if (count !== a.lastCount) {
        a.lastCount = count;
        a.lastChange = now;
      } else if (count % 2 === 1 && now - a.lastChange > this.options.callTimeoutMs && a.hang === null) {
        const len = Atomics.load(a.words, 4);
        let steps: Step[] | null = null;
        try {
          steps = JSON.parse(new TextDecoder().decode(a.bytes.slice(0, len))) as Step[];
        } catch {
          steps = null;
        }
        a.hang = { kind: 'hang', call: callName(Atomics.load(a.words, 3)), step: Atomics.load(a.words, 2), steps, sequences: Atomics.load(a.words, 1) };
        a.abort.abort();
      }
    }
  }

  /** Run `job` on a worker. Never rejects: every way a job can end is a {@link PoolOutcome}. */
  async run(job: Job, onProgress?: (sequences: number) => void): Promise<PoolOutcome> {
    if (this.stopped) return { kind: 'interrupted' };
    const sab = new SharedArrayBuffer(heartbeatBytes(job));
    const a: Active = {
      words: new Int32Array(sab, 0, HEARTBEAT_HEADER_BYTES / 4),
      bytes: new Uint8Array(sab, HEARTBEAT_HEADER_BYTES),
      abort: new AbortController(),
      lastCount: 0,
      lastChange: performance.now(),
      hang: null,
      onProgress,
    };
    this.active.add(a);
    try {
      const task: WorkerTask = { job, heartbeat: sab };
      const answer = (await this.piscina.run(task, { signal: a.abort.signal })) as WorkerAnswer;
      if ('stray' in answer) return { kind: 'crash', message: answer.stray };
      return { kind: 'done', result: answer.ok };
    } catch (err) {
      if (a.hang !== null) return a.hang;
      if (this.stopped) return { kind: 'interrupted' };
      const e = err as { message?: unknown };
      return { kind: 'crash', message: `the worker running the backend died: ${String(e?.message ?? err).split('\n')[0]}` };
    } finally {
      this.active.delete(a);
    }
  }

  /** Stop: abort every running job (its outcome is `interrupted`) and refuse new ones. */
  interrupt(): void {
    this.stopped = true;
    for (const a of this.active) a.abort.abort();
  }

  async destroy(): Promise<void> {
    clearInterval(this.timer);
    await this.piscina.destroy();
  }
}

/** Options of {@link shrinkHang}. */
export interface HangShrinkOptions {
  /** Devices the generator drove (legality of candidates). */
  readonly devices: readonly string[];
  /** MMIO regions and the devices that may map them (legality of `mapResource` steps); default none. */
  readonly resources?: ReturnType<typeof resourceUsers>;
  /** Most candidates that may still hang (each costs a call timeout). Default 5. */
  readonly maxHangs?: number;
  /** Most candidates tried in all. Default 200. */
  readonly maxCandidates?: number;
}

/**
 * Shrink a hang the way fast-check shrinks a failure, with each candidate
 * run on a fresh worker under the watchdog: first cut the sequence after
 * the step that hung, then try the generator's shrink candidates, keeping
 * the first that still hangs. Each candidate that hangs costs one call
 * timeout, so the number of those is bounded.
 * @returns the smallest sequence found that hangs, its hang, and the number of shrinks
 */
export async function shrinkHang(
  pool: JobPool,
  job: Omit<SequenceJob, 'steps'>,
  hang: Extract<PoolOutcome, { kind: 'hang' }> & { readonly steps: readonly Step[] },
  o: HangShrinkOptions,
): Promise<{ steps: readonly Step[]; hang: Extract<PoolOutcome, { kind: 'hang' }>; shrinks: number }> {
  let best = { steps: hang.steps, hang: hang as Extract<PoolOutcome, { kind: 'hang' }> };
  let shrinks = 0;
  let hangsLeft = o.maxHangs ?? 5;
  let tries = o.maxCandidates ?? 200;
  const attempt = async (steps: readonly Step[]): Promise<boolean> => {
    tries--;
    const out = await pool.run({ ...job, steps });
    if (out.kind !== 'hang') return false;
    hangsLeft--;
    best = { steps, hang: { ...out, steps } };
    shrinks++;
    return true;
  };
  if (hang.step > 0 && hang.step < hang.steps.length) {
    const prefix = repair(o.devices, hang.steps.slice(0, hang.step), o.resources);
    if (prefix.length < hang.steps.length) await attempt(prefix);
  }
  let progress = true;
  while (progress && hangsLeft > 0 && tries > 0) {
    progress = false;
    for (const cand of shrinkSteps(o.devices, best.steps, o.resources)) {
      if (hangsLeft <= 0 || tries <= 0) break;
      if (await attempt(cand)) {
        progress = true;
        break;
      }
    }
  }
  return { ...best, shrinks };
}
