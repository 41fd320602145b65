/**
 * cma-falls-back-cleanly: Linux's use of CMA. CMA serves only what it may
 * (never a non-blocking request, never a single page from a shared area,
 * the device's own area before any other, its node's area before the
 * default one), and when it cannot serve (area exhausted, a pinned page in
 * every candidate range, pages the device cannot reach) dma-direct falls
 * back to the buddy allocator, so a failure while a free block the device
 * can reach exists is a missing fallback. ARM32's allocator has no fallback
 * after CMA, so there a CMA failure is final. Every free gives the pages
 * back to the CMA area, gen_pool or buddy free lists they came from, read
 * on the substrate's own accounting. All of this is Linux's choice: an
 * independent DMA layer need not use CMA at all.
 * @see kernel/dma/contiguous.c dma_alloc_contiguous, dma_free_contiguous; kernel/dma/direct.c __dma_direct_alloc_pages
 */
import { type AllocObservation, allocEvidence, deviceConfig, linuxAllocPath } from '../src/conformance/judge.ts';
import { type Property, requireCalls } from '../src/conformance/property.ts';
import { gfpflagsAllowBlocking } from '../src/linux/include/linux/gfp.ts';
import { PAGE_SIZE, getOrder, hex } from '../src/platform/types.ts';
import type { PlatformProfile } from '../src/platform/profiles.ts';
import { buddyCouldServe } from '../src/conformance/judge.ts';

/** The CMA area an allocation came from, with the device's own area, or null when it is not from CMA. */
function cmaOf(o: AllocObservation, profile: PlatformProfile) {
  if (!o.ok || o.region === null || !o.region.startsWith('cma:')) return null;
  const area = profile.cma.find((c) => c.name === (o.region as string).slice(4));
  const own = profile.cma.find((c) => c.kind === 'device' && c.device === o.dev);
  return area === undefined ? null : { area, own };
}

const property: Property = {
  name: 'cma-falls-back-cleanly',
  summary: 'CMA serves only what it may, the buddy fallback serves what CMA cannot, and frees go back where the pages came from',
  checks: [
    {
      id: 'cma-non-blocking',
      level: 'linux',
      rules: ['R19'],
      see: 'kernel/dma/contiguous.c dma_alloc_contiguous (gfpflags_allow_blocking)',
      summary: 'CMA never serves a non-blocking allocation (migration sleeps)',
      judge(obs, ctx) {
        if (obs.kind !== 'alloc' || cmaOf(obs, ctx.profile) === null || gfpflagsAllowBlocking(obs.gfp)) return null;
        return `CMA served a non-blocking allocation ${allocEvidence(obs)}`;
      },
    },
    {
      id: 'cma-wrong-area',
      level: 'linux',
      rules: [],
      see: 'kernel/dma/contiguous.c dma_alloc_contiguous, dev_get_cma_area',
      summary: "a device with its own CMA area gets only that area; no device gets another device's area or another node's",
      judge(obs, ctx) {
        if (obs.kind !== 'alloc') return null;
        const c = cmaOf(obs, ctx.profile);
        if (c === null) return null;
        const { area, own } = c;
        if (own !== undefined && area.name !== own.name) return `allocation from another CMA area than the device's own ${allocEvidence(obs)} [own=${own.name}]`;
        if (own === undefined && area.kind === 'device') return `allocation from another device's CMA area ${allocEvidence(obs)}`;
        const node = deviceConfig(ctx.profile, obs.dev).numaNode;
        if (area.kind === 'numa' && area.node !== node) return `allocation from another node's CMA area ${allocEvidence(obs)} [node=${node}]`;
        return null;
      },
    },
    {
      id: 'cma-single-page-shared',
      level: 'linux',
      rules: [],
      see: 'kernel/dma/contiguous.c dma_alloc_contiguous (size <= PAGE_SIZE)',
      summary: 'dma-direct never takes a single page from a shared CMA area',
      judge(obs, ctx) {
        if (obs.kind !== 'alloc' || obs.sizeBytes > PAGE_SIZE) return null;
        const c = cmaOf(obs, ctx.profile);
        // ARM32 asks dma_alloc_from_contiguous, which has no such rule.
        if (c === null || c.own !== undefined || linuxAllocPath(ctx.profile, obs.dev, obs.gfp, obs.attrs) !== 'direct') return null;
        return `a single page from a shared CMA area ${allocEvidence(obs)}`;
      },
    },
    {
      id: 'no-buddy-fallback',
      level: 'linux',
      rules: [],
      see: 'kernel/dma/direct.c __dma_direct_alloc_pages (CMA, then alloc_pages_node)',
      summary: 'on dma-direct, an allocation fails only when no free buddy block the device reaches could serve it',
      latitude: 'any failure under fault injection; ARM32 has no fallback after CMA',
      judge(obs, ctx) {
        if (obs.kind !== 'alloc' || obs.ok || linuxAllocPath(ctx.profile, obs.dev, obs.gfp, obs.attrs) !== 'direct') return null;
        const could = buddyCouldServe(ctx.profile, obs, getOrder(obs.sizeBytes));
        return could === null ? null : `allocation failed although the buddy allocator could serve it ${allocEvidence(obs)} ${could}`;
      },
    },
    {
      id: 'free-not-returned',
      level: 'linux',
      rules: ['R22'],
      see: 'kernel/dma/contiguous.c dma_free_contiguous; kernel/dma/pool.c dma_free_from_pool',
      summary: 'dma_free_attrs gives every page back to the CMA area, gen_pool or buddy free lists it came from',
      judge(obs) {
        if (obs.kind !== 'free' || obs.held.length === 0) return null;
        const h = obs.held[0] as { pfn: number; where: string };
        return `a page of the freed buffer is ${h.where} [ref=${obs.ref}] [pfn=${hex(h.pfn)}] [from=${obs.region}] [pages_held=${obs.held.length}]`;
      },
    },
  ],
  weights: {
    kmalloc: 1, allocPages: 3, mapSingle: 1, mapPage: 1, mapSg: 0, unmapSingle: 1, unmapSg: 1, syncForCpu: 0, syncForDevice: 0,
    cpuWrite: 1, cpuRead: 1, cpuWriteNeighbour: 0, deviceWrite: 1, deviceRead: 1, userRead: 0, mmap: 0, munmap: 0, getSgtable: 0,
    speculativeFill: 0, evict: 0, alloc: 12, free: 6, setContext: 2, cmaPin: 6, runWork: 1,
  },
  generator: { largeAllocs: true, swarm: false },
  paths: ['cma', 'buddy'],
  runs: 200,
  needs: (ctx) => requireCalls(ctx, ['allocAttrs', 'freeAttrs']) ?? (ctx.profile.cma.length === 0 ? 'the profile has no CMA area' : null),
};

export default property;
