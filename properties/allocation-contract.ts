/**
 * allocation-contract: what `dma_alloc_attrs` promises. The buffer is zeroed
 * (except with NO_KERNEL_MAPPING on dma-direct, §1.19), the handle is
 * aligned to the allocation's page order (R21) and the CPU address to a
 * page, no live buffer overlaps it, a failure has no side effects, and the
 * layer keeps the context rules: nothing that may sleep under a GFP_ATOMIC
 * call or a streaming call in atomic context (R19, R42).
 * @see kernel/dma/mapping.c dma_alloc_attrs, kernel/dma/direct.c dma_direct_alloc (kernel-dma.md §1.1, §1.19)
 */
import { ORIGIN, describeMismatch, firstMismatch } from '../src/conformance/oracle.ts';
import { type Property, requireCalls, violation } from '../src/conformance/property.ts';

const property: Property = {
  name: 'allocation-contract',
  summary: 'allocations are zeroed where documented, aligned to their order, overlap nothing live, fail cleanly and keep context rules',
  rules: ['R19', 'R21', 'R42'],
  weights: {
    kmalloc: 2, allocPages: 2, mapSingle: 2, mapPage: 2, mapSg: 1, cpuWriteNeighbour: 0,
    alloc: 10, free: 4, setContext: 4, cpuRead: 8, deviceRead: 4, userRead: 2, mmap: 2, cpuWrite: 2, deviceWrite: 2, speculativeFill: 2,
  },
  needs: (ctx) => requireCalls(ctx, ['allocAttrs', 'freeAttrs']),
  check(obs) {
    if (obs.kind === 'alloc' && obs.problems.length > 0) {
      return violation(property, obs, `dma_alloc_attrs(${obs.dev}) ${obs.ok ? 'returned a buffer that breaks the contract' : 'failed with side effects'}: ${obs.problems.join('; ')} [ref=${obs.ref}]`);
    }
    if (obs.kind === 'platform-violation' && obs.violation.kind === 'sleep-in-atomic') {
      return violation(property, obs, `the DMA layer may sleep in atomic context: ${obs.violation.message}`);
    }
    if (obs.kind === 'cpu-read' || obs.kind === 'device-read' || obs.kind === 'user-read') {
      const m = firstMismatch(obs, (o) => o === ORIGIN.allocZero);
      if (m !== null) return violation(property, obs, `a fresh coherent buffer is not zeroed ${describeMismatch(obs, m)}`);
    }
    return null;
  },
};

export default property;
