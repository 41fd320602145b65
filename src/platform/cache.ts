/**
 * The CPU data cache: write-back, write-allocate lines with dirty bits,
 * indexed by physical address.
 *
 * Not a kernel mirror; this is the hardware. The DMA API does not promise
 * anything about caches, but caches are why it exists: a non-coherent device
 * sees RAM only, so a dirty line that was not cleaned is invisible to it, a
 * clean line filled before the device wrote hides the device's data until it
 * is invalidated, and a dirty line evicted late overwrites what the device
 * wrote (arch/arm64/mm/dma-mapping.c `arch_sync_dma_for_device`,
 * `arch_sync_dma_for_cpu`; Documentation/core-api/dma-api.rst and
 * dma-api-howto.rst on cache-line sharing). Two legal platform events make
 * "clean before, invalidate after" necessary: a speculative fill of any
 * cacheable line (never dirty) and the eviction of any line (written back if
 * dirty).
 *
 * Capacity is unbounded; evictions happen only as explicit events, so a run
 * is reproducible from its seed.
 */
import { LineTable } from './line-table.ts';
import { checkRange } from './check.ts';
import { BusError, type PhysicalMemory } from './memory.ts';

/**
 * What an invalidate does with a line only partly inside the range.
 * - `clean-invalidate`: write the line back first, so bytes outside the range
 *   survive (arm64 `dcache_inval_poc`, ARM v7 `v7_dma_inv_range`).
 * - `discard`: drop it, losing a neighbour's dirty bytes (what an arch that
 *   gets this wrong does; kept for fixtures).
 */
export type PartialLinePolicy = 'clean-invalidate' | 'discard';

/** Counters of cache maintenance, for tests and the benchmark. */
export interface CacheStats {
  cleans: number;
  invalidates: number;
  writebacks: number;
  discardedDirtyLines: number;
}

/** Arenas of released caches, reused by the next cache of the same line size. */
const spareArenas: { lineSize: number; arena: Uint8Array; dirty: Uint8Array; table: LineTable }[] = [];

/** Check a maintenance range a backend passed (see `check.ts`); false when it is empty. */
function nonEmpty(op: string, phys: number, lenBytes: number): boolean {
  checkRange(`cache ${op}`, phys, lenBytes);
  return lenBytes > 0;
}

/** A write-back CPU data cache. All addresses are physical, all lengths in bytes. */
export class CpuCache {
  /**
   * Present lines: line index → slot. Line data lives in one arena
   * (`slot * lineSizeBytes`), dirty bits in another, so that filling and
   * evicting lines allocates nothing (a driver step must cost microseconds).
   */
  private readonly slots: LineTable;
  private arena: Uint8Array;
  private dirtyBits: Uint8Array;
  private readonly freeSlots: number[] = [];
  private nextSlot = 0;
  /** The running digest of (line, dirty) entries, kept on every change. */
  private digA = 0;
  private digB = 0;
  readonly stats: CacheStats = { cleans: 0, invalidates: 0, writebacks: 0, discardedDirtyLines: 0 };

  /**
   * @param lineSizeBytes line size, a power of two (64 or 128 on the profiles)
   * @param partialLinePolicy what `invalidate` does with partial edge lines
   */
  constructor(
    private readonly mem: PhysicalMemory,
    readonly lineSizeBytes: number,
    readonly partialLinePolicy: PartialLinePolicy,
  ) {
    const reused = spareArenas.find((a) => a.lineSize === lineSizeBytes);
    if (reused !== undefined) spareArenas.splice(spareArenas.indexOf(reused), 1);
    this.arena = reused?.arena ?? new Uint8Array(256 * lineSizeBytes);
    this.dirtyBits = reused?.dirty.fill(0) ?? new Uint8Array(256);
    this.slots = reused?.table ?? new LineTable();
  }

  /**
   * The machine is being thrown away: hand the arena to the next cache
   * built in this thread (a harness builds one machine per driver
   * sequence). The cache must not be used afterwards.
   */
  release(): void {
    this.slots.clear();
    this.digA = 0;
    this.digB = 0;
    if (spareArenas.length < 4) spareArenas.push({ lineSize: this.lineSizeBytes, arena: this.arena, dirty: this.dirtyBits, table: this.slots });
    this.arena = new Uint8Array(0);
    this.dirtyBits = new Uint8Array(0);
  }

  /**
   * A digest of what the cache holds (which lines, which dirty), equal for
   * equal contents whatever the order lines came in: the cheap way to tell
   * that a refused call changed nothing.
   */
  digest(): string {
    return `${this.slots.size}:${this.digA.toString(16)}:${this.digB.toString(16)}`;
  }

  /** The line index holding `phys`. */
  lineOf(phys: number): number {
    return Math.floor(phys / this.lineSizeBytes);
  }

  /** True when the line holding `phys` is present. */
  isCached(phys: number): boolean {
    return this.slots.get(this.lineOf(phys)) >= 0;
  }

  /** True when the line holding `phys` is present and dirty. */
  isDirty(phys: number): boolean {
    const s = this.slots.get(this.lineOf(phys));
    return s >= 0 && this.dirtyBits[s] === 1;
  }

  /** Number of present lines. */
  get presentCount(): number {
    return this.slots.size;
  }

  /** Physical addresses of the first byte of every present line, ascending. */
  presentLines(): number[] {
    return this.slots.lines().sort((a, b) => a - b).map((l) => l * this.lineSizeBytes);
  }

  /** A slot for a new line (the arena grows by doubling). */
  private takeSlot(): number {
    const s = this.freeSlots.pop();
    if (s !== undefined) return s;
    if (this.nextSlot === this.dirtyBits.length) {
      const arena = new Uint8Array(this.arena.length * 2);
      arena.set(this.arena);
      this.arena = arena;
      const dirty = new Uint8Array(this.dirtyBits.length * 2);
      dirty.set(this.dirtyBits);
      this.dirtyBits = dirty;
    }
    return this.nextSlot++;
  }

  /** Add (`sign` 1) or remove (-1) an entry's share of the running {@link digest}. */
  private note(line: number, dirty: number, sign: 1 | -1): void {
    const h = Math.imul((line >>> 0) ^ Math.imul((line / 4294967296) >>> 0, 0x85ebca6b) ^ (dirty === 1 ? 0x5bd1e995 : 0), 0x9e3779b1) >>> 0;
    this.digA = (this.digA + sign * h) >>> 0;
    this.digB = (this.digB ^ Math.imul(h, 0xc2b2ae35)) >>> 0;
  }

  private drop(line: number, slot: number): void {
    this.note(line, this.dirtyBits[slot] as number, -1);
    this.slots.delete(line);
    this.dirtyBits[slot] = 0;
    this.freeSlots.push(slot);
  }

  /** The slot of `line`, filled from RAM when missing. */
  private lineSlot(line: number): number {
    let s = this.slots.get(line);
    if (s < 0) {
      s = this.takeSlot();
      const L = this.lineSizeBytes;
      if (!this.mem.isRam(line * L, L)) throw new BusError(line * L, L);
      this.mem.readLine(line * L, this.arena, s * L, L);
      this.dirtyBits[s] = 0;
      this.slots.set(line, s);
      this.note(line, 0, 1);
    }
    return s;
  }

  /** A cacheable CPU load: fills missing lines from RAM, copies into `dst[dstOff..]`. */
  readInto(phys: number, dst: Uint8Array, dstOff: number, lenBytes: number): void {
    const L = this.lineSizeBytes;
    let done = 0;
    while (done < lenBytes) {
      const a = phys + done;
      const line = Math.floor(a / L);
      const off = a - line * L;
      const n = Math.min(L - off, lenBytes - done);
      const base = this.lineSlot(line) * L + off;
      const arena = this.arena;
      for (let i = 0; i < n; i++) dst[dstOff + done + i] = arena[base + i] as number;
      done += n;
    }
  }

  /**
   * What a cacheable load of `[phys, phys+len)` would return now, without
   * loading anything: present lines from the cache, the rest from RAM. No
   * line is filled, evicted or counted (the oracle's non-perturbing peek).
   */
  peekInto(phys: number, dst: Uint8Array, dstOff: number, lenBytes: number): void {
    const L = this.lineSizeBytes;
    let done = 0;
    while (done < lenBytes) {
      const a = phys + done;
      const line = Math.floor(a / L);
      const off = a - line * L;
      const n = Math.min(L - off, lenBytes - done);
      const s = this.slots.get(line);
      if (s < 0) this.mem.readInto(a, dst, dstOff + done, n);
      else dst.set(this.arena.subarray(s * L + off, s * L + off + n), dstOff + done);
      done += n;
    }
  }

  /**
   * The slot `line` is written through: write-allocate (a store covering the
   * whole missing line allocates it without reading RAM), marked dirty.
   */
  private slotForStore(line: number, whole: boolean): number {
    let s = this.slots.get(line);
    if (s < 0) {
      if (whole) {
        s = this.takeSlot();
        this.slots.set(line, s);
        this.note(line, 0, 1);
      } else s = this.lineSlot(line);
    }
    if (this.dirtyBits[s] !== 1) {
      this.note(line, 0, -1);
      this.note(line, 1, 1);
      this.dirtyBits[s] = 1;
    }
    return s;
  }

  /** A cacheable CPU store: write-allocate, marks the lines dirty. RAM is not touched. */
  write(phys: number, src: Uint8Array, srcOff = 0, lenBytes = src.length - srcOff): void {
    const L = this.lineSizeBytes;
    let done = 0;
    while (done < lenBytes) {
      const a = phys + done;
      const line = Math.floor(a / L);
      const off = a - line * L;
      const n = Math.min(L - off, lenBytes - done);
      const base = this.slotForStore(line, n === L) * L + off;
      const arena = this.arena;
      for (let i = 0; i < n; i++) arena[base + i] = src[srcOff + done + i] as number;
      done += n;
    }
  }

  /** A cacheable CPU `memset`: `lenBytes` copies of `value` from `phys`, as {@link write} would store them. */
  fill(phys: number, value: number, lenBytes: number): void {
    const L = this.lineSizeBytes;
    let done = 0;
    while (done < lenBytes) {
      const a = phys + done;
      const line = Math.floor(a / L);
      const off = a - line * L;
      const n = Math.min(L - off, lenBytes - done);
      const base = this.slotForStore(line, n === L) * L + off;
      this.arena.fill(value, base, base + n);
      done += n;
    }
  }

  private writeback(line: number, slot: number): void {
    if (this.dirtyBits[slot] === 1) {
      const L = this.lineSizeBytes;
      this.mem.writeLine(line * L, this.arena, slot * L, L);
      this.dirtyBits[slot] = 0;
      this.note(line, 1, -1);
      this.note(line, 0, 1);
      this.stats.writebacks++;
    }
  }

  /**
   * Call `fn(line, slot)` for every present line overlapping `[phys, phys+len)`,
   * ascending. Walks the range or the present lines, whichever is shorter,
   * so a huge range costs no more than the cache holds.
   */
  private eachPresent(phys: number, lenBytes: number, fn: (line: number, slot: number) => void): void {
    if (this.slots.size === 0) return;
    const first = this.lineOf(phys);
    const last = this.lineOf(phys + lenBytes - 1);
    // Whichever is cheaper: look each line of the range up, or scan the table once.
    if (last - first + 1 <= this.slots.capacity) {
      for (let line = first; line <= last; line++) {
        const s = this.slots.get(line);
        if (s >= 0) fn(line, s);
      }
      return;
    }
    const hit: number[] = [];
    this.slots.forEach((line) => {
      if (line >= first && line <= last) hit.push(line);
    });
    hit.sort((a, b) => a - b);
    for (const line of hit) fn(line, this.slots.get(line));
  }

  /** Clean (write back, keep) every line overlapping `[phys, phys+len)`. */
  clean(phys: number, lenBytes: number): void {
    if (!nonEmpty('clean', phys, lenBytes)) return;
    this.stats.cleans++;
    this.eachPresent(phys, lenBytes, (line, s) => this.writeback(line, s));
  }

  /**
   * Invalidate (drop without writing back) every line overlapping the range.
   * A line only partly inside the range is handled by the
   * {@link PartialLinePolicy}; lines wholly inside lose their dirty data.
   */
  invalidate(phys: number, lenBytes: number): void {
    if (!nonEmpty('invalidate', phys, lenBytes)) return;
    this.stats.invalidates++;
    const end = phys + lenBytes;
    const L = this.lineSizeBytes;
    this.eachPresent(phys, lenBytes, (line, s) => {
      const start = line * L;
      const partial = start < phys || start + L > end;
      if (partial && this.partialLinePolicy === 'clean-invalidate') this.writeback(line, s);
      if (this.dirtyBits[s] === 1) this.stats.discardedDirtyLines++;
      this.drop(line, s);
    });
  }

  /** Clean and invalidate every line overlapping the range (write back, then drop). */
  cleanInvalidate(phys: number, lenBytes: number): void {
    if (!nonEmpty('clean+invalidate', phys, lenBytes)) return;
    this.stats.cleans++;
    this.stats.invalidates++;
    this.eachPresent(phys, lenBytes, (line, s) => {
      this.writeback(line, s);
      this.drop(line, s);
    });
  }

  /** Platform event: speculatively fill the line holding `phys` (clean). No-op if present. */
  speculativeFill(phys: number): void {
    this.lineSlot(this.lineOf(phys));
  }

  /** Platform event: evict the line holding `phys`, writing it back if dirty. No-op if absent. */
  evict(phys: number): void {
    const line = this.lineOf(phys);
    const s = this.slots.get(line);
    if (s < 0) return;
    this.writeback(line, s);
    this.drop(line, s);
  }

  /**
   * A coherent device's read: RAM, with dirty cached lines snooped over it.
   * Clean lines equal RAM on a coherent system, so RAM is read for them.
   */
  snoopReadInto(phys: number, dst: Uint8Array, dstOff: number, lenBytes: number): void {
    this.mem.readInto(phys, dst, dstOff, lenBytes);
    const L = this.lineSizeBytes;
    this.eachPresent(phys, lenBytes, (line, s) => {
      if (this.dirtyBits[s] !== 1) return;
      const start = line * L;
      const lo = Math.max(start, phys);
      const hi = Math.min(start + L, phys + lenBytes);
      dst.set(this.arena.subarray(s * L + (lo - start), s * L + (hi - start)), dstOff + (lo - phys));
    });
  }

  /**
   * A coherent device's write: RAM is written; present lines are kept
   * consistent (a clean line is dropped, a dirty line takes the new bytes and
   * stays dirty for the bytes the device did not write).
   */
  snoopWrite(phys: number, src: Uint8Array, srcOff = 0, lenBytes = src.length - srcOff): void {
    this.mem.write(phys, src, srcOff, lenBytes);
    const L = this.lineSizeBytes;
    this.eachPresent(phys, lenBytes, (line, s) => {
      if (this.dirtyBits[s] !== 1) {
        this.drop(line, s);
        return;
      }
      const start = line * L;
      const lo = Math.max(start, phys);
      const hi = Math.min(start + L, phys + lenBytes);
      this.arena.set(src.subarray(srcOff + (lo - phys), srcOff + (hi - phys)), s * L + (lo - start));
    });
  }
}
