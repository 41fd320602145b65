/**
 * `vm_map_pages` (mm/memory.c): map a page array into a user VMA, from the
 * VMA's page offset on, with the given attribute. dma-iommu and the ARM32
 * IOMMU ops use it for buffers made of single pages.
 */
import type { PageAttr } from '../../platform/pgtable.ts';
import type { Pfn } from '../../platform/types.ts';
import type { UserSpace, VmArea } from '../../platform/user.ts';

/**
 * Map `pages[vma.pgoff …]` into every page of `vma`.
 * @returns 0, or -22 (-EINVAL) when the VMA reaches past the array (nothing mapped)
 * @see mm/memory.c vm_map_pages
 */
export function vmMapPages(user: UserSpace, vma: VmArea, pages: readonly Pfn[], attr: PageAttr): number {
  if (vma.pgoff >= pages.length || vma.nrPages > pages.length - vma.pgoff) return -22;
  for (let i = 0; i < vma.nrPages; i++) {
    const r = user.remapPfnRange(vma, i, pages[vma.pgoff + i] as Pfn, 1, attr);
    if (r !== 0) return r;
  }
  return 0;
}
