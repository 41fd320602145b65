/**
 * Small mutants of the reference backend, one or more per property that no
 * fixture breaks yet, so that every property is shown to fail on a backend
 * that breaks it (a property that cannot fail proves nothing). Fixtures
 * (`fixtures/`) are mutants with a story from the seed threads; these are
 * the plain ones. Each is built through the backend seam only.
 */
import type { BackendFactory } from '../src/backend/backend.ts';
import { REFERENCE_CAPABILITIES, ReferenceBackend } from '../src/backend/reference.ts';
import { ARCH_SYNC_POLICIES } from '../src/linux/arch/dma-sync-policy.ts';
import { DMA_ALLOC_FAILED, type DmaAllocation } from '../src/linux/include/linux/dma-map-ops.ts';
import { type Gfp, gfpflagsAllowBlocking } from '../src/linux/include/linux/gfp.ts';
import { type CpuAddr, type DmaAddr, PAGE_SIZE, type Pfn } from '../src/platform/types.ts';
import type { VmArea } from '../src/platform/user.ts';

function factory(name: string, create: BackendFactory['create']): BackendFactory {
  return { name, capabilities: REFERENCE_CAPABILITIES, create };
}

/** Each mutant with the property it breaks and the profile where it shows. */
export const PROPERTY_MUTANTS: readonly { readonly property: string; readonly profile: string; readonly backend: BackendFactory }[] = [
  {
    property: 'no-stale-device-read',
    profile: 'arm64-soc',
    // arch_sync_dma_for_device does nothing: dirty CPU lines never reach RAM before the device reads.
    backend: factory('for-device-no-clean', (env) => new ReferenceBackend(env, { archSync: { ...ARCH_SYNC_POLICIES.arm64, forDevice: ['none', 'none', 'none'] } })),
  },
  {
    property: 'coherent-buffer-agrees',
    profile: 'arm64-soc',
    // Hands out the cacheable linear alias of a non-coherent buffer instead of its uncached remap.
    backend: factory('coherent-through-cache', (env) => {
      const b = new ReferenceBackend(env);
      const alloc = b.allocAttrs.bind(b);
      b.allocAttrs = (dev: string, size: number, gfp: Gfp, attrs: number): DmaAllocation => {
        const r = alloc(dev, size, gfp, attrs);
        if (r.cpuAddr === null || !env.platform.pt.isVmallocAddr(r.cpuAddr)) return r;
        const linear = env.platform.pt.linearAddress(env.platform.pt.translate(r.cpuAddr, 'read', 'mutant').phys);
        return linear === null ? r : { cpuAddr: linear, dmaHandle: r.dmaHandle };
      };
      return b;
    }),
  },
  {
    property: 'dma-address-reachable',
    profile: 'arm64-soc',
    // dma_map_single returns the physical address, ignoring the dma-ranges offset.
    backend: factory('map-returns-phys', (env) => {
      const b = new ReferenceBackend(env);
      b.mapSingle = (_dev: string, cpuAddr: CpuAddr, _size: number, _dir: number, _attrs: number): DmaAddr => env.platform.pt.translate(cpuAddr, 'read', 'mutant').phys as number as DmaAddr;
      return b;
    }),
  },
  {
    property: 'allocation-contract',
    profile: 'x86-64',
    // dma_alloc_attrs forgets to zero: the buffer keeps what the page held.
    backend: factory('alloc-not-zeroed', (env) => {
      const b = new ReferenceBackend(env);
      const alloc = b.allocAttrs.bind(b);
      b.allocAttrs = (dev: string, size: number, gfp: Gfp, attrs: number): DmaAllocation => {
        const r = alloc(dev, size, gfp, attrs);
        if (r.cpuAddr !== null && env.platform.pt.isLinearAddr(r.cpuAddr)) env.platform.cpu.memset(r.cpuAddr, 0xa5, size, 'mutant');
        return r;
      };
      return b;
    }),
  },
  {
    property: 'mmap-shows-buffer',
    profile: 'x86-64',
    // dma_mmap_attrs maps the page after the buffer's first page.
    backend: factory('mmap-off-by-one-page', (env) => {
      const b = new ReferenceBackend(env);
      const mmap = b.mmapAttrs.bind(b);
      b.mmapAttrs = (dev: string, vma: VmArea, cpuAddr: CpuAddr, dma: DmaAddr, size: number, attrs: number): number => {
        const r = mmap(dev, vma, cpuAddr, dma, size, attrs);
        for (let i = 0; i < vma.pages.length; i++) if (vma.pages[i] !== null) vma.pages[i] = ((vma.pages[i] as number) + 1) as Pfn;
        return r;
      };
      return b;
    }),
  },
  {
    property: 'no-leak',
    profile: 'x86-64',
    // dma_free_attrs does nothing.
    backend: factory('free-leaks', (env) => {
      const b = new ReferenceBackend(env);
      b.freeAttrs = () => {};
      return b;
    }),
  },
  {
    property: 'bad-input-is-refused',
    profile: 'x86-64',
    // A zero-sized dma_alloc_attrs is served with a page instead of NULL.
    backend: factory('alloc-zero-size-served', (env) => {
      const b = new ReferenceBackend(env);
      const alloc = b.allocAttrs.bind(b);
      b.allocAttrs = (dev: string, size: number, gfp: Gfp, attrs: number): DmaAllocation => alloc(dev, size === 0 ? 4096 : size, gfp, attrs);
      return b;
    }),
  },
  {
    property: 'swiotlb-slots-sound',
    profile: 'arm64-soc',
    // dma_free_attrs of a restricted-pool buffer forgets swiotlb_free: its slots stay taken (the pool check after teardown).
    backend: factory('restricted-free-leaks-slots', (env) => {
      const b = new ReferenceBackend(env);
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
      return b;
    }),
  },
  {
    property: 'cma-falls-back-cleanly',
    profile: 'arm64-soc',
    // dma_free_attrs forgets buffers whose pages came from a CMA area: they stay allocated in the area (the free check).
    backend: factory('cma-free-forgotten', (env) => {
      const b = new ReferenceBackend(env);
      const free = b.freeAttrs.bind(b);
      b.freeAttrs = (dev: string, size: number, cpuAddr: CpuAddr | null, handle: DmaAddr, attrs: number): void => {
        if (env.mm.cma.areaOf(Math.floor(handle / PAGE_SIZE)) === undefined) free(dev, size, cpuAddr, handle, attrs);
      };
      return b;
    }),
  },
  {
    property: 'atomic-context-never-sleeps',
    profile: 'arm64-soc',
    // Non-blocking allocations for non-coherent devices fail outright although the atomic pools have room.
    backend: factory('atomic-alloc-refused', (env) => {
      const b = new ReferenceBackend(env);
      const alloc = b.allocAttrs.bind(b);
      b.allocAttrs = (dev: string, size: number, gfp: Gfp, attrs: number): DmaAllocation =>
        !gfpflagsAllowBlocking(gfp) && !b.device(dev).dmaCoherent ? DMA_ALLOC_FAILED : alloc(dev, size, gfp, attrs);
      return b;
    }),
  },
  {
    property: 'no-oops',
    profile: 'x86-64',
    // dma_sync_single_for_cpu dereferences the DMA handle as a kernel address.
    backend: factory('sync-derefs-handle', (env) => {
      const b = new ReferenceBackend(env);
      const sync = b.syncSingleForCpu.bind(b);
      b.syncSingleForCpu = (dev: string, addr: DmaAddr, size: number, dir: number): void => {
        env.platform.cpu.read(addr, 1, 'mutant');
        sync(dev, addr, size, dir);
      };
      return b;
    }),
  },
];
