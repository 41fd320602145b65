/**
 * Kernel page tables: which kernel virtual addresses map which physical
 * pages, with which memory attribute.
 *
 * Not a kernel mirror; this is the MMU. The kernel sees memory through
 * several views, the aliases of one page that `arch_dma_prep_coherent` and
 * `arch_dma_set_uncached` exist for (include/linux/dma-map-ops.h,
 * kernel/dma/direct.c `dma_direct_alloc`):
 * - the linear map of lowmem, always cacheable;
 * - the vmalloc/remap area, per-page attribute (cacheable, uncached,
 *   write-combine), set up by `vmap`;
 * - a fixed uncached alias window on noMMU and MIPS-style platforms (RAM seen
 *   again at a constant offset);
 * - temporary kmap slots for highmem pages, which have no permanent mapping;
 * - everything else is unmapped: an access raises a {@link PageFault} that
 *   names the address and the access, which the oracle reports (a backend
 *   that dereferences a `DMA_ATTR_NO_KERNEL_MAPPING` cookie lands here).
 */
import { PlatformError, checkRange } from './check.ts';
import type { PhysicalMemory } from './memory.ts';
import { PAGE_SIZE, type CpuAddr, type Pfn, type PhysAddr, cpuAddr, hex, pfnToPhys } from './types.ts';

/** Memory attribute of a kernel or user mapping (`pgprot_t` reduced to what DMA cares about). */
export type PageAttr = 'cacheable' | 'uncached' | 'write-combine';

/** Kernel virtual address layout of a profile. All values are byte addresses. */
export interface VaLayout {
  /** `PAGE_OFFSET`: virtual address of the start of the linear map. */
  readonly pageOffset: number;
  /** `PHYS_OFFSET`: physical address mapped at `pageOffset`. */
  readonly physOffset: number;
  /** First physical address above lowmem: RAM at or above it is highmem (no linear mapping). */
  readonly lowmemEndPhys: number;
  /** `[vmallocStart, vmallocEnd)`: the vmalloc/remap area. Empty (equal) without an MMU. */
  readonly vmallocStart: number;
  readonly vmallocEnd: number;
  /** First virtual address of the temporary kmap window, and its size in pages (0 = none). */
  readonly kmapBase: number;
  readonly kmapSlots: number;
  /** Start of the vmemmap (`struct page` array). Never mapped in the model: page pointers are opaque. */
  readonly vmemmapBase: number;
  /** noMMU: RAM is seen uncached again at `phys + uncachedAliasOffset`; null when there is no alias. */
  readonly uncachedAliasOffset: number | null;
}

/** Kind of CPU access that faulted. */
export type AccessKind = 'read' | 'write';

/** A CPU access to a kernel virtual address that nothing maps. */
export class PageFault extends Error {
  constructor(
    readonly vaddr: number,
    readonly access: AccessKind,
    readonly by: string,
  ) {
    super(`Unable to handle kernel paging request [vaddr=${hex(vaddr)}] [access=${access}] [by=${by}]`);
    this.name = 'PageFault';
  }
}

/** Result of a translation: the physical address and the attribute of the view. */
export interface Translation {
  readonly phys: PhysAddr;
  readonly attr: PageAttr;
}

interface Pte {
  readonly pfn: Pfn;
  readonly attr: PageAttr;
}

/** The kernel's page tables. */
export class KernelPageTables {
  private readonly ptes = new Map<number, Pte>();
  /** Number of cacheable PTEs (vmalloc or kmap) per pfn, for speculative-fill legality. */
  private readonly cacheableRefs = new Map<number, number>();
  private readonly kmapUsed: boolean[];
  /**
   * Called after a PTE is removed: the TLB invalidation's `dsb` drains the
   * CPU's write buffer, so no store through the old mapping is still in
   * flight when the page is reused. The platform wires it to the
   * write-combine buffer.
   */
  onTlbFlush: () => void = () => {};

  constructor(
    readonly layout: VaLayout,
    private readonly mem: PhysicalMemory,
  ) {
    this.kmapUsed = new Array<boolean>(layout.kmapSlots).fill(false);
  }

  /** True when the physical page is lowmem (has a linear-map address). */
  isLowmem(phys: number): boolean {
    return phys >= this.layout.physOffset && phys < this.layout.lowmemEndPhys;
  }

  /** `page_address` / `phys_to_virt` for lowmem; null for highmem or non-RAM. */
  linearAddress(phys: number): CpuAddr | null {
    if (!this.isLowmem(phys) || !this.mem.isRam(phys)) return null;
    return cpuAddr(phys - this.layout.physOffset + this.layout.pageOffset);
  }

  /** The uncached alias of a physical address (noMMU profiles); null where there is none. */
  uncachedAlias(phys: number): CpuAddr | null {
    if (this.layout.uncachedAliasOffset === null || !this.mem.isRam(phys)) return null;
    return cpuAddr(phys + this.layout.uncachedAliasOffset);
  }

  /** True when `va` lies in the vmalloc/remap area (`is_vmalloc_addr`). */
  isVmallocAddr(va: number): boolean {
    return va >= this.layout.vmallocStart && va < this.layout.vmallocEnd;
  }

  /** True when `va` lies in the linear map of RAM (`virt_addr_valid`). */
  isLinearAddr(va: number): boolean {
    const l = this.layout;
    const phys = va - l.pageOffset + l.physOffset;
    return va >= l.pageOffset && this.isLowmem(phys) && this.mem.isRam(phys);
  }

  /**
   * Translate one kernel virtual address. Throws {@link PageFault} when
   * nothing maps it. `by` names the actor for the diagnostic.
   */
  translate(va: number, access: AccessKind, by: string): Translation {
    const l = this.layout;
    const pte = this.ptes.get(Math.floor(va / PAGE_SIZE));
    if (pte !== undefined) return { phys: (pfnToPhys(pte.pfn) + (va % PAGE_SIZE)) as PhysAddr, attr: pte.attr };
    if (va >= l.pageOffset) {
      const phys = va - l.pageOffset + l.physOffset;
      if (this.isLowmem(phys) && this.mem.isRam(phys)) return { phys: phys as PhysAddr, attr: 'cacheable' };
    }
    if (l.uncachedAliasOffset !== null) {
      const phys = va - l.uncachedAliasOffset;
      if (this.isLowmem(phys) && this.mem.isRam(phys)) return { phys: phys as PhysAddr, attr: 'uncached' };
    }
    throw new PageFault(va, access, by);
  }

  /** Install a PTE for the page at `va` (page aligned). Used by vmap and kmap. */
  map(va: number, p: Pfn, attr: PageAttr): void {
    checkRange('map a kernel page', va, PAGE_SIZE, Number.MAX_SAFE_INTEGER);
    if (!Number.isSafeInteger(p) || !this.mem.isRamPfn(p)) throw new PlatformError(`map a kernel page: pfn ${String(p)} is not RAM [va=${hex(va)}]`);
    const vpn = Math.floor(va / PAGE_SIZE);
    this.unmap(vpn * PAGE_SIZE);
    this.ptes.set(vpn, { pfn: p, attr });
    if (attr === 'cacheable') this.cacheableRefs.set(p, (this.cacheableRefs.get(p) ?? 0) + 1);
  }

  /** Remove the PTE of the page at `va`, if any. */
  unmap(va: number): void {
    const vpn = Math.floor(va / PAGE_SIZE);
    const old = this.ptes.get(vpn);
    if (old === undefined) return;
    this.ptes.delete(vpn);
    this.onTlbFlush();
    if (old.attr === 'cacheable') {
      const n = (this.cacheableRefs.get(old.pfn) ?? 1) - 1;
      if (n === 0) this.cacheableRefs.delete(old.pfn);
      else this.cacheableRefs.set(old.pfn, n);
    }
  }

  /**
   * True when some kernel mapping makes the page cacheable, so the CPU may
   * speculatively fill its lines: lowmem always (the linear map), highmem
   * only while a cacheable vmap or kmap of it exists.
   */
  isCacheableSomewhere(phys: number): boolean {
    if (this.isLowmem(phys)) return true;
    return this.cacheableRefs.has(Math.floor(phys / PAGE_SIZE));
  }

  /** `kmap_local_page`: a temporary cacheable mapping of one page; null when every slot is taken. */
  kmapLocal(p: Pfn): CpuAddr | null {
    const slot = this.kmapUsed.indexOf(false);
    if (slot < 0) return null;
    this.kmapUsed[slot] = true;
    const va = this.layout.kmapBase + slot * PAGE_SIZE;
    this.map(va, p, 'cacheable');
    return cpuAddr(va);
  }

  /** `kunmap_local`: release a slot returned by {@link kmapLocal}. */
  kunmapLocal(va: CpuAddr): void {
    const slot = Math.floor((va - this.layout.kmapBase) / PAGE_SIZE);
    if (slot < 0 || slot >= this.kmapUsed.length || !this.kmapUsed[slot]) return;
    this.kmapUsed[slot] = false;
    this.unmap(this.layout.kmapBase + slot * PAGE_SIZE);
  }

  /** Number of kmap slots currently taken (0 after every user released them). */
  get kmapsInUse(): number {
    return this.kmapUsed.filter(Boolean).length;
  }

  /** Physical ranges of lowmem that are the current task's stack or kernel text/rodata, `[lo, hi)`. */
  private readonly kernelAreas: { lo: number; hi: number; kind: 'stack' | 'rodata' }[] = [];

  /**
   * Mark `[phys, phys + len)` as the current task's stack or as kernel
   * text/rodata (what `object_is_on_stack` and the `_stext`/`__end_rodata`
   * checks of dma-debug see); `len` 0 removes every mark of that range.
   */
  setKernelArea(phys: number, lenBytes: number, kind: 'stack' | 'rodata'): void {
    const i = this.kernelAreas.findIndex((a) => a.lo === phys && a.kind === kind);
    if (i >= 0) this.kernelAreas.splice(i, 1);
    if (lenBytes > 0) this.kernelAreas.push({ lo: phys, hi: phys + lenBytes, kind });
  }

  /** Whether a physical address lies in the stack or kernel text/rodata; null for anything else. */
  kernelAreaOf(phys: number): 'stack' | 'rodata' | null {
    return this.kernelAreas.find((a) => phys >= a.lo && phys < a.hi)?.kind ?? null;
  }
}
