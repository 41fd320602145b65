/**
 * Small mutants of the reference backend, at least one per check that no
 * fixture breaks, so that every check is shown to fail on a backend that
 * breaks it (a check that cannot fail proves nothing). Fixtures
 * (`fixtures/`) are mutants with a story from the seed threads; these are
 * the plain ones. Each is built through the backend seam only: it wraps the
 * reference backend's calls, or uses the platform and substrate as any
 * backend may.
 */
import type { BackendEnv, BackendFactory } from '../src/backend/backend.ts';
import { REFERENCE_CAPABILITIES, ReferenceBackend } from '../src/backend/reference.ts';
import { ARCH_SYNC_POLICIES } from '../src/linux/arch/dma-sync-policy.ts';
import { DMA_ALLOC_FAILED, type DmaAllocation } from '../src/linux/include/linux/dma-map-ops.ts';
import { DMA_BIDIRECTIONAL, DMA_FROM_DEVICE, DMA_MAPPING_ERROR } from '../src/linux/include/linux/dma-mapping.ts';
import { ENXIO } from '../src/linux/include/linux/errno.ts';
import { GFP_KERNEL, __GFP_COMP, type Gfp, gfpflagsAllowBlocking } from '../src/linux/include/linux/gfp.ts';
import { type CpuAddr, type DmaAddr, PAGE_SIZE, type Pfn, type PhysAddr, pfnToPhys } from '../src/platform/types.ts';
import type { PlatformProfile } from '../src/platform/profiles.ts';
import type { VmArea } from '../src/platform/user.ts';

function factory(name: string, create: BackendFactory['create']): BackendFactory {
  return { name, capabilities: REFERENCE_CAPABILITIES, create };
}

/** The reference backend with some calls replaced; `b` is the reference itself, `env` what it runs on. */
function wrap(name: string, patch: (b: ReferenceBackend, env: BackendEnv) => void): BackendFactory {
  return factory(name, (env) => {
    const b = new ReferenceBackend(env);
    patch(b, env);
    return b;
  });
}

/** The BAR offset added twice: the DMA address is a page past the resource (the device's writes miss the registers and land elsewhere). */
const resourceOffsetTwice = wrap('resource-offset-twice', (b) => {
  const map = b.mapResource.bind(b);
  b.mapResource = (dev, phys, size, dir, attrs) => {
    const dma = map(dev, phys, size, dir, attrs);
    return dma === DMA_MAPPING_ERROR ? dma : ((dma + PAGE_SIZE) as DmaAddr);
  };
  const unmap = b.unmapResource.bind(b);
  b.unmapResource = (dev, addr, size, dir, attrs) => unmap(dev, (addr - PAGE_SIZE) as DmaAddr, size, dir, attrs);
});

/** A mutant with the check it breaks and the profile where it shows. */
export interface CheckMutant {
  readonly property: string;
  readonly check: string;
  readonly profile: string;
  readonly backend: BackendFactory;
}

const line = 64;

/** Every mutant of this file, by the check it breaks. */
/** The backend's view of the platform with its profile changed (what a backend reads its boot options from), everything else the same. */
function withProfile(env: BackendEnv, change: (p: PlatformProfile) => PlatformProfile): BackendEnv {
  const profile = change(env.platform.profile);
  const platform = new Proxy(env.platform, { get: (t, k) => (k === 'profile' ? profile : Reflect.get(t, k, t)) });
  return { ...env, platform };
}

export const CHECK_MUTANTS: readonly CheckMutant[] = [
  {
    property: 'addressing-queries-agree',
    check: 'limited-missed',
    profile: 'x86-64',
    // dma_addressing_limited always says no: a 24-bit ISA device is told it reaches all RAM.
    backend: wrap('addressing-never-limited', (b) => {
      b.addressingLimited = () => false;
    }),
  },
  {
    property: 'addressing-queries-agree',
    check: 'limited-needless',
    profile: 'x86-64',
    // dma_addressing_limited always says yes, even for a 64-bit NVMe device.
    backend: wrap('addressing-always-limited', (b) => {
      b.addressingLimited = () => true;
    }),
  },
  {
    property: 'addressing-queries-agree',
    check: 'required-mask-short',
    profile: 'x86-64',
    // dma_get_required_mask reports 32 bits whatever the RAM (what dma-iommu answers, here on dma-direct).
    backend: wrap('required-mask-32-bits', (b) => {
      b.getRequiredMask = () => 2 ** 32 - 1;
    }),
  },
  {
    property: 'addressing-queries-agree',
    check: 'opt-above-max',
    profile: 'cc-guest',
    // dma_opt_mapping_size ignores the swiotlb limit a force-bounced device has.
    backend: wrap('opt-mapping-size-unlimited', (b) => {
      b.optMappingSize = () => Number.MAX_SAFE_INTEGER;
    }),
  },
  {
    property: 'addressing-queries-agree',
    check: 'need-unmap-while-bounced',
    profile: 'cc-guest',
    // dma_need_unmap always says no, though every mapping of the guest bounces.
    backend: wrap('never-needs-unmap', (b) => {
      b.needUnmap = () => false;
    }),
  },
  {
    property: 'resource-mapping-sound',
    check: 'misdirected',
    profile: 'x86-64',
    backend: resourceOffsetTwice,
  },
  {
    property: 'resource-mapping-sound',
    check: 'registers-missed',
    profile: 'x86-64',
    backend: resourceOffsetTwice,
  },
  {
    property: 'resource-mapping-sound',
    check: 'cache-maintenance',
    profile: 'arm64-soc',
    // dma_map_resource treated as RAM by the cache code: it cleans the MMIO range for the device.
    backend: wrap('resource-cleaned', (b, env) => {
      const map = b.mapResource.bind(b);
      b.mapResource = (dev, phys, size, dir, attrs) => {
        env.platform.cache.clean(phys, size);
        return map(dev, phys, size, dir, attrs);
      };
    }),
  },
  {
    property: 'allocation-contract',
    check: 'noncoherent-not-zeroed',
    profile: 'x86-64',
    // dma_alloc_pages without its memset: what the pages held before shows through.
    backend: wrap('noncoherent-not-zeroed', (b, env) => {
      const dirty = (va: number | null) => {
        if (va !== null) env.platform.cpu.write(va as CpuAddr, new Uint8Array(8).fill(0xa5), 'mutant');
      };
      const pages = b.allocPages.bind(b);
      b.allocPages = (dev, size, dir, gfp) => {
        const r = pages(dev, size, dir, gfp);
        if (r.page !== null) dirty(env.mm.pages.pageAddress(r.page));
        return r;
      };
      const nc = b.allocNoncoherent.bind(b);
      b.allocNoncoherent = (dev, size, dir, gfp) => {
        const r = nc(dev, size, dir, gfp);
        dirty(r.cpuAddr);
        return r;
      };
      const ncsg = b.allocNoncontiguous.bind(b);
      b.allocNoncontiguous = (dev, size, dir, gfp, attrs) => {
        const t = ncsg(dev, size, dir, gfp, attrs);
        if (t !== null) dirty(env.mm.pages.pageAddress((t.sgl[0] as { page: Pfn }).page));
        return t;
      };
    }),
  },
  {
    property: 'atomic-context-never-sleeps',
    check: 'atomic-pool-size',
    profile: 'arm64-soc',
    // coherent_pool= is ignored: the pools take the RAM-based default size.
    backend: factory('ignores-coherent-pool', (env) => new ReferenceBackend(withProfile(env, (p) => ({ ...p, coherentPoolBytes: null })))),
  },
  {
    property: 'swiotlb-slots-sound',
    check: 'pool-size',
    profile: 'x86-64',
    // swiotlb= is misread: the boot pool gets half the slots asked for.
    backend: factory('swiotlb-half-size', (env) => new ReferenceBackend(withProfile(env, (p) => ({ ...p, swiotlb: p.swiotlb === null ? null : { ...p.swiotlb, slots: p.swiotlb.slots / 2 } })))),
  },
  ...(
    [
      // dma-iommu keeps a strict domain's entries (and the IOTLB's) at unmap: the device still reaches the page.
      ['unmapped-reachable', 'iommuStrictUnmapLeavesMapping'],
      // A DMA_TO_DEVICE mapping is made read/write: the device may scribble over the driver's data.
      ['permission-beyond-direction', 'iommuWriteOnToDevice'],
      // Lazy mode frees the IOVA at unmap, before the flush: the next mapping reuses it while the IOTLB still points at the old page.
      ['iotlb-outlives-unmap', 'iommuFqReuseEarly'],
      // An untrusted device's unaligned buffer is mapped in place: the rest of its granules are exposed.
      ['untrusted-sees-neighbours', 'iommuUntrustedNotBounced'],
      // The bounce buffer's padding keeps an earlier user's bytes.
      ['untrusted-padding-leaks', 'iommuBouncePaddingNotCleared'],
      // __finalise_sg merges without looking at max_segment_size and the segment boundary.
      ['sg-merge-beyond-limits', 'iommuSgMergeIgnoresLimits'],
    ] as const
  ).map(([check, quirk]) => ({ property: 'iommu-isolates', check, profile: 'arm64-smmu', backend: factory(`dma-iommu ${quirk}`, (env) => new ReferenceBackend(env, { quirks: { [quirk]: true } })) })),
  {
    property: 'no-leak',
    check: 'iova-space-leaked',
    profile: 'arm64-smmu',
    // A strict domain unmaps and invalidates but never gives the IOVA back.
    backend: factory('dma-iommu iommuIovaNotFreed', (env) => new ReferenceBackend(env, { quirks: { iommuIovaNotFreed: true } })),
  },
  {
    property: 'iommu-isolates',
    check: 'sg-segments-misdescribe',
    profile: 'x86-64',
    // dma_map_sg reports one DMA segment fewer than it mapped: the last entry's bytes are lost to the driver.
    backend: wrap('map-sg-drops-last-segment', (b) => {
      const map = b.mapSg.bind(b);
      b.mapSg = (dev, sgl, nents, dir, attrs) => {
        const r = map(dev, sgl, nents, dir, attrs);
        return r > 1 ? r - 1 : r;
      };
    }),
  },
  {
    property: 'no-stale-cpu-read',
    check: 'kmalloc-line-shared-in-place',
    profile: 'arm64-soc',
    // dma_kmalloc_needs_bounce says no: a small kmalloc buffer of a non-coherent device is mapped in place.
    backend: factory('kmalloc-bounce-omitted', (env) => new ReferenceBackend(env, { quirks: { kmallocBounceOmitted: true } })),
  },
  {
    property: 'no-stale-device-read',
    check: 'stale-read',
    profile: 'arm64-soc',
    // arch_sync_dma_for_device does nothing: dirty CPU lines never reach RAM before the device reads.
    backend: factory('for-device-no-clean', (env) => new ReferenceBackend(env, { archSync: { ...ARCH_SYNC_POLICIES.arm64, forDevice: ['none', 'none', 'none'] } })),
  },
  {
    property: 'no-stale-cpu-read',
    check: 'neighbour-write-lost',
    profile: 'x86-64',
    // A FROM_DEVICE map invalidates whole cache lines around the buffer, dropping a neighbour's dirty bytes in a shared line.
    backend: wrap('map-invalidates-whole-lines', (b, env) => {
      const map = b.mapSingle.bind(b);
      b.mapSingle = (dev, cpuAddr, size, dir, attrs) => {
        const r = map(dev, cpuAddr, size, dir, attrs);
        if (r !== DMA_MAPPING_ERROR && (dir === DMA_FROM_DEVICE || dir === DMA_BIDIRECTIONAL)) {
          const phys = env.platform.pt.translate(cpuAddr, 'read', 'mutant').phys;
          const lo = Math.floor(phys / line) * line;
          env.platform.cache.invalidate(lo, Math.ceil((phys + size) / line) * line - lo);
        }
        return r;
      };
    }),
  },
  {
    property: 'coherent-buffer-agrees',
    check: 'sides-disagree',
    profile: 'arm64-soc',
    // Hands out the cacheable linear alias of a non-coherent buffer instead of its uncached remap.
    backend: wrap('coherent-through-cache', (b, env) => {
      const alloc = b.allocAttrs.bind(b);
      b.allocAttrs = (dev: string, size: number, gfp: Gfp, attrs: number): DmaAllocation => {
        const r = alloc(dev, size, gfp, attrs);
        if (r.cpuAddr === null || !env.platform.pt.isVmallocAddr(r.cpuAddr)) return r;
        const linear = env.platform.pt.linearAddress(env.platform.pt.translate(r.cpuAddr, 'read', 'mutant').phys);
        return linear === null ? r : { cpuAddr: linear, dmaHandle: r.dmaHandle };
      };
    }),
  },
  {
    property: 'dma-address-reachable',
    check: 'unreachable',
    profile: 'arm64-soc',
    // dma_map_single returns the physical address, ignoring the dma-ranges offset.
    backend: wrap('map-returns-phys', (b, env) => {
      b.mapSingle = (_dev, cpuAddr) => env.platform.pt.translate(cpuAddr, 'read', 'mutant').phys as number as DmaAddr;
    }),
  },
  {
    property: 'dma-address-reachable',
    check: 'device-access-faults',
    profile: 'arm64-soc',
    // The same: the device's accesses through such an address fault.
    backend: wrap('map-returns-phys', (b, env) => {
      b.mapSingle = (_dev, cpuAddr) => env.platform.pt.translate(cpuAddr, 'read', 'mutant').phys as number as DmaAddr;
    }),
  },
  {
    property: 'dma-address-reachable',
    check: 'restricted-pool-escape',
    profile: 'arm64-soc',
    // A restricted-dma-pool device's streaming mappings are made in place instead of bouncing through its pool.
    backend: wrap('restricted-maps-in-place', (b, env) => {
      const map = b.mapSingle.bind(b);
      b.mapSingle = (dev, cpuAddr, size, dir, attrs) =>
        env.platform.device(dev).config.restrictedDmaPool === null ? map(dev, cpuAddr, size, dir, attrs) : (env.platform.pt.translate(cpuAddr, 'read', 'mutant').phys as number as DmaAddr);
    }),
  },
  {
    property: 'allocation-contract',
    check: 'not-zeroed',
    profile: 'x86-64',
    // dma_alloc_attrs forgets to zero: the buffer keeps what the page held.
    backend: wrap('alloc-not-zeroed', (b, env) => {
      const alloc = b.allocAttrs.bind(b);
      b.allocAttrs = (dev, size, gfp, attrs) => {
        const r = alloc(dev, size, gfp, attrs);
        if (r.cpuAddr !== null && env.platform.pt.isLinearAddr(r.cpuAddr)) env.platform.cpu.memset(r.cpuAddr, 0xa5, size, 'mutant');
        return r;
      };
    }),
  },
  ...(['handle-misaligned', 'handle-misaligned-beyond-cma', 'cpu-addr-misaligned'] as const).map((check) => ({
    property: 'allocation-contract',
    check,
    profile: 'x86-64',
    // Buffers of more than a page are handed out one page (CPU) or 64 bytes (handle) into a larger allocation.
    backend: wrap('alloc-misaligned', (b) => {
      const alloc = b.allocAttrs.bind(b);
      const free = b.freeAttrs.bind(b);
      const shifted = new Map<number, { cpu: CpuAddr; dma: DmaAddr }>();
      b.allocAttrs = (dev, size, gfp, attrs) => {
        if (size <= PAGE_SIZE || attrs !== 0) return alloc(dev, size, gfp, attrs);
        const r = alloc(dev, size * 2, gfp, attrs);
        if (r.cpuAddr === null) return r;
        const out = check === 'cpu-addr-misaligned' ? { cpuAddr: (r.cpuAddr + 64) as CpuAddr, dmaHandle: (r.dmaHandle + 64) as DmaAddr } : { cpuAddr: (r.cpuAddr + PAGE_SIZE) as CpuAddr, dmaHandle: (r.dmaHandle + PAGE_SIZE) as DmaAddr };
        shifted.set(out.cpuAddr, { cpu: r.cpuAddr, dma: r.dmaHandle });
        return out;
      };
      b.freeAttrs = (dev, size, cpuAddr, handle, attrs) => {
        const s = cpuAddr === null ? undefined : shifted.get(cpuAddr);
        if (s === undefined) return free(dev, size, cpuAddr, handle, attrs);
        shifted.delete(cpuAddr as CpuAddr);
        free(dev, size * 2, s.cpu, s.dma, attrs);
      };
    }),
  })),
  {
    property: 'allocation-contract',
    check: 'not-ram',
    profile: 'x86-64',
    // A buffer of more than one page is handed out at a kernel address nothing maps.
    backend: wrap('alloc-unmapped-address', (b) => {
      const alloc = b.allocAttrs.bind(b);
      b.allocAttrs = (dev, size, gfp, attrs) => {
        const r = alloc(dev, size, gfp, attrs);
        return r.cpuAddr === null || size <= PAGE_SIZE ? r : { cpuAddr: (2 ** 47 + 2 ** 46 + 2 ** 39) as CpuAddr, dmaHandle: r.dmaHandle };
      };
    }),
  },
  {
    property: 'allocation-contract',
    check: 'overlaps-live',
    profile: 'x86-64',
    // A second allocation of the same size while the first is live gets the same buffer.
    backend: wrap('alloc-hands-out-twice', (b) => {
      const alloc = b.allocAttrs.bind(b);
      let last: { size: number; r: DmaAllocation } | null = null;
      b.allocAttrs = (dev, size, gfp, attrs) => {
        if (last !== null && last.size === size && attrs === 0) return last.r;
        const r = alloc(dev, size, gfp, attrs);
        if (r.cpuAddr !== null && attrs === 0) last = { size, r };
        return r;
      };
    }),
  },
  {
    property: 'allocation-contract',
    check: 'failure-side-effects',
    profile: 'x86-64',
    // Allocations of 64 KiB or more fail, after taking a page they never give back.
    backend: wrap('failed-alloc-leaks', (b, env) => {
      const alloc = b.allocAttrs.bind(b);
      b.allocAttrs = (dev, size, gfp, attrs) => {
        if (size < 65536) return alloc(dev, size, gfp, attrs);
        env.mm.pages.allocPages(GFP_KERNEL, 0);
        return DMA_ALLOC_FAILED;
      };
    }),
  },
  {
    property: 'allocation-contract',
    check: 'needless-failure',
    profile: 'arm64-soc',
    // Non-blocking allocations for non-coherent devices fail outright, whatever memory is free.
    backend: wrap('atomic-alloc-refused', (b) => {
      const alloc = b.allocAttrs.bind(b);
      b.allocAttrs = (dev, size, gfp, attrs) => (!gfpflagsAllowBlocking(gfp) && !b.device(dev).dmaCoherent ? DMA_ALLOC_FAILED : alloc(dev, size, gfp, attrs));
    }),
  },
  {
    property: 'mmap-shows-buffer',
    check: 'mmap-fails',
    profile: 'x86-64',
    // dma_mmap_attrs always refuses.
    backend: wrap('mmap-refused', (b) => {
      b.mmapAttrs = () => -ENXIO;
    }),
  },
  {
    property: 'mmap-shows-buffer',
    check: 'user-view-differs',
    profile: 'x86-64',
    // dma_mmap_attrs maps the page after the buffer's first page.
    backend: wrap('mmap-off-by-one-page', (b) => {
      const mmap = b.mmapAttrs.bind(b);
      b.mmapAttrs = (dev: string, vma: VmArea, cpuAddr: CpuAddr, dma: DmaAddr, size: number, attrs: number): number => {
        const r = mmap(dev, vma, cpuAddr, dma, size, attrs);
        for (let i = 0; i < vma.pages.length; i++) if (vma.pages[i] !== null) vma.pages[i] = ((vma.pages[i] as number) + 1) as Pfn;
        return r;
      };
    }),
  },
  {
    property: 'sgtable-describes-buffer',
    check: 'sgtable-fails',
    profile: 'x86-64',
    // dma_get_sgtable_attrs always fails.
    backend: wrap('sgtable-refused', (b) => {
      b.getSgtableAttrs = () => ({ ret: -ENXIO, sgt: null });
    }),
  },
  {
    property: 'bounce-preserves-data',
    check: 'neighbour-write-lost',
    profile: 'x86-64',
    // Unmapping a bounced FROM_DEVICE buffer copies whole cache lines back, over a neighbour sharing the last one.
    backend: wrap('bounce-copy-back-whole-lines', (b, env) => {
      const unmap = b.unmapSingle.bind(b);
      b.unmapSingle = (dev, addr, size, dir, attrs) => {
        const e = b.kernel.live.find(b.device(dev), 'single', addr);
        const bounce = addr as number as PhysAddr;
        const tail = Math.ceil(size / line) * line - size;
        const orig = e?.phys ?? null;
        const extra = orig !== null && orig !== bounce && dir !== 1 && tail > 0 ? env.platform.cpu.read(env.platform.pt.linearAddress(bounce + size) as number, tail, 'mutant') : null;
        unmap(dev, addr, size, dir, attrs);
        if (extra !== null && orig !== null) env.platform.cpu.write(env.platform.pt.linearAddress(orig + size) as number, extra, 'mutant');
      };
    }),
  },
  {
    property: 'swiotlb-slots-sound',
    check: 'segment-boundary-crossed',
    profile: 'cc-guest',
    // The 64 KiB segment boundary of nic0 is forgotten when bounce slots are chosen.
    backend: wrap('swiotlb-ignores-segment-boundary', (b) => {
      const attach = b.attachDevice.bind(b);
      b.attachDevice = (dev) => {
        const r = attach(dev);
        if (r === 0) (b.device(dev) as { dmaParms: unknown }).dmaParms = { ...b.device(dev).dmaParms, segmentBoundaryMask: 0xffffffff };
        return r;
      };
    }),
  },
  {
    property: 'swiotlb-slots-sound',
    check: 'not-page-aligned',
    profile: 'x86-64',
    // nic0 is attached with a min_align_mask the device does not have, so its large bounce buffers lose page alignment.
    backend: wrap('swiotlb-spurious-min-align', (b) => {
      const attach = b.attachDevice.bind(b);
      b.attachDevice = (dev) => {
        const r = attach(dev);
        if (r === 0 && dev === 'nic0') (b.device(dev) as { dmaParms: unknown }).dmaParms = { ...b.device(dev).dmaParms, minAlignMask: 0x7ff };
        return r;
      };
    }),
  },
  {
    property: 'swiotlb-slots-sound',
    check: 'pool-accounting',
    profile: 'arm64-soc',
    // dma_free_attrs of a restricted-pool buffer forgets swiotlb_free: its slots stay taken (the pool check after teardown).
    backend: wrap('restricted-free-leaks-slots', (b) => {
      const free = b.freeAttrs.bind(b);
      b.freeAttrs = (dev: string, size: number, cpuAddr: CpuAddr | null, handle: DmaAddr, attrs: number): void => {
        const mem = b.device(dev).dmaIoTlbMem;
        if (mem === null || !mem.forAlloc) return free(dev, size, cpuAddr, handle, attrs);
        const saved = mem.pools.map((p) => ({ list: Int32Array.from(p.list), used: p.areas.map((a) => a.used) }));
        const used = mem.totalUsed;
        free(dev, size, cpuAddr, handle, attrs);
        mem.pools.forEach((p, i) => {
          p.list.set(saved[i]?.list ?? []);
          p.areas.forEach((a, j) => (a.used = saved[i]?.used[j] ?? a.used));
        });
        mem.totalUsed = used;
      };
    }),
  },
  {
    property: 'cma-falls-back-cleanly',
    check: 'cma-wrong-area',
    profile: 'arm64-soc',
    // isp0's allocations are made as if for vpu0: from the default CMA area instead of isp0's own.
    backend: wrap('cma-ignores-device-area', (b) => {
      const alloc = b.allocAttrs.bind(b);
      b.allocAttrs = (dev, size, gfp, attrs) => alloc(dev === 'isp0' ? 'vpu0' : dev, size, gfp, attrs);
    }),
  },
  {
    property: 'cma-falls-back-cleanly',
    check: 'cma-single-page-shared',
    profile: 'arm64-soc',
    // One-page allocations are served as two pages, which the default CMA area serves.
    backend: wrap('cma-serves-single-pages', (b) => {
      const alloc = b.allocAttrs.bind(b);
      const free = b.freeAttrs.bind(b);
      const doubled = new Set<number>();
      b.allocAttrs = (dev, size, gfp, attrs) => {
        if (size > PAGE_SIZE) return alloc(dev, size, gfp, attrs);
        const r = alloc(dev, 2 * PAGE_SIZE, gfp, attrs);
        if (r.cpuAddr !== null) doubled.add(r.cpuAddr);
        return r;
      };
      b.freeAttrs = (dev, size, cpuAddr, handle, attrs) => {
        const d = cpuAddr !== null && doubled.delete(cpuAddr);
        free(dev, d ? 2 * PAGE_SIZE : size, cpuAddr, handle, attrs);
      };
    }),
  },
  {
    property: 'cma-falls-back-cleanly',
    check: 'free-not-returned',
    profile: 'arm64-soc',
    // dma_free_attrs forgets buffers whose pages came from a CMA area: they stay allocated in the area (the free check).
    backend: wrap('cma-free-forgotten', (b, env) => {
      const free = b.freeAttrs.bind(b);
      b.freeAttrs = (dev: string, size: number, cpuAddr: CpuAddr | null, handle: DmaAddr, attrs: number): void => {
        if (env.mm.cma.areaOf(Math.floor(handle / PAGE_SIZE)) === undefined) free(dev, size, cpuAddr, handle, attrs);
      };
    }),
  },
  {
    property: 'atomic-context-never-sleeps',
    check: 'atomic-pool-had-room',
    profile: 'arm64-soc',
    backend: wrap('atomic-alloc-refused', (b) => {
      const alloc = b.allocAttrs.bind(b);
      b.allocAttrs = (dev, size, gfp, attrs) => (!gfpflagsAllowBlocking(gfp) && !b.device(dev).dmaCoherent ? DMA_ALLOC_FAILED : alloc(dev, size, gfp, attrs));
    }),
  },
  {
    property: 'coherent-pool-sound',
    check: 'outside-global-pool',
    profile: 'armv7-nommu',
    // Non-coherent buffers come from the page allocator, seen through the uncached alias, not from the global pool.
    backend: wrap('global-pool-bypassed', (b, env) => {
      const alloc = b.allocAttrs.bind(b);
      const free = b.freeAttrs.bind(b);
      const own = new Map<number, { pfn: Pfn; order: number }>();
      b.allocAttrs = (dev, size, gfp, attrs) => {
        if (attrs !== 0 || size > 16 * PAGE_SIZE) return alloc(dev, size, gfp, attrs);
        const order = Math.ceil(Math.log2(Math.ceil(size / PAGE_SIZE)));
        const pfn = env.mm.pages.allocPages(gfp, order);
        if (pfn === null) return DMA_ALLOC_FAILED;
        const cpu = env.platform.pt.uncachedAlias(pfnToPhys(pfn)) as CpuAddr;
        env.platform.cpu.memset(cpu, 0, size, 'mutant');
        own.set(cpu, { pfn, order });
        return { cpuAddr: cpu, dmaHandle: pfnToPhys(pfn) as number as DmaAddr };
      };
      b.freeAttrs = (dev, size, cpuAddr, handle, attrs) => {
        const o = cpuAddr === null ? undefined : own.get(cpuAddr);
        if (o === undefined) return free(dev, size, cpuAddr, handle, attrs);
        own.delete(cpuAddr as CpuAddr);
        env.mm.pages.freePages(o.pfn, o.order);
      };
    }),
  },
  {
    property: 'coherent-pool-sound',
    check: 'misaligned-in-pool',
    profile: 'arm64-soc',
    // dsp0's pool buffers of more than a page start one page into a larger pool allocation.
    backend: wrap('dev-pool-misaligned', (b) => {
      const alloc = b.allocAttrs.bind(b);
      const free = b.freeAttrs.bind(b);
      const shifted = new Map<number, { cpu: CpuAddr; dma: DmaAddr }>();
      b.allocAttrs = (dev, size, gfp, attrs) => {
        if (dev !== 'dsp0' || size <= PAGE_SIZE) return alloc(dev, size, gfp, attrs);
        const r = alloc(dev, size * 2, gfp, attrs);
        if (r.cpuAddr === null) return r;
        const out = { cpuAddr: (r.cpuAddr + PAGE_SIZE) as CpuAddr, dmaHandle: (r.dmaHandle + PAGE_SIZE) as DmaAddr };
        shifted.set(out.cpuAddr, { cpu: r.cpuAddr, dma: r.dmaHandle });
        return out;
      };
      b.freeAttrs = (dev, size, cpuAddr, handle, attrs) => {
        const s = cpuAddr === null ? undefined : shifted.get(cpuAddr);
        if (s === undefined) return free(dev, size, cpuAddr, handle, attrs);
        shifted.delete(cpuAddr as CpuAddr);
        free(dev, size * 2, s.cpu, s.dma, attrs);
      };
    }),
  },
  {
    property: 'no-leak',
    check: 'accounting-differs',
    profile: 'x86-64',
    // dma_free_attrs does nothing.
    backend: wrap('free-leaks', (b) => {
      b.freeAttrs = () => {};
    }),
  },
  {
    property: 'no-leak',
    check: 'bad-free',
    profile: 'x86-64',
    // dma_free_attrs frees the first page of a buffer twice.
    backend: wrap('free-twice', (b, env) => {
      const free = b.freeAttrs.bind(b);
      b.freeAttrs = (dev, size, cpuAddr, handle, attrs) => {
        free(dev, size, cpuAddr, handle, attrs);
        env.mm.pages.freePages(Math.floor(handle / PAGE_SIZE) as Pfn, 0);
      };
    }),
  },
  {
    property: 'bad-input-is-refused',
    check: 'hardening-refusal',
    profile: 'x86-64',
    // A zero-sized dma_alloc_attrs is served with a page instead of NULL.
    backend: wrap('alloc-zero-size-served', (b) => {
      const alloc = b.allocAttrs.bind(b);
      b.allocAttrs = (dev, size, gfp, attrs) => alloc(dev, size === 0 ? 4096 : size, gfp, attrs);
    }),
  },
  {
    property: 'bad-input-is-refused',
    check: 'kernel-refusal',
    profile: 'x86-64',
    // __GFP_COMP is stripped instead of refused.
    backend: wrap('gfp-comp-served', (b) => {
      const alloc = b.allocAttrs.bind(b);
      b.allocAttrs = (dev, size, gfp, attrs) => alloc(dev, size, gfp & ~__GFP_COMP, attrs);
    }),
  },
  {
    property: 'no-oops',
    check: 'oops',
    profile: 'x86-64',
    // dma_sync_single_for_cpu dereferences the DMA handle as a kernel address.
    backend: wrap('sync-derefs-handle', (b, env) => {
      const sync = b.syncSingleForCpu.bind(b);
      b.syncSingleForCpu = (dev: string, addr: DmaAddr, size: number, dir: number): void => {
        env.platform.cpu.read(addr, 1, 'mutant');
        sync(dev, addr, size, dir);
      };
    }),
  },
  {
    property: 'private-memory-stays-private',
    check: 'device-reaches-private',
    profile: 'cc-guest',
    // A confidential guest's streaming mappings are made in place: the device is handed private memory.
    backend: wrap('cc-never-bounces', (b, env) => {
      b.mapSingle = (_dev, cpuAddr) => env.platform.pt.translate(cpuAddr, 'read', 'mutant').phys as number as DmaAddr;
    }),
  },
  {
    property: 'private-memory-stays-private',
    check: 'shared-page-freed',
    profile: 'cc-guest',
    // dma_free_attrs forgets to make a decrypted buffer private again before its pages go back.
    backend: wrap('cc-free-without-encrypt', (b, env) => {
      const free = b.freeAttrs.bind(b);
      b.freeAttrs = (dev, size, cpuAddr, handle, attrs) => {
        const encrypt = env.mm.setMemoryEncrypted.bind(env.mm);
        env.mm.setMemoryEncrypted = () => 0;
        try {
          free(dev, size, cpuAddr, handle, attrs);
        } finally {
          env.mm.setMemoryEncrypted = encrypt;
        }
      };
    }),
  },
];
