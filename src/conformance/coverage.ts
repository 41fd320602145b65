/**
 * Not a kernel mirror: coverage of a run (DESIGN.md "Search power"). A
 * property that holds proves nothing about a path the search never took, so
 * every sequence counts the paths its calls went down, as the session saw
 * them through the platform: where an allocation's pages came from (buddy,
 * CMA, an atomic pool, a device pool, a restricted pool), whether it was
 * remapped, whether a mapping went direct or through a bounce buffer, highmem
 * pages through `kmap`, each attribute and gfp modifier passed, each kind of
 * failure and each invalid call. A property names the paths its checks need;
 * a cell where one of them was possible on the profile but never reached is
 * flagged under the verdict table.
 */
import type { PlatformProfile } from '../platform/profiles.ts';
import { hasHighmem } from '../platform/profiles.ts';

/** Counters by path name. */
export type Coverage = Record<string, number>;

/** The paths a session counts, with what each means (attribute, gfp and bad-call paths are named `attr:…`, `gfp:…`, `bad:…`). */
export const PATHS: Readonly<Record<string, string>> = {
  direct: 'a streaming mapping used the buffer in place',
  bounced: 'a streaming mapping went through a swiotlb bounce buffer',
  highmem: 'a highmem page was mapped (no linear address: kmap for the CPU)',
  buddy: 'a coherent buffer came from the buddy allocator',
  cma: 'a coherent buffer came from a CMA area',
  'atomic-pool': 'a coherent buffer came from an atomic pool (dma-direct or ARM32)',
  'coherent-pool': 'a coherent buffer came from a per-device or the global coherent pool',
  'restricted-pool': 'a coherent buffer came from a restricted-dma-pool',
  remap: 'a coherent buffer was handed out through a non-cacheable mapping',
  'no-kernel-mapping': 'a coherent buffer was a DMA_ATTR_NO_KERNEL_MAPPING cookie',
  'alloc-failed': 'dma_alloc_attrs failed',
  'map-failed': 'a map call failed',
  'device-fault': 'a device access faulted',
  'set-mask': 'a dma_set_mask* call was made',
  'platform-variant': 'the sequence ran on a variant of the profile',
  'sg-merged': 'an sg mapping came back with fewer DMA segments than entries (merged, as behind an IOMMU)',
  'iotlb-stale': 'an unmapped IOVA was still in the IOTLB after a step (lazy invalidation waiting for its flush)',
};

/** Count one path. */
export function hit(c: Coverage, path: string, n = 1): void {
  c[path] = (c[path] ?? 0) + n;
}

/** Add `from` into `into`. */
export function addCoverage(into: Coverage, from: Readonly<Coverage>): void {
  for (const [k, n] of Object.entries(from)) hit(into, k, n);
}

/** Can `path` be reached at all on `profile`? (A path that cannot is never flagged.) */
export function pathPossible(path: string, profile: PlatformProfile): boolean {
  switch (path) {
    case 'bounced':
      return profile.swiotlb !== null || profile.devices.some((d) => d.restrictedDmaPool !== null);
    case 'highmem':
      return hasHighmem(profile);
    case 'cma':
      return profile.cma.length > 0;
    case 'atomic-pool':
      return profile.dma.directRemap || profile.memEncrypt || profile.dma.archHasDmaAlloc;
    case 'coherent-pool':
      return profile.globalCoherentPool !== null || profile.devices.some((d) => d.coherentPool !== null);
    case 'restricted-pool':
      return profile.devices.some((d) => d.restrictedDmaPool !== null);
    case 'remap':
      return profile.mmu && profile.devices.some((d) => !d.coherent);
    case 'direct':
      return !profile.memEncrypt;
    case 'sg-merged':
      return profile.devices.some((d) => d.iommu !== null);
    case 'iotlb-stale':
      return profile.devices.some((d) => d.iommu !== null && !d.iommu.strict);
    default:
      return true;
  }
}

/** The paths of `needs` possible on `profile` that `c` never reached. */
export function unreached(needs: readonly string[], profile: PlatformProfile, c: Readonly<Coverage>): string[] {
  return needs.filter((p) => pathPossible(p, profile) && (c[p] ?? 0) === 0);
}
