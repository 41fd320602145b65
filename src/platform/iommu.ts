/**
 * IOMMU hardware (an Arm SMMU, an Intel VT-d unit) as a device sees it: the
 * DMA address a device puts on the bus is an I/O virtual address (IOVA),
 * translated through the page tables of the device's domain into a physical
 * address, with a read and a write permission per page. Translations are
 * cached in an IOTLB, which keeps answering with what it cached until the
 * kernel invalidates it: this is why an unmap is complete only after the
 * invalidation, and why an IOVA may not be reused before it.
 *
 * Not a kernel mirror: the hardware the kernel programs through
 * `iommu_map`/`iommu_unmap`/`iommu_iotlb_sync`/`iommu_flush_iotlb_all`
 * (drivers/iommu/iommu.c, the io-pgtable formats). One domain per device
 * (the kernel's default DMA domain of a group of one).
 *
 * The IOTLB is the worst legal one: it holds every translation that existed
 * since its last invalidation covering it (hardware may prefetch and cache
 * any valid entry, and never caches an invalid one). A new page-table entry
 * does not replace a stale IOTLB entry for the same IOVA: the device keeps
 * using the stale translation until the invalidation. Page tables take no
 * memory from the platform's RAM (the model keeps them aside).
 *
 * Units: IOVAs and sizes in bytes; the granule (`pgsize_bitmap`'s smallest
 * page, 4 KiB or 64 KiB) is the unit of mapping.
 */
import { hex, maskLimit } from './types.ts';

/** `IOMMU_READ`: the device may read through the entry. */
export const IOMMU_READ = 1;
/** `IOMMU_WRITE`: the device may write through the entry. */
export const IOMMU_WRITE = 2;

/** The IOMMU in front of one device, as firmware describes it (DT `iommus`, IORT). */
export interface IommuConfig {
  /** Smallest IOMMU page, bytes: 4096 or 65536 (the domain's `pgsize_bitmap` granule). */
  readonly granuleBytes: number;
  /** Input address bits of the domain (`geometry.aperture_end = 2^bits - 1`); IOVA 0 … aperture end. */
  readonly apertureBits: number;
  /** True: every unmap invalidates the IOTLB at once (`iommu.strict=1`); false: a flush queue delays it (lazy). */
  readonly strict: boolean;
  /** Flush-queue entries before the queue is flushed when full (`IOVA_DEFAULT_FQ_SIZE` 256; small values make the full case happen). */
  readonly flushQueueSize: number;
}

/** Defaults of {@link IommuConfig} (an SMMUv3 with 4 KiB pages, 48-bit input, strict). */
export const IOMMU_DEFAULTS: IommuConfig = { granuleBytes: 4096, apertureBits: 48, strict: true, flushQueueSize: 256 };

/** Problems with an IOMMU description, one line each; empty when valid. */
export function validateIommuConfig(c: IommuConfig, where: string): string[] {
  const e: string[] = [];
  if (c.granuleBytes !== 4096 && c.granuleBytes !== 65536) e.push(`${where}.granuleBytes=${c.granuleBytes}: accepted are 4096 and 65536`);
  if (!Number.isInteger(c.apertureBits) || c.apertureBits < 32 || c.apertureBits > 52) e.push(`${where}.apertureBits=${c.apertureBits}: accepted are 32..52`);
  if (!Number.isInteger(c.flushQueueSize) || c.flushQueueSize < 1 || c.flushQueueSize > 4096) e.push(`${where}.flushQueueSize=${c.flushQueueSize}: accepted are 1..4096`);
  return e;
}

/** One translation: the physical address of the granule's first byte and its permissions. */
export interface IommuPte {
  readonly physBase: number;
  readonly prot: number;
}

/** What a device access through the IOMMU finds. */
export type IommuLookup = { readonly phys: number; readonly prot: number; readonly stale: boolean } | { readonly fault: string };

/** A snapshot entry of a domain, for the oracle. */
export interface IommuEntry {
  /** IOVA of the granule, bytes. */
  readonly iova: number;
  readonly physBase: number;
  readonly prot: number;
  /** True when only the IOTLB still holds it (or holds another translation than the page table). */
  readonly stale: boolean;
}

/** One domain: page tables and IOTLB of one device's IOMMU context. */
export class IommuDomainHw {
  private readonly pte = new Map<number, IommuPte>();
  private readonly iotlb = new Map<number, IommuPte>();
  /** Highest IOVA the domain translates (`geometry.aperture_end`). */
  readonly apertureEnd: number;
  /** IOTLB invalidations so far (all kinds), for diagnostics. */
  invalidations = 0;
  /** Bumped by every change to the page tables or the IOTLB: an observer may skip a domain whose generation it has seen. */
  generation = 0;

  constructor(
    readonly device: string,
    readonly config: IommuConfig,
  ) {
    this.apertureEnd = maskLimit(config.apertureBits);
  }

  get granuleBytes(): number {
    return this.config.granuleBytes;
  }

  private rangeOk(iova: number, sizeBytes: number): boolean {
    const g = this.granuleBytes;
    return Number.isSafeInteger(iova) && Number.isSafeInteger(sizeBytes) && iova >= 0 && sizeBytes > 0 && iova % g === 0 && sizeBytes % g === 0 && iova + sizeBytes - 1 <= this.apertureEnd;
  }

  /**
   * Write page-table entries for `[iova, iova+size)` → `[phys, …)` with
   * `prot` (`iommu_map`). Granule aligned, inside the aperture, not mapped.
   * @returns 0, -22 (-EINVAL: misaligned, outside the aperture, no
   *   permission) or -17 (-EEXIST: a granule is already mapped); nothing changes on failure
   */
  map(iova: number, physBase: number, sizeBytes: number, prot: number): number {
    const g = this.granuleBytes;
    if (!this.rangeOk(iova, sizeBytes) || !Number.isSafeInteger(physBase) || physBase < 0 || physBase % g !== 0 || (prot & (IOMMU_READ | IOMMU_WRITE)) === 0) return -22;
    for (let o = 0; o < sizeBytes; o += g) if (this.pte.has((iova + o) / g)) return -17;
    this.generation++;
    for (let o = 0; o < sizeBytes; o += g) {
      const e: IommuPte = { physBase: physBase + o, prot: prot & (IOMMU_READ | IOMMU_WRITE) };
      const k = (iova + o) / g;
      this.pte.set(k, e);
      if (!this.iotlb.has(k)) this.iotlb.set(k, e);
    }
    return 0;
  }

  /**
   * Clear page-table entries of `[iova, iova+size)` (`iommu_unmap_fast`),
   * stopping at the first granule not mapped. The IOTLB is untouched.
   * @returns bytes unmapped (0 for a bad range)
   */
  unmap(iova: number, sizeBytes: number): number {
    const g = this.granuleBytes;
    if (!this.rangeOk(iova, sizeBytes)) return 0;
    let done = 0;
    for (; done < sizeBytes; done += g) if (!this.pte.delete((iova + done) / g)) break;
    if (done > 0) this.generation++;
    return done;
  }

  /** Invalidate the IOTLB for `[iova, iova+size)` (`iommu_iotlb_sync` of a gathered range). Whole granules. */
  invalidateRange(iova: number, sizeBytes: number): void {
    const g = this.granuleBytes;
    if (!(sizeBytes > 0) || !Number.isSafeInteger(iova)) return;
    this.invalidations++;
    this.generation++;
    const first = Math.floor(iova / g);
    const last = Math.floor((iova + sizeBytes - 1) / g);
    if (last - first > this.iotlb.size) {
      for (const k of [...this.iotlb.keys()]) if (k >= first && k <= last) this.refill(k);
    } else for (let k = first; k <= last; k++) this.refill(k);
  }

  /** Invalidate the whole IOTLB (`iommu_flush_iotlb_all`). */
  invalidateAll(): void {
    this.invalidations++;
    this.generation++;
    this.iotlb.clear();
    for (const [k, e] of this.pte) this.iotlb.set(k, e);
  }

  /** After an invalidation the entry reloads from the page table on the next walk (or stays empty). */
  private refill(k: number): void {
    const e = this.pte.get(k);
    if (e === undefined) this.iotlb.delete(k);
    else this.iotlb.set(k, e);
  }

  /** What a device access at `iova` uses: the IOTLB's entry, else a page-table walk; a fault when neither holds one. */
  lookup(iova: number): IommuLookup {
    if (!Number.isSafeInteger(iova) || iova < 0 || iova > this.apertureEnd) return { fault: `IOVA ${hex(iova)} outside the aperture [end=${hex(this.apertureEnd)}]` };
    const g = this.granuleBytes;
    const k = Math.floor(iova / g);
    const t = this.iotlb.get(k) ?? this.pte.get(k);
    if (t === undefined) return { fault: `no translation for IOVA ${hex(iova)}` };
    const p = this.pte.get(k);
    return { phys: t.physBase + (iova % g), prot: t.prot, stale: p === undefined || p.physBase !== t.physBase || p.prot !== t.prot };
  }

  /** The page-table entry of the granule holding `iova`, or undefined. */
  lookupPte(iova: number): IommuPte | undefined {
    return this.pte.get(Math.floor(iova / this.granuleBytes));
  }

  /** `iommu_iova_to_phys`: the page tables' answer (never the IOTLB's); null when not mapped. */
  iovaToPhys(iova: number): number | null {
    if (!Number.isSafeInteger(iova) || iova < 0) return null;
    const g = this.granuleBytes;
    const e = this.pte.get(Math.floor(iova / g));
    return e === undefined ? null : e.physBase + (iova % g);
  }

  /** Every translation a device can use now, page tables and stale IOTLB entries, sorted by IOVA. */
  entries(): IommuEntry[] {
    const g = this.granuleBytes;
    const out: IommuEntry[] = [];
    const keys = new Set<number>([...this.pte.keys(), ...this.iotlb.keys()]);
    for (const k of [...keys].sort((a, b) => a - b)) {
      const t = this.iotlb.get(k) ?? (this.pte.get(k) as IommuPte);
      const p = this.pte.get(k);
      out.push({ iova: k * g, physBase: t.physBase, prot: t.prot, stale: p === undefined || p.physBase !== t.physBase || p.prot !== t.prot });
    }
    return out;
  }

  /** Granules with a page-table entry. */
  get mappedGranules(): number {
    return this.pte.size;
  }

  /** IOTLB entries that no longer match the page tables. */
  get staleEntries(): number {
    let n = 0;
    for (const [k, t] of this.iotlb) {
      const p = this.pte.get(k);
      if (p === undefined || p.physBase !== t.physBase || p.prot !== t.prot) n++;
    }
    return n;
  }
}

/** Describe a permission set as `r`, `w`, `rw` or `-`. */
export function protString(prot: number): string {
  const s = `${(prot & IOMMU_READ) !== 0 ? 'r' : ''}${(prot & IOMMU_WRITE) !== 0 ? 'w' : ''}`;
  return s === '' ? '-' : s;
}
