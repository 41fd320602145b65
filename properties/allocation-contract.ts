/**
 * allocation-contract: what `dma_alloc_attrs` promises. The buffer is zeroed
 * (except a NO_KERNEL_MAPPING cookie's, which has no CPU view), the handle
 * and the CPU address are aligned as documented, the pages are RAM, no live
 * buffer overlaps it, a failure has no side effects, and an allocation that
 * the platform can certainly serve does not fail.
 * @see kernel/dma/mapping.c dma_alloc_attrs, kernel/dma/direct.c dma_direct_alloc (Documentation/core-api/dma-api-howto.rst "Using Coherent DMA mappings")
 */
import { allocEvidence, reaches } from '../src/conformance/judge.ts';
import { ORIGIN, describeMismatch, firstMismatch } from '../src/conformance/oracle.ts';
import { type Property, claimedLevels, requireCalls } from '../src/conformance/property.ts';
import { DMA_ATTR_FORCE_CONTIGUOUS } from '../src/linux/include/linux/dma-mapping.ts';
import { CMA_ALIGNMENT } from '../src/linux/mm/cma.ts';
import { PAGE_SIZE, getOrder, hex } from '../src/platform/types.ts';

/** The region of the ARM32 atomic pool's pieces (its gen_pool's name). */
const ARM_ATOMIC_POOL = 'pool:arm_atomic_pool';

/** Largest alignment any Linux path gives, in pages' order: CMA stops at `CMA_ALIGNMENT` (1 MiB). */
const CONTRACT_ALIGN_ORDER = CMA_ALIGNMENT;

const property: Property = {
  name: 'allocation-contract',
  summary: 'allocations are zeroed, aligned, RAM, overlap nothing live, fail cleanly, and do not fail needlessly',
  checks: [
    {
      id: 'not-zeroed',
      level: 'contract',
      rules: ['R21'],
      summary: 'a fresh coherent buffer reads as zeroes through its CPU address, its handle and a user mapping',
      latitude:
        'a NO_KERNEL_MAPPING buffer is not compared (dma-direct does not zero it and it has no CPU view); for a backend that claims the linux level, neither is a piece of the ARM32 atomic pool (Linux clears that pool once at boot and hands pieces out again uncleared: arch/arm/mm/dma-mapping.c __alloc_from_pool)',
      judge(obs, ctx) {
        if (obs.kind !== 'cpu-read' && obs.kind !== 'device-read' && obs.kind !== 'user-read') return null;
        if (obs.region === ARM_ATOMIC_POOL && claimedLevels(ctx.capabilities).includes('linux')) return null;
        const m = firstMismatch(obs, (o) => o === ORIGIN.allocZero);
        if (m === null) return null;
        return `${obs.objKind === 'noncoherent' ? 'a fresh __GFP_ZERO non-coherent buffer' : 'a fresh coherent buffer'} is not zeroed ${describeMismatch(obs, m)}`;
      },
    },
    {
      id: 'noncoherent-not-cacheable',
      level: 'linux',
      rules: ['R49'],
      see: 'kernel/dma/direct.c dma_direct_alloc_pages',
      summary: 'dma_alloc_pages, dma_alloc_noncoherent and dma_alloc_noncontiguous hand out cacheable memory (on dma-direct its linear mapping), not the slow uncached coherent buffer the API exists to avoid',
      latitude: 'the documentation does not say how the memory is mapped; an IOMMU vmaps noncontiguous memory (still cacheable)',
      judge(obs) {
        if (obs.kind !== 'nc-alloc' || !obs.ok || obs.cpuAttr === null || obs.cpuAttr === 'cacheable') return null;
        return `dma_alloc_${obs.api} returned memory mapped ${obs.cpuAttr}, not cacheable [ref=${obs.ref}] [dev=${obs.dev}] [size=${obs.sizeBytes}] [dma=${hex(obs.dma)}]`;
      },
    },
    {
      id: 'noncoherent-not-zeroed',
      level: 'linux',
      rules: [],
      see: 'kernel/dma/direct.c dma_direct_alloc_pages (the memset after allocation)',
      summary: 'dma-direct zeroes non-coherent memory, __GFP_ZERO or not',
      latitude: 'the documentation promises zeroes only with __GFP_ZERO (a contract check); dma-iommu leaves dma_alloc_noncontiguous memory uncleared',
      judge(obs) {
        if (obs.kind !== 'nc-alloc' || !obs.ok || obs.zeroed !== false) return null;
        return `dma_alloc_${obs.api} returned memory that is not zeroed [ref=${obs.ref}] [dev=${obs.dev}] [size=${obs.sizeBytes}] [dma=${hex(obs.dma)}]`;
      },
    },
    {
      id: 'handle-misaligned',
      level: 'contract',
      rules: ['R21'],
      summary: 'the DMA handle is aligned to the smallest page order holding the size',
      latitude: 'at most 1 MiB (CONFIG_CMA_ALIGNMENT): Linux gives no more for larger CMA buffers',
      judge(obs) {
        if (obs.kind !== 'alloc' || !obs.ok) return null;
        const align = PAGE_SIZE * 2 ** Math.min(getOrder(obs.sizeBytes), CONTRACT_ALIGN_ORDER);
        return obs.dma % align === 0 ? null : `dma_handle not aligned to the allocation order [dma=${hex(obs.dma)}] [align=${hex(align)}] ${allocEvidence(obs)}`;
      },
    },
    {
      id: 'handle-misaligned-beyond-cma',
      level: 'linux',
      rules: ['R21'],
      see: 'kernel/dma/direct.c __dma_direct_alloc_pages (buddy blocks are naturally aligned); kernel/dma/contiguous.c cma_alloc_aligned',
      summary: 'a buffer from anywhere but CMA is aligned to its full page order',
      judge(obs) {
        if (obs.kind !== 'alloc' || !obs.ok || obs.region?.startsWith('cma:') === true) return null;
        const align = PAGE_SIZE * 2 ** getOrder(obs.sizeBytes);
        return obs.dma % align === 0 ? null : `dma_handle not aligned to the allocation order [dma=${hex(obs.dma)}] [align=${hex(align)}] ${allocEvidence(obs)}`;
      },
    },
    {
      id: 'force-contiguous-scattered',
      level: 'contract',
      rules: [],
      see: 'Documentation/core-api/dma-attributes.rst DMA_ATTR_FORCE_CONTIGUOUS; drivers/iommu/dma-iommu.c iommu_dma_alloc',
      summary: 'a DMA_ATTR_FORCE_CONTIGUOUS buffer is contiguous in physical memory, not only in the device\'s address space',
      judge(obs) {
        if (obs.kind !== 'alloc' || !obs.ok || (obs.attrs & DMA_ATTR_FORCE_CONTIGUOUS) === 0 || obs.pages === null) return null;
        const i = obs.pages.findIndex((p, k) => k > 0 && p !== (obs.pages?.[k - 1] as number) + PAGE_SIZE);
        return i < 0 ? null : `DMA_ATTR_FORCE_CONTIGUOUS buffer is not physically contiguous [page=${i}] [phys=${hex(obs.pages[i] as number)}] [previous_phys=${hex(obs.pages[i - 1] as number)}] [dma=${hex(obs.dma)}] ${allocEvidence(obs)}`;
      },
    },
    {
      id: 'cpu-addr-misaligned',
      level: 'contract',
      rules: ['R21'],
      summary: 'the CPU address is page aligned',
      latitude: 'page alignment only: a remapped buffer\'s vmap address has no more',
      judge(obs) {
        if (obs.kind !== 'alloc' || !obs.ok || !obs.kernelMapping || obs.cpuAddr === null) return null;
        return obs.cpuAddr % PAGE_SIZE === 0 ? null : `cpu_addr not page aligned [cpu_addr=${hex(obs.cpuAddr)}] ${allocEvidence(obs)}`;
      },
    },
    {
      id: 'not-ram',
      level: 'contract',
      rules: ['R21'],
      summary: 'the CPU address (or, for a cookie, the handle) translates to RAM over the whole buffer',
      judge(obs) {
        if (obs.kind !== 'alloc' || !obs.ok || obs.pages !== null) return null;
        return `${obs.kernelMapping ? 'cpu_addr' : 'dma_handle'} does not translate to RAM [cpu_addr=${hex(obs.cpuAddr ?? 0)}] [dma=${hex(obs.dma)}] ${allocEvidence(obs)}`;
      },
    },
    {
      id: 'overlaps-live',
      level: 'contract',
      rules: ['R22'],
      summary: 'no page of a new buffer belongs to a live buffer, mapping or bounce buffer',
      judge(obs) {
        if (obs.kind !== 'alloc' || !obs.ok || obs.overlaps === null) return null;
        return `the new buffer overlaps ${obs.overlaps} ${allocEvidence(obs)}`;
      },
    },
    {
      id: 'failure-side-effects',
      level: 'contract',
      rules: ['R22'],
      summary: 'a failed allocation leaves every allocator as it was',
      judge(obs) {
        if (obs.kind !== 'alloc' || obs.ok || obs.changed.length === 0) return null;
        return `a failed allocation changed the substrate accounting ${obs.changed.join(' ')} ${allocEvidence(obs)}`;
      },
    },
    {
      id: 'needless-failure',
      level: 'contract',
      rules: ['R19'],
      summary: 'an allocation of one page, with nothing else live and ample free memory in a zone the device reaches whole, succeeds in any context',
      latitude: 'any failure under fault injection, for larger sizes, or while other buffers are live (pools and zones may be exhausted); and when the device reaches only part of every zone (a narrow mask: the pages an allocator hands out may lie beyond it, and Linux gives up after GFP_DMA too)',
      judge(obs, ctx) {
        if (obs.kind !== 'alloc' || obs.ok || obs.faultInjection || obs.sizeBytes > PAGE_SIZE || obs.live > 0 || obs.zones === null) return null;
        const ample = obs.zones.find((z) => z.type !== 'HIGHMEM' && z.maxFreeOrder >= 4 && reaches(ctx.profile, obs.dev, z.startPhys, z.endPhys - z.startPhys, obs.coherentMaskBits));
        return ample === undefined ? null : `dma_alloc_attrs failed although nothing else is live and zone ${ample.type} has free blocks up to order ${ample.maxFreeOrder} the device reaches ${allocEvidence(obs)}`;
      },
    },
  ],
  weights: {
    kmalloc: 2, allocPages: 2, mapSingle: 2, mapPage: 2, mapSg: 1, cpuWriteNeighbour: 0, allocNc: 4, freeNc: 2,
    alloc: 10, free: 4, setContext: 4, cpuRead: 8, deviceRead: 4, userRead: 2, mmap: 2, cpuWrite: 2, deviceWrite: 2, speculativeFill: 2,
  },
  paths: ['buddy'],
  runs: 200,
  needs: (ctx) => requireCalls(ctx, ['allocAttrs', 'freeAttrs']),
};

export default property;
