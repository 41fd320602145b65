/**
 * cma-falls-back-cleanly: CMA serves only what it may, and when it cannot
 * serve (area exhausted, a pinned page in every candidate range, a
 * non-blocking request, a single page from a shared area, pages the device
 * cannot reach), the kernel's fallback serves instead: on dma-direct the
 * buddy allocator, so a failure while a free block the device can reach
 * exists is a missing fallback. ARM32's allocator has no fallback after CMA,
 * so there a CMA failure is final. No page is handed out twice (the
 * allocation-contract overlap check), a failure changes nothing, and every
 * free gives the pages back to the CMA area, gen_pool or buddy free lists
 * they came from, read on the substrate's own accounting.
 * @see kernel/dma/contiguous.c dma_alloc_contiguous, dma_free_contiguous; kernel/dma/direct.c __dma_direct_alloc_pages (kernel-dma.md §1.4–1.5)
 */
import { type Property, requireCalls, violation } from '../src/conformance/property.ts';

const property: Property = {
  name: 'cma-falls-back-cleanly',
  summary: 'CMA serves only what it may, the buddy fallback serves what CMA cannot, and frees go back where the pages came from',
  rules: ['R21', 'R22'],
  weights: {
    kmalloc: 1, allocPages: 3, mapSingle: 1, mapPage: 1, mapSg: 0, unmapSingle: 1, unmapSg: 1, syncForCpu: 0, syncForDevice: 0,
    cpuWrite: 1, cpuRead: 1, cpuWriteNeighbour: 0, deviceWrite: 1, deviceRead: 1, userRead: 0, mmap: 0, munmap: 0, getSgtable: 0,
    speculativeFill: 0, evict: 0, alloc: 12, free: 6, setContext: 2, cmaPin: 6, runWork: 1,
  },
  generator: { largeAllocs: true },
  needs: (ctx) => requireCalls(ctx, ['allocAttrs', 'freeAttrs']) ?? (ctx.profile.cma.length === 0 ? 'the profile has no CMA area' : null),
  check(obs) {
    if (obs.kind === 'alloc-source' && obs.cmaProblems.length > 0) return violation(property, obs, `dma_alloc_attrs(${obs.dev}): ${obs.cmaProblems.join('; ')} [ref=${obs.ref}]`);
    if (obs.kind === 'alloc' && !obs.ok && obs.problems.length > 0) return violation(property, obs, `dma_alloc_attrs(${obs.dev}) failed with side effects: ${obs.problems.join('; ')} [ref=${obs.ref}]`);
    if (obs.kind === 'free' && obs.problems.length > 0) return violation(property, obs, `dma_free_attrs did not give the pages back: ${obs.problems.join('; ')}`);
    return null;
  },
};

export default property;
