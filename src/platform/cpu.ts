/**
 * The CPU's loads and stores through the kernel page tables, the data cache
 * and the write-combine buffer.
 *
 * Not a kernel mirror; this is the processor. Every CPU access of a backend
 * and of the oracle goes through here, so a missing invalidate really shows
 * as a stale read, an uncached view really bypasses the cache, and an
 * unmapped address really faults.
 *
 * Write-combine (`DMA_ATTR_WRITE_COMBINE`, arm64 Normal-NC): stores to a WC
 * mapping sit in a small buffer until a barrier (`dma_wmb()`), a random drain
 * event, or the buffer filling up pushes them to RAM (R18: coherent memory
 * still needs barriers for ordering). The CPU's own loads see its buffered
 * stores.
 */
import type { CpuCache } from './cache.ts';
import { checkRange } from './check.ts';
import type { PhysicalMemory } from './memory.ts';
import type { AccessKind, KernelPageTables, PageAttr } from './pgtable.ts';
import { PAGE_SIZE } from './types.ts';

interface WcEntry {
  readonly phys: number;
  readonly lenBytes: number;
  /** The stored bytes, or null for a `memset` of {@link WcEntry.value}. */
  readonly data: Uint8Array | null;
  readonly value: number;
}

/** The write-combine buffer between the CPU and RAM. */
export class WriteCombineBuffer {
  private entries: WcEntry[] = [];

  /** @param capacityEntries stores held before the oldest is pushed out */
  constructor(
    private readonly mem: PhysicalMemory,
    readonly capacityEntries = 16,
  ) {}

  /** Number of stores not yet in RAM. */
  get pending(): number {
    return this.entries.length;
  }

  private push(e: WcEntry): void {
    this.entries.push(e);
    while (this.entries.length > this.capacityEntries) this.retire(this.entries.shift() as WcEntry);
  }

  private retire(e: WcEntry): void {
    if (e.data === null) this.mem.fill(e.phys, e.value, e.lenBytes);
    else this.mem.write(e.phys, e.data);
  }

  /** Buffer a store; pushes the oldest store to RAM when full. */
  store(phys: number, data: Uint8Array): void {
    this.push({ phys, lenBytes: data.length, data: data.slice(), value: 0 });
  }

  /** Buffer a `memset` of `lenBytes` bytes of `value`. */
  storeFill(phys: number, value: number, lenBytes: number): void {
    this.push({ phys, lenBytes, data: null, value });
  }

  /** Drain every buffered store to RAM, oldest first (`dma_wmb()`, or a drain event). */
  drain(): void {
    for (const e of this.entries) this.retire(e);
    this.entries = [];
  }

  /** Overlay buffered stores onto a load of `[phys, phys+len)` read from RAM into `dst[dstOff..]`. */
  forward(phys: number, dst: Uint8Array, dstOff: number, lenBytes: number): void {
    for (const e of this.entries) {
      const lo = Math.max(phys, e.phys);
      const hi = Math.min(phys + lenBytes, e.phys + e.lenBytes);
      if (lo >= hi) continue;
      if (e.data === null) dst.fill(e.value, dstOff + (lo - phys), dstOff + (hi - phys));
      else dst.set(e.data.subarray(lo - e.phys, hi - e.phys), dstOff + (lo - phys));
    }
  }
}

/** The CPU as seen by kernel code: loads and stores by kernel virtual address. */
export class Cpu {
  constructor(
    private readonly pt: KernelPageTables,
    private readonly cache: CpuCache,
    private readonly mem: PhysicalMemory,
    readonly wc: WriteCombineBuffer,
  ) {}

  private walk(
    va: number,
    lenBytes: number,
    access: AccessKind,
    by: string,
    fn: (phys: number, attr: PageAttr, off: number, n: number) => void,
  ): void {
    checkRange(`CPU ${access} by ${by}`, va, lenBytes);
    if (lenBytes === 0) return;
    // Translate every page first, so a fault part-way changes nothing.
    const first = this.pt.translate(va, access, by);
    const n0 = Math.min(PAGE_SIZE - (va % PAGE_SIZE), lenBytes);
    if (n0 === lenBytes) {
      fn(first.phys, first.attr, 0, lenBytes);
      return;
    }
    const chunks: [number, PageAttr, number, number][] = [[first.phys, first.attr, 0, n0]];
    let done = n0;
    while (done < lenBytes) {
      const a = va + done;
      const n = Math.min(PAGE_SIZE - (a % PAGE_SIZE), lenBytes - done);
      const t = this.pt.translate(a, access, by);
      chunks.push([t.phys, t.attr, done, n]);
      done += n;
    }
    for (const [phys, attr, off, n] of chunks) fn(phys, attr, off, n);
  }

  /**
   * Load `lenBytes` from kernel virtual address `va`.
   * @param by actor named in a {@link PageFault}, e.g. `backend:dma_get_sgtable_attrs`
   * @throws PageFault when part of the range is unmapped (nothing is read); PlatformError on a garbage range
   */
  read(va: number, lenBytes: number, by = 'cpu'): Uint8Array {
    const out = new Uint8Array(lenBytes);
    this.readInto(va, out, 0, lenBytes, by);
    return out;
  }

  /**
   * What a load of `lenBytes` at `va` would return now, without performing
   * it: no cache line is allocated, nothing is counted, the write-combine
   * buffer is forwarded but not drained. The oracle's view at an ownership
   * transfer, which must not change what the driver's next step sees.
   * @throws as {@link read}
   */
  peek(va: number, lenBytes: number, by = 'oracle'): Uint8Array {
    const out = new Uint8Array(lenBytes);
    this.walk(va, lenBytes, 'read', by, (phys, attr, off, n) => {
      if (attr === 'cacheable') this.cache.peekInto(phys, out, off, n);
      else {
        this.mem.readInto(phys, out, off, n);
        if (attr === 'write-combine') this.wc.forward(phys, out, off, n);
      }
    });
    return out;
  }

  /** Load `lenBytes` from `va` into `dst[dstOff..]`. @throws as {@link read} */
  readInto(va: number, dst: Uint8Array, dstOff: number, lenBytes: number, by = 'cpu'): void {
    this.walk(va, lenBytes, 'read', by, (phys, attr, off, n) => {
      if (attr === 'cacheable') this.cache.readInto(phys, dst, dstOff + off, n);
      else {
        this.mem.readInto(phys, dst, dstOff + off, n);
        if (attr === 'write-combine') this.wc.forward(phys, dst, dstOff + off, n);
      }
    });
  }

  /**
   * Store `data` at kernel virtual address `va`.
   * @throws PageFault when part of the range is unmapped (nothing is written); PlatformError on a garbage range
   */
  write(va: number, data: Uint8Array, by = 'cpu'): void {
    this.walk(va, data.length, 'write', by, (phys, attr, off, n) => {
      const part = data.subarray(off, off + n);
      if (attr === 'cacheable') this.cache.write(phys, part);
      else if (attr === 'uncached') this.mem.write(phys, part);
      else this.wc.store(phys, part);
    });
  }

  /** `memset`: store `lenBytes` copies of `value` at `va`. */
  memset(va: number, value: number, lenBytes: number, by = 'cpu'): void {
    this.walk(va, lenBytes, 'write', by, (phys, attr, _off, n) => {
      if (attr === 'cacheable') this.cache.fill(phys, value, n);
      else if (attr === 'uncached') this.mem.fill(phys, value, n);
      else this.wc.storeFill(phys, value, n);
    });
  }

  /**
   * A `memset(va, 0, len)` whose stores have all reached RAM: the range is
   * zero in RAM and no cache line or write-combine entry of it is left.
   * This is the state a boot-time clear (of a pool set up before any driver
   * runs) leaves behind, and costs no cache traffic for megabytes.
   * @throws PageFault when part of the range is unmapped (nothing is written); PlatformError on a garbage range
   */
  clearToRam(va: number, lenBytes: number, by = 'cpu'): void {
    this.wc.drain();
    // Physically contiguous chunks are cleared as one range: one pass over the cache, not one per page.
    const runs: [number, number][] = [];
    this.walk(va, lenBytes, 'write', by, (phys, _attr, _off, n) => {
      const last = runs[runs.length - 1];
      if (last !== undefined && last[0] + last[1] === phys) last[1] += n;
      else runs.push([phys, n]);
    });
    for (const [phys, n] of runs) {
      this.cache.cleanInvalidate(phys, n);
      this.mem.zero(phys, n);
    }
  }

  /** `dma_wmb()`: order prior stores before the device may read; drains the WC buffer. */
  dmaWmb(): void {
    this.wc.drain();
  }
}
