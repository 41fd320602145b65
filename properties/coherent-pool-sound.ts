/**
 * coherent-pool-sound: allocations for a device with its own coherent pool
 * (DT `shared-dma-pool` with `no-map`, or `dma_declare_coherent_memory`)
 * and for non-coherent devices on a global-pool platform lie inside that
 * pool (a full pool fails; it never falls back to other memory), are handed
 * out through a mapping that bypasses the CPU cache for a non-coherent
 * device, and a read of such a buffer sees what was last written. Linux
 * also places each buffer aligned to its page order within the pool.
 * @see kernel/dma/coherent.c __dma_alloc_from_coherent, dma_alloc_from_global_coherent (Documentation/devicetree/bindings/reserved-memory/shared-dma-pool.yaml)
 */
import { allocEvidence, deviceConfig, devicePool, globalPoolFor } from '../src/conformance/judge.ts';
import { describeMismatch, firstMismatch } from '../src/conformance/oracle.ts';
import { type Property, requireCalls } from '../src/conformance/property.ts';
import { PAGE_SIZE, getOrder, hex } from '../src/platform/types.ts';

const pooled = (region: string | null): boolean => region !== null && (region.startsWith('coherent-pool:') || region === 'global-pool');

const property: Property = {
  name: 'coherent-pool-sound',
  summary: 'per-device and global pool buffers stay in their pool, bypass the cache, and read back what was written',
  checks: [
    {
      id: 'outside-device-pool',
      level: 'contract',
      rules: [],
      see: 'kernel/dma/coherent.c dma_alloc_from_dev_coherent (the pool\'s answer is final); Documentation/devicetree/bindings/reserved-memory/shared-dma-pool.yaml',
      summary: "a device with its own coherent pool (a board's carve-out) gets its buffers from that pool only, even when it is full",
      judge(obs, ctx) {
        if (obs.kind !== 'alloc' || !obs.ok || obs.region === null) return null;
        const pool = devicePool(ctx.profile, obs.dev);
        if (pool === null || obs.region === pool.region) return null;
        return `allocation fell back outside the device's coherent pool ${allocEvidence(obs)} [pool=${hex(pool.basePhys)}+${pool.sizeBytes}]`;
      },
    },
    {
      id: 'outside-global-pool',
      level: 'linux',
      rules: [],
      see: 'kernel/dma/direct.c dma_direct_alloc (CONFIG_DMA_GLOBAL_POOL); kernel/dma/coherent.c dma_alloc_from_global_coherent',
      summary: 'with a global coherent pool, a non-coherent device\'s buffers come from that pool only',
      judge(obs, ctx) {
        if (obs.kind !== 'alloc' || !obs.ok || obs.region === null) return null;
        const pool = globalPoolFor(ctx.profile, obs.dev, obs.attrs);
        if (pool === null || obs.region === pool.region) return null;
        return `allocation fell back outside the global coherent pool ${allocEvidence(obs)} [pool=${hex(pool.basePhys)}+${pool.sizeBytes}]`;
      },
    },
    {
      id: 'cached-mapping',
      level: 'contract',
      rules: ['R18'],
      summary: 'a pool buffer of a non-coherent device is handed out through a mapping that bypasses the CPU cache',
      judge(obs, ctx) {
        if (obs.kind !== 'alloc' || !obs.ok || !pooled(obs.region) || obs.cpuAttr !== 'cacheable' || deviceConfig(ctx.profile, obs.dev).coherent) return null;
        return `pool buffer handed out through a cacheable mapping of a non-coherent device [cpu_addr=${hex(obs.cpuAddr ?? 0)}] [attr=${obs.cpuAttr}] ${allocEvidence(obs)}`;
      },
    },
    {
      id: 'stale-read',
      level: 'contract',
      rules: ['R18'],
      summary: 'a CPU, device or user read of a pool buffer sees what was last written',
      judge(obs) {
        if ((obs.kind !== 'cpu-read' && obs.kind !== 'device-read' && obs.kind !== 'user-read') || !pooled(obs.region)) return null;
        const m = firstMismatch(obs);
        return m === null ? null : `a read of a ${obs.region} buffer is not what was last written ${describeMismatch(obs, m)} [from=${obs.region}]`;
      },
    },
    {
      id: 'misaligned-in-pool',
      level: 'linux',
      rules: ['R21'],
      see: 'kernel/dma/coherent.c __dma_alloc_from_coherent (bitmap_find_free_region at the order)',
      summary: 'a pool buffer starts at a multiple of its page order from the pool base',
      judge(obs, ctx) {
        if (obs.kind !== 'alloc' || !obs.ok || obs.pages === null) return null;
        const pool = devicePool(ctx.profile, obs.dev) ?? globalPoolFor(ctx.profile, obs.dev, obs.attrs);
        const first = obs.pages[0];
        if (pool === null || obs.region !== pool.region || first === undefined) return null;
        const align = PAGE_SIZE * 2 ** getOrder(obs.sizeBytes);
        return (first - pool.basePhys) % align === 0 ? null : `pool allocation not aligned to its order within the pool [offset=${hex(first - pool.basePhys)}] [align=${hex(align)}] ${allocEvidence(obs)}`;
      },
    },
  ],
  weights: {
    kmalloc: 1, allocPages: 1, mapSingle: 1, mapPage: 1, mapSg: 0, unmapSingle: 1, unmapSg: 0, syncForCpu: 1, syncForDevice: 1,
    cpuWrite: 6, cpuRead: 8, cpuWriteNeighbour: 0, deviceWrite: 6, deviceRead: 6, userRead: 2, mmap: 2, munmap: 1, getSgtable: 0,
    speculativeFill: 4, evict: 2, alloc: 10, free: 4, setContext: 2, dmaWmb: 3,
  },
  // Large allocations fill the small device pools.
  generator: { largeAllocs: true },
  paths: ['coherent-pool'],
  needs: (ctx) =>
    requireCalls(ctx, ['allocAttrs', 'freeAttrs']) ??
    (ctx.profile.globalCoherentPool === null && ctx.profile.devices.every((d) => d.coherentPool === null) ? 'the profile has no coherent pool' : null),
};

export default property;
