/**
 * Fault-injection knobs, drawn from the seeded PRNG.
 *
 * Not a kernel mirror; it plays the part of `fail_page_alloc` and of a
 * long-running system's fragmented memory, so that failure paths and
 * fallbacks run (kernel/dma/direct.c `__dma_direct_alloc_pages`: a plain
 * allocation failure ends the zone loop at once).
 */
import type { Prng } from './prng.ts';

/** Fault-injection options. Probabilities are in [0, 1]. */
export interface FaultOptions {
  /** Probability that one page-allocator request fails although memory is free. Default 0. */
  readonly pageAllocFailRate: number;
  /** Only requests of at least this order are failed by `pageAllocFailRate`. Default 0. */
  readonly pageAllocFailMinOrder: number;
  /** Fraction of max-order blocks broken up at boot by a pinned page. Default 0. */
  readonly fragmentation: number;
  /** Fraction of CMA pages holding a movable page at boot (page cache, anonymous memory), migrated away by `cma_alloc`. Default 0.5. */
  readonly cmaMovable: number;
  /** Fraction of CMA pages holding a long-term pinned page at boot: no range over one can be allocated. Default 0. */
  readonly cmaPinned: number;
  /** Probability that one `set_memory_decrypted`/`set_memory_encrypted` call fails (a confidential guest's page conversion refused). Default 0. */
  readonly setMemoryFailRate: number;
}

export const DEFAULT_FAULTS: FaultOptions = { pageAllocFailRate: 0, pageAllocFailMinOrder: 0, fragmentation: 0, cmaMovable: 0.5, cmaPinned: 0, setMemoryFailRate: 0 };

/** Problems with fault options, one line each naming the knob and what is accepted; empty when valid. */
export function validateFaults(f: FaultOptions): string[] {
  const errors: string[] = [];
  for (const k of ['pageAllocFailRate', 'fragmentation', 'cmaMovable', 'cmaPinned', 'setMemoryFailRate'] as const) {
    if (!(f[k] >= 0 && f[k] <= 1)) errors.push(`faults.${k}=${f[k]}: accepted is a probability in [0, 1]`);
  }
  if (!Number.isInteger(f.pageAllocFailMinOrder) || f.pageAllocFailMinOrder < 0) {
    errors.push(`faults.pageAllocFailMinOrder=${f.pageAllocFailMinOrder}: accepted is a whole number ≥ 0`);
  }
  return errors;
}

/** The fault injector consulted by the page allocator. */
export class FaultInjector {
  constructor(
    readonly options: FaultOptions,
    private readonly prng: Prng,
  ) {}

  /** True when this page allocation of `order` should fail (`should_fail_alloc_page`). */
  failPageAlloc(order: number): boolean {
    return order >= this.options.pageAllocFailMinOrder && this.prng.chance(this.options.pageAllocFailRate);
  }

  /** True when this page-state conversion should fail. */
  failSetMemory(): boolean {
    return this.prng.chance(this.options.setMemoryFailRate);
  }

  /** The PRNG stream for what the rest of the system keeps in CMA areas at boot. */
  get cmaPrng(): Prng {
    return this.prng.fork('cma');
  }

  /** The PRNG stream for boot-time fragmentation. */
  get fragmentationPrng(): Prng {
    return this.prng.fork('fragmentation');
  }
}
