/**
 * User-space mappings: the pages a `dma_mmap_attrs` call put into a process's
 * virtual memory area, with their attribute.
 *
 * Not a kernel mirror; this is the MMU's user half, reduced to what DMA
 * sharing needs. A VMA is created empty by the harness (as `mmap(2)` would),
 * filled by the backend with {@link UserSpace.remapPfnRange}
 * (`remap_pfn_range`), and read by the oracle through the same pages and
 * attribute the backend chose (kernel/dma/mapping.c `dma_mmap_attrs`,
 * kernel/dma/direct.c `dma_direct_mmap`). A page the backend did not fill
 * raises {@link UserFault} (SIGBUS).
 */
import type { CpuCache } from './cache.ts';
import { PlatformError, checkRange } from './check.ts';
import type { PhysicalMemory } from './memory.ts';
import type { PageAttr } from './pgtable.ts';
import { PAGE_SIZE, type Pfn, hex, pfnToPhys } from './types.ts';

/** A user access to a VMA page that is not populated. */
export class UserFault extends Error {
  constructor(
    readonly vmaId: number,
    readonly offsetBytes: number,
  ) {
    super(`SIGBUS in user mapping [vma=${vmaId}] [offset=${hex(offsetBytes)}]`);
    this.name = 'UserFault';
  }
}

/** A user virtual memory area (`struct vm_area_struct`). */
export interface VmArea {
  readonly id: number;
  /** `vm_pgoff`: offset into the buffer, in pages. */
  readonly pgoff: number;
  /** `vma_pages(vma)`: length in pages. */
  readonly nrPages: number;
  /** `vm_page_prot`, as chosen by the backend (set by {@link UserSpace.remapPfnRange}). */
  attr: PageAttr;
  /** Page frame behind each page of the VMA; null where nothing is mapped. */
  readonly pages: (Pfn | null)[];
}

/** The user address space of the simulated process. */
export class UserSpace {
  private nextId = 1;

  constructor(
    private readonly mem: PhysicalMemory,
    private readonly cache: CpuCache,
  ) {}

  /** `mmap(2)` of `nrPages` at page offset `pgoff`: an empty VMA for a backend to fill. */
  createVma(nrPages: number, pgoff: number): VmArea {
    return { id: this.nextId++, pgoff, nrPages, attr: 'cacheable', pages: new Array<Pfn | null>(nrPages).fill(null) };
  }

  /**
   * `remap_pfn_range`: map `nrPages` frames from `first` at page `atPage` of the VMA.
   * @returns 0, or -EINVAL (-22) when the range does not fit the VMA (nothing mapped)
   */
  remapPfnRange(vma: VmArea, atPage: number, first: Pfn, nrPages: number, attr: PageAttr): number {
    if (!Number.isSafeInteger(atPage) || !Number.isSafeInteger(nrPages) || atPage < 0 || nrPages < 0 || atPage + nrPages > vma.nrPages) return -22;
    checkRange('remap_pfn_range', first * PAGE_SIZE, nrPages * PAGE_SIZE);
    if (nrPages > 0 && !this.mem.isRam(first * PAGE_SIZE, nrPages * PAGE_SIZE)) throw new PlatformError(`remap_pfn_range: pfns ${hex(first)}+${nrPages} are not RAM`);
    vma.attr = attr;
    for (let i = 0; i < nrPages; i++) vma.pages[atPage + i] = (first + i) as Pfn;
    return 0;
  }

  /** Number of populated pages in the VMA. */
  populated(vma: VmArea): number {
    return vma.pages.filter((p) => p !== null).length;
  }

  /** A user load of `lenBytes` at byte `offsetBytes` of the VMA. @throws UserFault on an unpopulated page */
  read(vma: VmArea, offsetBytes: number, lenBytes: number): Uint8Array {
    const out = new Uint8Array(lenBytes);
    let done = 0;
    while (done < lenBytes) {
      const o = offsetBytes + done;
      const idx = Math.floor(o / PAGE_SIZE);
      const p = idx < vma.nrPages ? vma.pages[idx] : null;
      if (p === null || p === undefined) throw new UserFault(vma.id, o);
      const n = Math.min(PAGE_SIZE - (o % PAGE_SIZE), lenBytes - done);
      const phys = pfnToPhys(p) + (o % PAGE_SIZE);
      if (vma.attr === 'cacheable') this.cache.readInto(phys, out, done, n);
      else this.mem.readInto(phys, out, done, n);
      done += n;
    }
    return out;
  }
}
