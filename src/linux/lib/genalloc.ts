/**
 * genalloc (lib/genalloc.c): a general-purpose allocator of address ranges
 * over chunks of memory the owner adds, with a bitmap per chunk at the
 * pool's minimum allocation granularity. The DMA atomic pools (kernel/dma/
 * pool.c) and ARM32's atomic pool use it with
 * `gen_pool_first_fit_order_align`, which places an allocation of 2^n
 * granules at a multiple of 2^n granules from the chunk start
 * (kernel/dma/pool.c `atomic_pool_expand`, `dma_alloc_from_pool`).
 *
 * Trusted substrate: every pool registers itself with the substrate, so the
 * oracle can read where pool memory lies and how much of it is in use.
 */
import { hex } from '../../platform/types.ts';

/** Allocation algorithms of genalloc the model has. */
export type GenPoolAlgo = 'first-fit' | 'first-fit-order-align';

/** `struct gen_pool_chunk`: one range added with `gen_pool_add_virt`. */
export interface GenPoolChunk {
  /** Start of the chunk in the owner's (virtual) address space. */
  readonly startAddr: number;
  /** Physical address of `startAddr`. */
  readonly physAddr: number;
  /** Bytes. */
  readonly sizeBytes: number;
  /** One entry per granule: 1 = allocated. */
  readonly bits: Uint8Array;
}

/** Accounting of one pool: bytes added and bytes free. */
export interface GenPoolStats {
  readonly sizeBytes: number;
  readonly availBytes: number;
}

/** `struct gen_pool`. */
export class GenPool {
  readonly chunks: GenPoolChunk[] = [];
  algo: GenPoolAlgo = 'first-fit';

  /**
   * `gen_pool_create`.
   * @param minAllocOrder log2 of the granule in bytes (the DMA pools use `PAGE_SHIFT`)
   * @param name shown in accounting and diagnostics
   */
  constructor(
    readonly minAllocOrder: number,
    readonly name: string,
  ) {}

  private get granule(): number {
    return 2 ** this.minAllocOrder;
  }

  /** `gen_pool_set_algo`. */
  setAlgo(algo: GenPoolAlgo): void {
    this.algo = algo;
  }

  /**
   * `gen_pool_add_virt`: add `[virt, virt+size)` backed by `phys`.
   * @returns 0, or -22 (`-EINVAL`) when the size is not whole granules or the range overlaps a chunk (nothing added)
   */
  addVirt(virt: number, phys: number, sizeBytes: number): number {
    if (!(sizeBytes > 0) || sizeBytes % this.granule !== 0) return -22;
    if (this.chunks.some((c) => virt < c.startAddr + c.sizeBytes && c.startAddr < virt + sizeBytes)) return -22;
    this.chunks.push({ startAddr: virt, physAddr: phys, sizeBytes, bits: new Uint8Array(sizeBytes / this.granule) });
    return 0;
  }

  /**
   * `gen_pool_alloc`: `size` bytes rounded up to granules, by the pool's
   * algorithm, chunks in the order they were added. Never sleeps.
   * @returns the address, or 0 when no chunk has room
   */
  alloc(sizeBytes: number): number {
    if (!(sizeBytes > 0)) return 0;
    const place = this.firstFit(sizeBytes);
    if (place === null) return 0;
    place.chunk.bits.fill(1, place.at, place.at + place.n);
    return place.chunk.startAddr + place.at * this.granule;
  }

  /** Where the pool's algorithm would put `size` bytes: the first chunk with room, the granule index, the granule count; null when none has room. */
  private firstFit(sizeBytes: number): { chunk: GenPoolChunk; at: number; n: number } | null {
    const n = Math.ceil(sizeBytes / this.granule);
    let align = 1;
    if (this.algo === 'first-fit-order-align') while (align < n) align *= 2;
    for (const chunk of this.chunks) {
      const at = findZeroArea(chunk.bits, n, align);
      if (at >= 0) return { chunk, at, n };
    }
    return null;
  }

  /**
   * `gen_pool_free`: release `size` bytes at `addr`. The kernel BUGs on a
   * range outside every chunk or not allocated; the model refuses it and
   * returns a description instead, leaving the pool unchanged.
   * @returns null when freed, else why not (bracketed evidence)
   */
  free(addr: number, sizeBytes: number): string | null {
    const n = Math.ceil(sizeBytes / this.granule);
    const c = this.chunkOf(addr, sizeBytes);
    if (c === undefined) return `gen_pool_free outside every chunk [pool=${this.name}] [addr=${hex(addr)}] [size=${sizeBytes}]`;
    const at = (addr - c.startAddr) / this.granule;
    if (!Number.isInteger(at) || c.bits.subarray(at, at + n).some((b) => b === 0)) return `gen_pool_free of a range not allocated [pool=${this.name}] [addr=${hex(addr)}] [size=${sizeBytes}]`;
    c.bits.fill(0, at, at + n);
    return null;
  }

  private chunkOf(addr: number, sizeBytes: number): GenPoolChunk | undefined {
    return this.chunks.find((c) => addr >= c.startAddr && addr + sizeBytes <= c.startAddr + c.sizeBytes);
  }

  /** `gen_pool_has_addr`: is `[addr, addr+size)` inside one chunk? */
  hasAddr(addr: number, sizeBytes: number): boolean {
    return this.chunkOf(addr, sizeBytes) !== undefined;
  }

  /** `gen_pool_virt_to_phys`; -1 when `addr` is in no chunk (the kernel's `(phys_addr_t)-1`). */
  virtToPhys(addr: number): number {
    const c = this.chunkOf(addr, 1);
    return c === undefined ? -1 : c.physAddr + (addr - c.startAddr);
  }

  /** True when the physical range lies inside one chunk (for the oracle: "is this pool memory?"). */
  hasPhys(phys: number, sizeBytes: number): boolean {
    return this.chunks.some((c) => phys >= c.physAddr && phys + sizeBytes <= c.physAddr + c.sizeBytes);
  }

  /** True when some granule of the physical range is allocated. */
  physInUse(phys: number, sizeBytes: number): boolean {
    for (const c of this.chunks) {
      const lo = Math.max(phys, c.physAddr);
      const hi = Math.min(phys + sizeBytes, c.physAddr + c.sizeBytes);
      if (lo < hi && c.bits.subarray(Math.floor((lo - c.physAddr) / this.granule), Math.ceil((hi - c.physAddr) / this.granule)).some((b) => b !== 0)) return true;
    }
    return false;
  }

  /**
   * Where an allocation of `size` bytes would land now, as a physical
   * address (what `dma_alloc_from_pool` would find first), or null when no
   * chunk has room. For the oracle; changes nothing.
   */
  placementPhys(sizeBytes: number): number | null {
    const place = this.firstFit(sizeBytes);
    return place === null ? null : place.chunk.physAddr + place.at * this.granule;
  }

  /** `gen_pool_size`, bytes. */
  get sizeBytes(): number {
    return this.chunks.reduce((s, c) => s + c.sizeBytes, 0);
  }

  /** `gen_pool_avail`, bytes. */
  get availBytes(): number {
    return this.chunks.reduce((s, c) => s + c.bits.reduce((z, b) => z + (b === 0 ? 1 : 0), 0), 0) * this.granule;
  }

  /** Accounting snapshot. */
  stats(): GenPoolStats {
    return { sizeBytes: this.sizeBytes, availBytes: this.availBytes };
  }
}

/**
 * `bitmap_find_next_zero_area` from 0 with `align` (a power of two): the
 * first index that is a multiple of `align` with `n` clear entries.
 * @returns the index, or -1
 */
export function findZeroArea(bits: Uint8Array, n: number, align: number, offset = 0): number {
  for (let i = alignUp(0, align, offset); i + n <= bits.length; ) {
    let j = 0;
    while (j < n && bits[i + j] === 0) j++;
    if (j === n) return i;
    i = alignUp(i + j + 1, align, offset);
  }
  return -1;
}

/** Smallest `x ≥ i` with `(x + offset) % align === 0`. */
function alignUp(i: number, align: number, offset: number): number {
  const r = (i + offset) % align;
  return r === 0 ? i : i + (align - r);
}
