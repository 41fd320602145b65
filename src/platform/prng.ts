/**
 * The platform's only source of randomness: a seeded PRNG (seedrandom's
 * Alea generator), so that the same seed gives the same platform, the same
 * garbage in never-written memory and the same events, byte for byte.
 *
 * Not a kernel mirror. Nothing in the model may use unseeded randomness or
 * read a clock; every random choice goes through a {@link Prng}.
 */
import seedrandom from 'seedrandom';

/** A deterministic random stream derived from a seed string. */
export class Prng {
  private readonly rng: seedrandom.PRNG;

  /** @param seed any string or number; equal seeds give equal streams. */
  constructor(readonly seed: string) {
    this.rng = seedrandom.alea(seed);
  }

  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    return this.rng.int32() >>> 0;
  }

  /** A uniform integer in `[0, n)`; `n` must be a positive integer. */
  below(n: number): number {
    return Math.floor(this.rng.double() * n);
  }

  /** True with probability `p` (0 ≤ p ≤ 1). Draws nothing when p is 0 or 1. */
  chance(p: number): boolean {
    if (p <= 0) return false;
    if (p >= 1) return true;
    return this.rng.double() < p;
  }

  /** An independent stream for a named purpose, derived from this seed only (not from draws made so far). */
  fork(label: string): Prng {
    return new Prng(`${this.seed}/${label}`);
  }
}
