/**
 * coherent-pool-sound: allocations from a device's own coherent pool
 * (`shared-dma-pool` / `dma_declare_coherent_memory`) and from the global
 * pool lie inside that pool (a full pool fails; it never falls back to
 * normal memory), are aligned to their page order within the pool, are
 * handed out through a mapping that bypasses the CPU cache (write-combine
 * `memremap`, or the uncached alias on noMMU), and a CPU or device read of
 * such a buffer sees what was last written, never a stale cache line.
 * Zeroing and overlap are allocation-contract's checks, which cover pool
 * buffers too.
 * @see kernel/dma/coherent.c __dma_alloc_from_coherent, dma_alloc_from_global_coherent (kernel-dma.md §1.2, §1.7, §1.19)
 */
import { describeMismatch, firstMismatch } from '../src/conformance/oracle.ts';
import { type Property, requireCalls, violation } from '../src/conformance/property.ts';

const pooled = (region: string | null): boolean => region !== null && (region.startsWith('coherent-pool:') || region === 'global-pool');

const property: Property = {
  name: 'coherent-pool-sound',
  summary: 'per-device and global pool buffers stay in their pool, are order-aligned in it, never fall back and are coherent through the address handed out',
  rules: ['R18', 'R21'],
  weights: {
    kmalloc: 1, allocPages: 1, mapSingle: 1, mapPage: 1, mapSg: 0, unmapSingle: 1, unmapSg: 0, syncForCpu: 1, syncForDevice: 1,
    cpuWrite: 6, cpuRead: 8, cpuWriteNeighbour: 0, deviceWrite: 6, deviceRead: 6, userRead: 2, mmap: 2, munmap: 1, getSgtable: 0,
    speculativeFill: 4, evict: 2, alloc: 10, free: 4, setContext: 2, dmaWmb: 3,
  },
  // Large allocations fill the small device pools.
  generator: { largeAllocs: true },
  needs: (ctx) =>
    requireCalls(ctx, ['allocAttrs', 'freeAttrs']) ??
    (ctx.profile.globalCoherentPool === null && ctx.profile.devices.every((d) => d.coherentPool === null) ? 'the profile has no coherent pool' : null),
  check(obs) {
    if (obs.kind === 'alloc-source' && obs.poolProblems.length > 0) return violation(property, obs, `dma_alloc_attrs(${obs.dev}): ${obs.poolProblems.join('; ')} [ref=${obs.ref}]`);
    if ((obs.kind === 'cpu-read' || obs.kind === 'device-read' || obs.kind === 'user-read') && pooled(obs.region)) {
      const m = firstMismatch(obs);
      if (m !== null) return violation(property, obs, `a read of a ${obs.region} buffer is not what was last written ${describeMismatch(obs, m)} [from=${obs.region}]`);
    }
    return null;
  },
};

export default property;
