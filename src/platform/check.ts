/**
 * Not a kernel mirror: the platform's own argument checks. Every address
 * and size a backend hands the trusted platform and substrate is checked
 * here before any work is done (DESIGN.md "Reliability"): integers, inside
 * the bounds of the simulated machine, lengths no larger than any DMA
 * buffer can be. A garbage value (a string, NaN, a negative or absurd
 * length) raises a {@link PlatformError} at once, which the harness reports
 * as an oops of the backend that passed it, instead of walking an absurd
 * range for ever.
 */
import { hex } from './types.ts';

/** Longest single CPU access, copy or cache-maintenance range, bytes (64 MiB: far above any DMA buffer of a profile). */
export const MAX_ACCESS_BYTES = 64 * 1024 * 1024;

/** The platform refused an argument. */
export class PlatformError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PlatformError';
  }
}

function show(v: unknown): string {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? hex(v) : typeof v === 'string' ? JSON.stringify(v).slice(0, 40) : String(v);
}

/**
 * Throw unless `addr` is an integer ≥ 0 and `len` an integer in
 * `[0, maxBytes]`. @param by the operation, named in the message
 */
export function checkRange(by: string, addr: unknown, len: unknown, maxBytes = MAX_ACCESS_BYTES): void {
  if (typeof addr !== 'number' || !Number.isSafeInteger(addr) || addr < 0 || typeof len !== 'number' || !Number.isSafeInteger(len) || len < 0 || len > maxBytes) {
    throw new PlatformError(`${by}: invalid range [addr=${show(addr)}] [len=${show(len)}]: accepted are an integer address ≥ 0 and a length of 0..${maxBytes} bytes`);
  }
}

/** Throw unless `n` is an integer in `[min, max]`. */
export function checkInt(by: string, what: string, n: unknown, min: number, max: number): void {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min || n > max) throw new PlatformError(`${by}: invalid ${what} ${show(n)}: accepted is an integer in ${min}..${max}`);
}
