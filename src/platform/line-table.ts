/**
 * Not a kernel mirror: the CPU cache model's index from line number to arena
 * slot, an open-addressing hash table over typed arrays (linear probing,
 * deletion by backward shift, so no tombstones). It replaces a
 * `Map<number, number>` on the simulator's hottest path: every cached load
 * and store goes through it. Line numbers are non-negative integers below
 * 2^53; slots are non-negative 32-bit integers.
 */
const EMPTY = -1;

/** line → slot. */
export class LineTable {
  private keys: Float64Array;
  private vals: Int32Array;
  private mask: number;
  /** Entries held. */
  size = 0;

  /** Slots of the table (a scan of every entry costs this much). */
  get capacity(): number {
    return this.keys.length;
  }

  constructor(capacity = 1024) {
    let c = 16;
    while (c < capacity * 2) c *= 2;
    this.keys = new Float64Array(c).fill(EMPTY);
    this.vals = new Int32Array(c);
    this.mask = c - 1;
  }

  private home(line: number): number {
    // Fibonacci hashing of the low 32 bits mixed with the high bits.
    const lo = line >>> 0;
    const hi = (line / 4294967296) >>> 0;
    return Math.imul(lo ^ Math.imul(hi, 0x27d4eb2d), 0x9e3779b1) >>> 0;
  }

  /** The slot of `line`, or -1. */
  get(line: number): number {
    const keys = this.keys;
    let i = this.home(line) & this.mask;
    for (;;) {
      const k = keys[i] as number;
      if (k === line) return this.vals[i] as number;
      if (k === EMPTY) return -1;
      i = (i + 1) & this.mask;
    }
  }

  has(line: number): boolean {
    return this.get(line) >= 0;
  }

  /** Map `line` to `slot` (replacing an entry for `line`). */
  set(line: number, slot: number): void {
    if ((this.size + 1) * 2 > this.keys.length) this.grow();
    const keys = this.keys;
    let i = this.home(line) & this.mask;
    for (;;) {
      const k = keys[i] as number;
      if (k === line) {
        this.vals[i] = slot;
        return;
      }
      if (k === EMPTY) {
        keys[i] = line;
        this.vals[i] = slot;
        this.size++;
        return;
      }
      i = (i + 1) & this.mask;
    }
  }

  /** Remove `line`. @returns false when it was not there */
  delete(line: number): boolean {
    const keys = this.keys;
    const vals = this.vals;
    const mask = this.mask;
    let i = this.home(line) & mask;
    for (;;) {
      const k = keys[i] as number;
      if (k === EMPTY) return false;
      if (k === line) break;
      i = (i + 1) & mask;
    }
    // Backward-shift deletion: move later members of the cluster into the hole when their home allows it.
    let hole = i;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const k = keys[j] as number;
      if (k === EMPTY) break;
      const h = this.home(k) & mask;
      // Move k into the hole when its home is not in (hole, j], cyclically.
      if (hole <= j ? h <= hole || h > j : h <= hole && h > j) {
        keys[hole] = k;
        vals[hole] = vals[j] as number;
        hole = j;
      }
    }
    keys[hole] = EMPTY;
    this.size--;
    return true;
  }

  clear(): void {
    this.keys.fill(EMPTY);
    this.size = 0;
  }

  /** Call `fn(line, slot)` for every entry, in no particular order (the table must not change meanwhile). */
  forEach(fn: (line: number, slot: number) => void): void {
    const keys = this.keys;
    const vals = this.vals;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i] as number;
      if (k !== EMPTY) fn(k, vals[i] as number);
    }
  }

  /** Every line held, in no particular order. */
  lines(): number[] {
    const out: number[] = [];
    const keys = this.keys;
    for (let i = 0; i < keys.length; i++) if ((keys[i] as number) !== EMPTY) out.push(keys[i] as number);
    return out;
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldVals = this.vals;
    this.keys = new Float64Array(oldKeys.length * 2).fill(EMPTY);
    this.vals = new Int32Array(oldKeys.length * 2);
    this.mask = this.keys.length - 1;
    this.size = 0;
    for (let i = 0; i < oldKeys.length; i++) if ((oldKeys[i] as number) !== EMPTY) this.set(oldKeys[i] as number, oldVals[i] as number);
  }
}
