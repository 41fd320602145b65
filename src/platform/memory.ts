/**
 * Physical memory: RAM banks made of sparse 4 KiB pages.
 *
 * Not a kernel mirror; this is the hardware. Pages are created on first
 * touch and filled with seeded garbage in which no byte is zero, so a path
 * that forgets to zero a buffer, or to copy data into it, shows up as
 * garbage instead of happening to read back as zeros. The garbage of a page
 * depends only on the platform seed and the page frame number, never on the
 * order in which pages are touched.
 */
import { checkRange } from './check.ts';
import type { Prng } from './prng.ts';
import { PAGE_SIZE, type PhysAddr, type Pfn, hex } from './types.ts';

/** One contiguous range of RAM. */
export interface RamBank {
  /** First byte of the bank. Page aligned. */
  readonly startPhys: PhysAddr;
  /** Size in bytes. Whole pages. */
  readonly sizeBytes: number;
}

/** A CPU or bus access to an address that is not RAM. */
export class BusError extends Error {
  constructor(
    readonly phys: number,
    readonly lenBytes: number,
  ) {
    super(`bus error: access to non-RAM physical address [phys=${hex(phys)}] [len=${lenBytes}]`);
    this.name = 'BusError';
  }
}

/**
 * Garbage pages already generated, per salt: every platform built from one
 * seed has the same garbage, so a worker that builds a machine per driver
 * sequence generates each page once and copies it on the first write
 * (reads of a page never written use the shared copy). Bounded, so a long
 * run does not grow without limit.
 */
const pristine = new Map<number, Map<number, Uint8Array>>();
const PRISTINE_MAX_PAGES = 16384;
let pristinePages = 0;
/** Page buffers of released memories, reused for first writes. */
const sparePages: Uint8Array[] = [];
const SPARE_MAX_PAGES = 4096;

/** Physical RAM. All offsets and lengths are in bytes. */
/** The one all-zero page every zeroed, never written page reads from (never written itself). */
const ZERO_PAGE = new Uint8Array(PAGE_SIZE);

export class PhysicalMemory {
  /** Pages written so far (private copies). */
  private readonly pages = new Map<number, Uint8Array>();
  private readonly salt: number;
  private readonly garbage: Map<number, Uint8Array>;

  /** @param banks the RAM banks, sorted and non-overlapping (the profile validator checks this). */
  constructor(
    readonly banks: readonly RamBank[],
    prng: Prng,
  ) {
    this.salt = prng.u32();
    let g = pristine.get(this.salt);
    if (g === undefined) pristine.set(this.salt, (g = new Map()));
    this.garbage = g;
  }

  /** True when every byte of `[phys, phys+len)` lies inside one RAM bank. */
  isRam(phys: number, lenBytes = 1): boolean {
    for (const b of this.banks) {
      if (phys >= b.startPhys && phys + lenBytes <= b.startPhys + b.sizeBytes) return true;
    }
    return false;
  }

  /** True when the page frame is RAM. */
  isRamPfn(p: Pfn): boolean {
    return this.isRam(p * PAGE_SIZE, PAGE_SIZE);
  }

  /** Number of pages written so far. */
  get touchedPages(): number {
    return this.pages.size;
  }

  /** The seeded garbage of a page never written. */
  private garbageOf(pfnNum: number): Uint8Array {
    let p = this.garbage.get(pfnNum);
    if (p !== undefined) return p;
    p = new Uint8Array(PAGE_SIZE);
    // xorshift32 keyed on (salt, pfn): deterministic, order independent.
    let x = (this.salt ^ Math.imul(pfnNum + 1, 0x9e3779b1)) >>> 0 || 0x1234567;
    for (let i = 0; i < PAGE_SIZE; i += 4) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      for (let k = 0; k < 4; k++) {
        const byte = (x >>> (k * 8)) & 0xff;
        p[i + k] = byte === 0 ? 0xa5 : byte;
      }
    }
    if (pristinePages < PRISTINE_MAX_PAGES) {
      this.garbage.set(pfnNum, p);
      pristinePages++;
    }
    return p;
  }

  /** The bytes of a page, for reading. */
  private pageForRead(pfnNum: number): Uint8Array {
    return this.pages.get(pfnNum) ?? this.garbageOf(pfnNum);
  }

  /** The page's own copy, for writing (copied from its garbage, or from zeroes, on the first write). */
  private pageForWrite(pfnNum: number): Uint8Array {
    let p = this.pages.get(pfnNum);
    if (p === undefined || p === ZERO_PAGE) {
      const from = p ?? this.garbageOf(pfnNum);
      const spare = sparePages.pop();
      p = spare === undefined ? from.slice() : (spare.set(from), spare);
      this.pages.set(pfnNum, p);
    }
    return p;
  }

  /**
   * Zero `lenBytes` at `phys`: whole pages share one zero page until
   * written (so clearing megabytes at boot costs nothing), partial pages are
   * filled. Throws {@link BusError} outside RAM.
   */
  zero(phys: number, lenBytes: number): void {
    this.check(phys, lenBytes);
    let done = 0;
    while (done < lenBytes) {
      const a = phys + done;
      const off = a % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - off, lenBytes - done);
      const pfnNum = (a - off) / PAGE_SIZE;
      if (n === PAGE_SIZE) {
        const old = this.pages.get(pfnNum);
        if (old !== undefined && old !== ZERO_PAGE && sparePages.length < SPARE_MAX_PAGES) sparePages.push(old);
        this.pages.set(pfnNum, ZERO_PAGE);
      } else this.pageForWrite(pfnNum).fill(0, off, off + n);
      done += n;
    }
  }

  /** The machine is being thrown away: keep its page buffers for the next memory built in this thread. Must not be used afterwards. */
  release(): void {
    for (const p of this.pages.values()) if (p !== ZERO_PAGE && sparePages.length < SPARE_MAX_PAGES) sparePages.push(p);
    this.pages.clear();
  }

  private check(phys: number, lenBytes: number): void {
    checkRange('physical memory access', phys, lenBytes);
    if (!this.isRam(phys, lenBytes)) throw new BusError(phys, lenBytes);
  }

  /** Copy `lenBytes` starting at `phys` into `dst[dstOff..]`. Throws {@link BusError} outside RAM. */
  readInto(phys: number, dst: Uint8Array, dstOff: number, lenBytes: number): void {
    this.check(phys, lenBytes);
    let done = 0;
    while (done < lenBytes) {
      const a = phys + done;
      const off = a % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - off, lenBytes - done);
      dst.set(this.pageForRead((a - off) / PAGE_SIZE).subarray(off, off + n), dstOff + done);
      done += n;
    }
  }

  /** Read `lenBytes` at `phys` into a new array. Throws {@link BusError} outside RAM. */
  read(phys: number, lenBytes: number): Uint8Array {
    this.check(phys, lenBytes);
    const out = new Uint8Array(lenBytes);
    this.readInto(phys, out, 0, lenBytes);
    return out;
  }

  /** Write `src[srcOff .. srcOff+lenBytes)` at `phys`. Throws {@link BusError} outside RAM. */
  write(phys: number, src: Uint8Array, srcOff = 0, lenBytes = src.length - srcOff): void {
    this.check(phys, lenBytes);
    let done = 0;
    while (done < lenBytes) {
      const a = phys + done;
      const off = a % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - off, lenBytes - done);
      this.pageForWrite((a - off) / PAGE_SIZE).set(src.subarray(srcOff + done, srcOff + done + n), off);
      done += n;
    }
  }

  /**
   * A cache line's transfer: `lenBytes` at `phys` within one page, into or
   * out of `buf[off..]`, without the range checks (the CPU cache only holds
   * lines of RAM it read or wrote through a translation).
   */
  readLine(phys: number, buf: Uint8Array, off: number, lenBytes: number): void {
    const o = phys % PAGE_SIZE;
    buf.set(this.pageForRead((phys - o) / PAGE_SIZE).subarray(o, o + lenBytes), off);
  }

  /** See {@link readLine}. */
  writeLine(phys: number, buf: Uint8Array, off: number, lenBytes: number): void {
    const o = phys % PAGE_SIZE;
    this.pageForWrite((phys - o) / PAGE_SIZE).set(buf.subarray(off, off + lenBytes), o);
  }

  /** Store `lenBytes` copies of `value` at `phys` (an uncached `memset`). Throws {@link BusError} outside RAM. */
  fill(phys: number, value: number, lenBytes: number): void {
    this.check(phys, lenBytes);
    let done = 0;
    while (done < lenBytes) {
      const a = phys + done;
      const off = a % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - off, lenBytes - done);
      this.pageForWrite((a - off) / PAGE_SIZE).fill(value, off, off + n);
      done += n;
    }
  }
}
