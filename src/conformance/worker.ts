/**
 * Not a kernel mirror: the entry point of a worker thread of the pool
 * (`pool.ts`). Each task is one {@link Job} with a heartbeat buffer the main
 * thread's watchdog reads. Backend code runs here, never in the main
 * thread, so whatever it does ends at most this thread:
 * - `process.exit`, `process.abort` and `process.kill` of this process
 *   throw {@link BackendExitError} instead, which the session reports as an
 *   oops at the step that made the call;
 * - an unhandled rejection or an uncaught exception that backend code
 *   leaves behind is attributed to the job that was running (or had just
 *   finished), which then ends as an `oops`.
 */
import { BackendExitError, describeThrown, setHeartbeat } from '../backend/guard.ts';
import { type Job, type JobResult, runJob } from './jobs.ts';

/** A task as the pool sends it. */
export interface WorkerTask {
  readonly job: Job;
  readonly heartbeat: SharedArrayBuffer;
}

/** A task's answer: the job's result, or what backend code left behind while it ran. */
export type WorkerAnswer = { readonly ok: JobResult } | { readonly stray: string };

const strays: string[] = [];
process.on('unhandledRejection', (reason) => strays.push(`the backend left a rejected Promise behind: ${describeThrown(reason)}`));
process.on('uncaughtException', (err) => strays.push(`backend code threw outside any call: ${describeThrown(err)}`));

const exit = (code?: unknown): never => {
  throw new BackendExitError(code);
};
process.exit = exit as typeof process.exit;
process.abort = (() => exit('abort')) as typeof process.abort;
const kill = process.kill.bind(process);
process.kill = ((pid: number, signal?: string | number) => (pid === process.pid || pid === 0 ? exit(`kill ${String(signal ?? 'SIGTERM')}`) : kill(pid, signal))) as typeof process.kill;

/** Run one task (piscina calls the default export). */
export default async function task(t: WorkerTask): Promise<WorkerAnswer> {
  setHeartbeat(t.heartbeat);
  strays.length = 0;
  try {
    const ok = await runJob(t.job);
    // Let rejections and timers the backend left behind surface before answering.
    await new Promise((resolve) => setImmediate(resolve));
    const stray = strays.shift();
    return stray === undefined ? { ok } : { stray };
  } finally {
    setHeartbeat(null);
  }
}
