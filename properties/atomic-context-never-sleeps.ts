/**
 * atomic-context-never-sleeps: a call made where the caller may not sleep
 * (a non-blocking gfp, or atomic context) reaches nothing that may sleep: no
 * CMA migration, no vmap, no blocking page allocation, no page-state
 * conversion. The harness runs every non-blocking `dma_alloc_attrs` in
 * atomic context, so the platform's `might_sleep()` sees such a call. In
 * Linux, non-blocking allocations that need an uncached remap or decrypted
 * memory come from the atomic pools (dma-direct's per-zone pools, or
 * ARM32's pool), and fail only when no pool has room the device can reach.
 * @see kernel/dma/pool.c dma_alloc_from_pool; kernel/dma/direct.c dma_direct_alloc (Documentation/core-api/dma-api-howto.rst "Using Coherent DMA mappings")
 */
import { allocEvidence, atomicPoolChain, linuxAllocPath, reaches } from '../src/conformance/judge.ts';
import { type Property, requireCalls } from '../src/conformance/property.ts';
import { gfpflagsAllowBlocking } from '../src/linux/include/linux/gfp.ts';
import { PAGE_SIZE, getOrder } from '../src/platform/types.ts';

/** Is this allocation one Linux serves from an atomic pool (dma-direct's or ARM32's)? */
const fromAtomicPool = (path: string, blocking: boolean) => path === 'atomic-pool' || (path === 'arm' && !blocking);

const property: Property = {
  name: 'atomic-context-never-sleeps',
  summary: 'non-blocking and atomic-context calls never sleep, and Linux serves non-coherent ones from the atomic pools',
  checks: [
    {
      id: 'sleeps-in-atomic',
      level: 'contract',
      rules: ['R19', 'R42'],
      summary: 'nothing that may sleep runs under a non-blocking allocation or a call made in atomic context',
      judge(obs) {
        if (obs.kind !== 'platform-violation' || obs.violation.kind !== 'sleep-in-atomic') return null;
        const step = obs.at.step;
        const what = step === null ? 'teardown' : step.op === 'alloc' ? `dma_alloc_attrs(${step.dev}, ${step.size}, ${step.gfp})` : step.op;
        return `${what} may sleep where the caller cannot: ${obs.violation.message}`;
      },
    },
    {
      id: 'not-from-atomic-pool',
      level: 'linux',
      rules: [],
      see: 'kernel/dma/direct.c dma_direct_alloc (dma_direct_use_pool); arch/arm/mm/dma-mapping.c __alloc_from_pool',
      summary: 'a non-blocking allocation that needs a remap or decrypted memory comes from an atomic pool',
      judge(obs, ctx) {
        if (obs.kind !== 'alloc' || !obs.ok || obs.region === null || obs.region.startsWith('pool:')) return null;
        if (!fromAtomicPool(linuxAllocPath(ctx.profile, obs.dev, obs.gfp, obs.attrs), gfpflagsAllowBlocking(obs.gfp))) return null;
        return `a non-blocking allocation that needs a remap or decryption did not come from an atomic pool ${allocEvidence(obs)}`;
      },
    },
    {
      id: 'atomic-pool-had-room',
      level: 'linux',
      rules: [],
      see: 'kernel/dma/pool.c dma_alloc_from_pool, dma_guess_pool',
      summary: 'a non-blocking allocation from the atomic pools fails only when no pool in the kernel\'s order has room the device reaches',
      judge(obs, ctx) {
        if (obs.kind !== 'alloc' || obs.ok || obs.pools === null) return null;
        const path = linuxAllocPath(ctx.profile, obs.dev, obs.gfp, obs.attrs);
        if (!fromAtomicPool(path, gfpflagsAllowBlocking(obs.gfp))) return null;
        const pools = path === 'arm' ? obs.pools.filter((g) => g.name === 'arm_atomic_pool') : atomicPoolChain(ctx.profile, obs.dev, obs.pools);
        const room = pools.find((g) => g.placementPhys !== null && reaches(ctx.profile, obs.dev, g.placementPhys, obs.sizeBytes, obs.coherentMaskBits));
        return room === undefined ? null : `a non-blocking allocation failed although atomic pool ${room.name} had room ${allocEvidence(obs)} [avail=${room.availBytes}]`;
      },
    },
    {
      id: 'atomic-pool-size',
      level: 'linux',
      rules: [],
      see: 'kernel/dma/pool.c dma_atomic_pool_init (coherent_pool=, else 128 KiB per GiB of RAM, at least 128 KiB, at most MAX_PAGE_ORDER), atomic_pool_expand (one block of that order); arch/arm/mm/dma-mapping.c atomic_pool_size (coherent_pool=, else 256 KiB)',
      summary: 'the atomic pools start at the size the kernel computes from coherent_pool= or the RAM size',
      judge(obs, ctx) {
        if (obs.kind !== 'boot') return null;
        const p = ctx.profile;
        const ramBytes = p.ram.reduce((n, b) => n + b.sizeBytes, 0);
        const sized = p.coherentPoolBytes ?? Math.max(Math.min(Math.floor(ramBytes / (8 * 1024) / PAGE_SIZE), 2 ** p.maxOrder) * PAGE_SIZE, 128 * 1024);
        // atomic_pool_expand takes one block of min(get_order(size), MAX_PAGE_ORDER).
        const directBytes = PAGE_SIZE * 2 ** Math.min(getOrder(sized), p.maxOrder);
        const armBytes = p.coherentPoolBytes ?? 256 * 1024;
        for (const g of obs.pools) {
          const want = g.name === 'arm_atomic_pool' ? armBytes : g.name.startsWith('atomic_pool_') ? directBytes : null;
          if (want !== null && g.sizeBytes !== want) return `atomic pool ${g.name} starts at ${g.sizeBytes} bytes, not the ${want} the kernel sizes it at [coherent_pool=${p.coherentPoolBytes ?? 'default'}] [ram=${ramBytes}]`;
        }
        return null;
      },
    },
  ],
  weights: {
    kmalloc: 1, allocPages: 1, mapSingle: 1, mapPage: 1, mapSg: 0, unmapSingle: 1, unmapSg: 0, syncForCpu: 0, syncForDevice: 0,
    cpuWrite: 1, cpuRead: 1, cpuWriteNeighbour: 0, deviceWrite: 1, deviceRead: 1, userRead: 0, mmap: 0, munmap: 0, getSgtable: 0,
    speculativeFill: 0, evict: 0, alloc: 12, free: 5, setContext: 6, runWork: 2,
  },
  paths: ['atomic-pool'],
  needs: (ctx) => requireCalls(ctx, ['allocAttrs', 'freeAttrs']),
};

export default property;
