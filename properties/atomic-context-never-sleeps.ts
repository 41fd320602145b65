/**
 * atomic-context-never-sleeps: an allocation made where the caller may not
 * sleep (a non-blocking gfp, or atomic context) reaches nothing that may
 * sleep: no CMA migration, no vmap, no blocking page allocation. The
 * harness runs every non-blocking `dma_alloc_attrs` in atomic context, so
 * the platform's `might_sleep()` sees such a call. Non-blocking allocations
 * for non-coherent devices that need an uncached remap come from the atomic
 * pools (dma-direct's per-zone pools, or ARM32's pool), and fail only when
 * no pool has room the device can reach.
 * @see kernel/dma/pool.c dma_alloc_from_pool; kernel/dma/direct.c dma_direct_alloc (kernel-dma.md §1.3 step 4, §1.6, §5 "Atomic context")
 */
import { type Property, requireCalls, violation } from '../src/conformance/property.ts';

const property: Property = {
  name: 'atomic-context-never-sleeps',
  summary: 'non-blocking and atomic-context allocations never sleep, and non-coherent ones come from the atomic pools',
  rules: ['R19', 'R20'],
  weights: {
    kmalloc: 1, allocPages: 1, mapSingle: 1, mapPage: 1, mapSg: 0, unmapSingle: 1, unmapSg: 0, syncForCpu: 0, syncForDevice: 0,
    cpuWrite: 1, cpuRead: 1, cpuWriteNeighbour: 0, deviceWrite: 1, deviceRead: 1, userRead: 0, mmap: 0, munmap: 0, getSgtable: 0,
    speculativeFill: 0, evict: 0, alloc: 12, free: 5, setContext: 6, runWork: 2,
  },
  needs: (ctx) => requireCalls(ctx, ['allocAttrs', 'freeAttrs']),
  check(obs) {
    if (obs.kind === 'platform-violation' && obs.violation.kind === 'sleep-in-atomic') {
      const step = obs.at.step;
      const what = step === null ? 'teardown' : step.op === 'alloc' ? `dma_alloc_attrs(${step.dev}, ${step.size}, ${step.gfp})` : step.op;
      return violation(property, obs, `${what} may sleep where the caller cannot: ${obs.violation.message}`);
    }
    if (obs.kind === 'alloc-source' && obs.atomicProblems.length > 0) return violation(property, obs, `dma_alloc_attrs(${obs.dev}): ${obs.atomicProblems.join('; ')} [ref=${obs.ref}]`);
    return null;
  },
};

export default property;
