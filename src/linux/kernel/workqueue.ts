/**
 * The system workqueue (kernel/workqueue.c `schedule_work` on `system_wq`):
 * deferred work that runs later in process context, where it may sleep. The
 * DMA atomic pools grow this way (kernel/dma/pool.c `atomic_pool_work_fn`):
 * an allocation that leaves a pool low schedules the expansion and returns at
 * once.
 *
 * Trusted substrate, like `src/linux/mm`: backends schedule work here and
 * the harness decides when the worker runs (the `runWork` step), so a trace
 * says exactly when deferred work happened.
 */
import type { Platform } from '../../platform/platform.ts';

/** `struct work_struct`: a named function. */
export interface WorkStruct {
  readonly name: string;
  readonly func: () => void;
}

/** `system_wq`. */
export class Workqueue {
  private readonly pending: WorkStruct[] = [];

  constructor(private readonly platform: Platform) {}

  /**
   * `schedule_work`: queue `work` unless it is already pending. Never sleeps.
   * @returns false when it was already pending (the kernel's return value)
   */
  schedule(work: WorkStruct): boolean {
    if (this.pending.includes(work)) return false;
    this.pending.push(work);
    return true;
  }

  /** Names of the pending work items, oldest first. */
  get pendingNames(): readonly string[] {
    return this.pending.map((w) => w.name);
  }

  /**
   * The worker thread runs every pending item, oldest first, in process
   * context (then the CPU's context is put back).
   * @returns the number of items run
   */
  run(): number {
    const ctx = this.platform.context;
    const saved = ctx.current;
    ctx.current = 'process';
    let n = 0;
    try {
      for (let w = this.pending.shift(); w !== undefined; w = this.pending.shift()) {
        w.func();
        n++;
      }
    } finally {
      ctx.current = saved;
    }
    return n;
  }
}
