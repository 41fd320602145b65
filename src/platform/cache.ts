/**
 * The CPU data cache: write-back, write-allocate lines with dirty bits,
 * indexed by physical address.
 *
 * Not a kernel mirror; this is the hardware. The DMA API does not promise
 * anything about caches, but caches are why it exists: a non-coherent device
 * sees RAM only, so a dirty line that was not cleaned is invisible to it, a
 * clean line filled before the device wrote hides the device's data until it
 * is invalidated, and a dirty line evicted late overwrites what the device
 * wrote (kernel-dma.md §2.8, §5 "CPU cache model"). Two legal platform
 * events make "clean before, invalidate after" necessary: a speculative fill
 * of any cacheable line (never dirty) and the eviction of any line (written
 * back if dirty).
 *
 * Capacity is unbounded; evictions happen only as explicit events, so a run
 * is reproducible from its seed.
 */
import type { PhysicalMemory } from './memory.ts';

/**
 * What an invalidate does with a line only partly inside the range.
 * - `clean-invalidate`: write the line back first, so bytes outside the range
 *   survive (arm64 `dcache_inval_poc`, ARM v7 `v7_dma_inv_range`).
 * - `discard`: drop it, losing a neighbour's dirty bytes (what an arch that
 *   gets this wrong does; kept for fixtures).
 */
export type PartialLinePolicy = 'clean-invalidate' | 'discard';

interface Line {
  readonly data: Uint8Array;
  dirty: boolean;
}

/** Counters of cache maintenance, for tests and the benchmark. */
export interface CacheStats {
  cleans: number;
  invalidates: number;
  writebacks: number;
  discardedDirtyLines: number;
}

/** A write-back CPU data cache. All addresses are physical, all lengths in bytes. */
export class CpuCache {
  private readonly lines = new Map<number, Line>();
  readonly stats: CacheStats = { cleans: 0, invalidates: 0, writebacks: 0, discardedDirtyLines: 0 };

  /**
   * @param lineSizeBytes line size, a power of two (64 or 128 on the profiles)
   * @param partialLinePolicy what `invalidate` does with partial edge lines
   */
  constructor(
    private readonly mem: PhysicalMemory,
    readonly lineSizeBytes: number,
    readonly partialLinePolicy: PartialLinePolicy,
  ) {}

  /** The line index holding `phys`. */
  lineOf(phys: number): number {
    return Math.floor(phys / this.lineSizeBytes);
  }

  /** True when the line holding `phys` is present. */
  isCached(phys: number): boolean {
    return this.lines.has(this.lineOf(phys));
  }

  /** True when the line holding `phys` is present and dirty. */
  isDirty(phys: number): boolean {
    return this.lines.get(this.lineOf(phys))?.dirty === true;
  }

  /** Physical addresses of the first byte of every present line, ascending. */
  presentLines(): number[] {
    return [...this.lines.keys()].sort((a, b) => a - b).map((l) => l * this.lineSizeBytes);
  }

  private fill(line: number): Line {
    let l = this.lines.get(line);
    if (l === undefined) {
      l = { data: this.mem.read(line * this.lineSizeBytes, this.lineSizeBytes), dirty: false };
      this.lines.set(line, l);
    }
    return l;
  }

  /** A cacheable CPU load: fills missing lines from RAM, copies into `dst[dstOff..]`. */
  readInto(phys: number, dst: Uint8Array, dstOff: number, lenBytes: number): void {
    let done = 0;
    while (done < lenBytes) {
      const a = phys + done;
      const line = this.lineOf(a);
      const off = a - line * this.lineSizeBytes;
      const n = Math.min(this.lineSizeBytes - off, lenBytes - done);
      dst.set(this.fill(line).data.subarray(off, off + n), dstOff + done);
      done += n;
    }
  }

  /** A cacheable CPU store: write-allocate, marks the lines dirty. RAM is not touched. */
  write(phys: number, src: Uint8Array, srcOff = 0, lenBytes = src.length - srcOff): void {
    let done = 0;
    while (done < lenBytes) {
      const a = phys + done;
      const line = this.lineOf(a);
      const off = a - line * this.lineSizeBytes;
      const n = Math.min(this.lineSizeBytes - off, lenBytes - done);
      // A store that covers a whole missing line allocates it without reading RAM (same result, no fill).
      let l = n === this.lineSizeBytes ? this.lines.get(line) : this.fill(line);
      if (l === undefined) {
        l = { data: new Uint8Array(this.lineSizeBytes), dirty: true };
        this.lines.set(line, l);
      }
      l.data.set(src.subarray(srcOff + done, srcOff + done + n), off);
      l.dirty = true;
      done += n;
    }
  }

  private writeback(line: number, l: Line): void {
    if (l.dirty) {
      this.mem.write(line * this.lineSizeBytes, l.data);
      l.dirty = false;
      this.stats.writebacks++;
    }
  }

  private linesOf(phys: number, lenBytes: number): [number, number] {
    return [this.lineOf(phys), this.lineOf(phys + Math.max(lenBytes, 1) - 1)];
  }

  /** Clean (write back, keep) every line overlapping `[phys, phys+len)`. */
  clean(phys: number, lenBytes: number): void {
    if (lenBytes <= 0) return;
    this.stats.cleans++;
    const [first, last] = this.linesOf(phys, lenBytes);
    for (let line = first; line <= last; line++) {
      const l = this.lines.get(line);
      if (l !== undefined) this.writeback(line, l);
    }
  }

  /**
   * Invalidate (drop without writing back) every line overlapping the range.
   * A line only partly inside the range is handled by the
   * {@link PartialLinePolicy}; lines wholly inside lose their dirty data.
   */
  invalidate(phys: number, lenBytes: number): void {
    if (lenBytes <= 0) return;
    this.stats.invalidates++;
    const end = phys + lenBytes;
    const [first, last] = this.linesOf(phys, lenBytes);
    for (let line = first; line <= last; line++) {
      const l = this.lines.get(line);
      if (l === undefined) continue;
      const start = line * this.lineSizeBytes;
      const partial = start < phys || start + this.lineSizeBytes > end;
      if (partial && this.partialLinePolicy === 'clean-invalidate') this.writeback(line, l);
      if (l.dirty) this.stats.discardedDirtyLines++;
      this.lines.delete(line);
    }
  }

  /** Clean and invalidate every line overlapping the range (write back, then drop). */
  cleanInvalidate(phys: number, lenBytes: number): void {
    if (lenBytes <= 0) return;
    this.stats.cleans++;
    this.stats.invalidates++;
    const [first, last] = this.linesOf(phys, lenBytes);
    for (let line = first; line <= last; line++) {
      const l = this.lines.get(line);
      if (l === undefined) continue;
      this.writeback(line, l);
      this.lines.delete(line);
    }
  }

  /** Platform event: speculatively fill the line holding `phys` (clean). No-op if present. */
  speculativeFill(phys: number): void {
    this.fill(this.lineOf(phys));
  }

  /** Platform event: evict the line holding `phys`, writing it back if dirty. No-op if absent. */
  evict(phys: number): void {
    const line = this.lineOf(phys);
    const l = this.lines.get(line);
    if (l === undefined) return;
    this.writeback(line, l);
    this.lines.delete(line);
  }

  /**
   * A coherent device's read: RAM, with dirty cached lines snooped over it.
   * Clean lines equal RAM on a coherent system, so RAM is read for them.
   */
  snoopReadInto(phys: number, dst: Uint8Array, dstOff: number, lenBytes: number): void {
    this.mem.readInto(phys, dst, dstOff, lenBytes);
    const [first, last] = this.linesOf(phys, lenBytes);
    for (let line = first; line <= last; line++) {
      const l = this.lines.get(line);
      if (l === undefined || !l.dirty) continue;
      const start = line * this.lineSizeBytes;
      const lo = Math.max(start, phys);
      const hi = Math.min(start + this.lineSizeBytes, phys + lenBytes);
      dst.set(l.data.subarray(lo - start, hi - start), dstOff + (lo - phys));
    }
  }

  /**
   * A coherent device's write: RAM is written; present lines are kept
   * consistent (a clean line is dropped, a dirty line takes the new bytes and
   * stays dirty for the bytes the device did not write).
   */
  snoopWrite(phys: number, src: Uint8Array, srcOff = 0, lenBytes = src.length - srcOff): void {
    this.mem.write(phys, src, srcOff, lenBytes);
    const [first, last] = this.linesOf(phys, lenBytes);
    for (let line = first; line <= last; line++) {
      const l = this.lines.get(line);
      if (l === undefined) continue;
      if (!l.dirty) {
        this.lines.delete(line);
        continue;
      }
      const start = line * this.lineSizeBytes;
      const lo = Math.max(start, phys);
      const hi = Math.min(start + this.lineSizeBytes, phys + lenBytes);
      l.data.set(src.subarray(srcOff + (lo - phys), srcOff + (hi - phys)), lo - start);
    }
  }
}
