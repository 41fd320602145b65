/**
 * Execution context and the record of platform-level violations.
 *
 * Not a kernel mirror. The CPU runs in process context (may sleep) or in
 * atomic context (interrupt, spinlock held, IRQs off: may not sleep). Code
 * that may sleep (CMA, vmap, a blocking page allocation) calls
 * {@link ExecutionContext.mightSleep}, which records a violation in atomic
 * context the way `might_sleep()` warns "BUG: sleeping function called from
 * invalid context" (kernel/dma/pool.c, kernel/dma/mapping.c `dma_free_attrs`;
 * R19, R20 in spec/rules.ts).
 */

/** Whether the CPU may sleep now. */
export type ContextKind = 'process' | 'atomic';

/** Something the trusted platform or substrate saw a backend do wrong. */
export interface PlatformViolation {
  /** Stable identifier of the kind of violation. */
  readonly kind: 'sleep-in-atomic' | 'bad-page-free' | 'bad-kfree' | 'bad-vunmap' | 'free-with-irqs-disabled' | 'shared-page-freed';
  /** The kernel's message text, with bracketed `key=value` evidence. */
  readonly message: string;
}

/** The platform's log of violations, read by the oracle after every step. */
export class ViolationLog {
  private readonly items: PlatformViolation[] = [];

  record(v: PlatformViolation): void {
    this.items.push(v);
  }

  /** Every violation recorded so far, oldest first. */
  get all(): readonly PlatformViolation[] {
    return this.items;
  }

  /** Number of violations recorded so far. */
  get count(): number {
    return this.items.length;
  }
}

/** The CPU's current execution context. */
export class ExecutionContext {
  current: ContextKind = 'process';

  constructor(private readonly log: ViolationLog) {}

  /** True in atomic context (`in_atomic() || irqs_disabled()`). */
  get atomic(): boolean {
    return this.current === 'atomic';
  }

  /**
   * `might_sleep()`: record a violation when called in atomic context.
   * @param what the sleeping operation, e.g. `vmap` or `alloc_pages(GFP_KERNEL)`
   */
  mightSleep(what: string): void {
    if (this.atomic) {
      this.log.record({
        kind: 'sleep-in-atomic',
        message: `BUG: sleeping function called from invalid context [what=${what}] [context=atomic]`,
      });
    }
  }
}
