/**
 * The vmalloc/remap area: `vmap` / `vunmap` of page arrays with a memory
 * attribute, and `find_vm_area`. Models mm/vmalloc.c.
 *
 * Trusted substrate. The DMA layer remaps non-coherent allocations here with
 * an uncached or write-combine attribute (kernel/dma/remap.c
 * `dma_common_contiguous_remap`, kernel/dma/mapping.c `dma_pgprot`), while
 * the same pages stay cacheable in the linear map: the two aliases are why
 * `arch_dma_prep_coherent` exists. `vmap` and `vunmap` may sleep. Each area
 * is followed by an unmapped guard page, as in the kernel.
 */
import type { Platform } from '../../platform/platform.ts';
import { MAX_ACCESS_BYTES, PlatformError } from '../../platform/check.ts';
import type { PageAttr } from '../../platform/pgtable.ts';
import { PAGE_SIZE, type CpuAddr, type Pfn, cpuAddr, hex } from '../../platform/types.ts';

/** `VM_DMA_COHERENT`: the area is a DMA coherent remap. */
export const VM_DMA_COHERENT = 0x4000;
/** `VM_MAP`: the area was made by `vmap`. */
export const VM_MAP = 0x4;

/** One mapped area (`struct vm_struct`). */
export interface VmStruct {
  /** First virtual address. */
  readonly addr: CpuAddr;
  /** Mapped bytes (without the guard page). */
  readonly sizeBytes: number;
  /** The page behind each page of the area. */
  readonly pages: readonly Pfn[];
  readonly attr: PageAttr;
  /** `VM_*` flags. */
  readonly flags: number;
}

/** The vmalloc space of one platform. */
export class VmallocSpace {
  /** Live areas, sorted by address. */
  private areas: VmStruct[] = [];

  constructor(private readonly platform: Platform) {}

  /**
   * `vmap`: map the pages contiguously in the vmalloc area with `attr`.
   * May sleep. @returns the first address, or null when the area is full,
   * the platform has no MMU, or `pages` is empty
   */
  vmap(pages: readonly Pfn[], attr: PageAttr, flags = VM_MAP): CpuAddr | null {
    this.platform.context.mightSleep('vmap');
    if (!Array.isArray(pages) || pages.length > MAX_ACCESS_BYTES / PAGE_SIZE) throw new PlatformError(`vmap: pages must be an array of at most ${MAX_ACCESS_BYTES / PAGE_SIZE} page frames`);
    for (const p of pages) if (!Number.isSafeInteger(p) || !this.platform.mem.isRamPfn(p)) throw new PlatformError(`vmap: pfn ${String(p)} is not RAM`);
    const { vmallocStart, vmallocEnd } = this.platform.profile.va;
    if (pages.length === 0 || vmallocEnd <= vmallocStart) return null;
    const need = (pages.length + 1) * PAGE_SIZE;
    let at = vmallocStart;
    let index = 0;
    for (; index < this.areas.length; index++) {
      const a = this.areas[index] as VmStruct;
      if (a.addr - at >= need) break;
      at = a.addr + a.sizeBytes + PAGE_SIZE;
    }
    if (at + need > vmallocEnd) return null;
    const area: VmStruct = { addr: cpuAddr(at), sizeBytes: pages.length * PAGE_SIZE, pages: [...pages], attr, flags };
    pages.forEach((p, i) => this.platform.pt.map(at + i * PAGE_SIZE, p, attr));
    this.areas.splice(index, 0, area);
    return area.addr;
  }

  /** `find_vm_area`: the live area starting at, or containing, `va`; undefined when none. */
  findVmArea(va: number): VmStruct | undefined {
    return this.areas.find((a) => va >= a.addr && va < a.addr + a.sizeBytes);
  }

  /**
   * `vunmap`: remove the area that starts at `va`. May sleep. An address that
   * does not start a live area is refused with a `bad-vunmap` violation
   * ("Trying to vunmap() nonexistent vm area") and nothing changes.
   * @returns the removed area, or undefined
   */
  vunmap(va: CpuAddr): VmStruct | undefined {
    this.platform.context.mightSleep('vunmap');
    const i = this.areas.findIndex((a) => a.addr === va);
    const area = this.areas[i];
    if (area === undefined) {
      this.platform.violations.record({ kind: 'bad-vunmap', message: `Trying to vunmap() nonexistent vm area [va=${hex(va)}]` });
      return undefined;
    }
    for (let k = 0; k < area.pages.length; k++) this.platform.pt.unmap(area.addr + k * PAGE_SIZE);
    this.areas.splice(i, 1);
    return area;
  }

  /** First addresses of the live areas, in address order. */
  get liveAddrs(): CpuAddr[] {
    return this.areas.map((a) => a.addr);
  }

  /** Number of live areas (0 when every remap has been undone). */
  get liveAreas(): number {
    return this.areas.length;
  }
}
