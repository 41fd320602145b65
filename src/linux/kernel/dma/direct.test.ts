import { describe, expect, it } from 'vitest';
import type { DmaBackend } from '../../../backend/backend.ts';
import { ReferenceBackend } from '../../../backend/reference.ts';
import { setUp } from '../../../backend/setup.ts';
import { PageFault } from '../../../platform/pgtable.ts';
import { PAGE_SIZE, type CpuAddr, type DmaAddr, pfn, pfnToPhys, physToPfn } from '../../../platform/types.ts';
import { ARCH_SYNC_POLICIES, type ArchSyncPolicy } from '../../arch/dma-sync-policy.ts';
import { dmaCapable, dmaToPhys, physToDma } from '../../include/linux/dma-direct.ts';
import {
  DMA_ATTR_NO_KERNEL_MAPPING,
  DMA_ATTR_NO_WARN,
  DMA_ATTR_SKIP_CPU_SYNC,
  DMA_ATTR_WRITE_COMBINE,
  DMA_BIDIRECTIONAL,
  DMA_FROM_DEVICE,
  DMA_MAPPING_ERROR,
  DMA_TO_DEVICE,
  SIZE_MAX,
} from '../../include/linux/dma-mapping.ts';
import { ENOMEM, ENXIO } from '../../include/linux/errno.ts';
import { GFP_ATOMIC, GFP_DMA, GFP_DMA32, GFP_KERNEL, __GFP_NOWARN } from '../../include/linux/gfp.ts';
import { sgEntry } from '../../include/linux/scatterlist.ts';
import { createSubstrate } from '../../mm/substrate.ts';
import { createPlatform } from '../../../platform/platform.ts';
import { getProfile } from '../../../platform/profiles.ts';

const MiB = 1024 * 1024;
const pattern = (n: number, seed = 1): Uint8Array => Uint8Array.from({ length: n }, (_, i) => ((i * 7 + seed) % 255) + 1);

/** A reference backend on `profile`, optionally with another arch cache table (a mutant). */
function ref(profile: string, archSync?: ArchSyncPolicy) {
  const platform = createPlatform(getProfile(profile), { seed: '7' });
  const mm = createSubstrate(platform);
  const backend = new ReferenceBackend({ platform, mm }, archSync === undefined ? {} : { archSync });
  for (const d of platform.devices) {
    backend.attachDevice(d.name);
    backend.setMaskAndCoherent(d.name, d.config.addressBits);
  }
  return { platform, mm, backend };
}

const physOf = (s: ReturnType<typeof ref>, va: number): number => s.platform.pt.translate(va, 'read', 'test').phys;

describe('streaming DMA on a non-coherent arm64 device', () => {
  /** map FROM_DEVICE, speculative fill, device write, sync_for_cpu, CPU read. */
  function fromDeviceWithSpeculation(policy?: ArchSyncPolicy) {
    const s = ref('arm64-soc', policy);
    const buf = s.mm.slab.kmalloc(PAGE_SIZE) as CpuAddr;
    const staleView = s.platform.mem.read(physOf(s, buf), PAGE_SIZE); // what RAM held before the transfer
    const dma = s.backend.mapSingle('gpu0', buf, PAGE_SIZE, DMA_FROM_DEVICE, 0);
    expect(s.backend.mappingError('gpu0', dma)).toBe(0);
    s.platform.speculativeFill(physOf(s, buf)); // legal: the CPU may prefetch at any time
    const data = pattern(PAGE_SIZE);
    s.platform.device('gpu0').write(dma, data);
    s.backend.syncSingleForCpu('gpu0', dma, PAGE_SIZE, DMA_FROM_DEVICE);
    return { seen: s.platform.cpu.read(buf, PAGE_SIZE), data, staleView };
  }

  it('after dma_sync_single_for_cpu the CPU reads the device bytes, though a line was prefetched during the transfer', () => {
    const { seen, data } = fromDeviceWithSpeculation();
    expect(seen).toEqual(data);
  });

  it('reads stale bytes when the for-cpu invalidate is skipped (seed 003 mutant)', () => {
    const broken: ArchSyncPolicy = { ...ARCH_SYNC_POLICIES.arm64, forCpu: ['none', 'none', 'none'] };
    const { seen, data, staleView } = fromDeviceWithSpeculation(broken);
    expect(seen).not.toEqual(data);
    expect(seen.subarray(0, 64)).toEqual(staleView.subarray(0, 64)); // the prefetched line
    expect(seen.subarray(64)).toEqual(data.subarray(64)); // lines not cached show the device's data
  });

  it('cleans CPU writes at map so the device reads them (TO_DEVICE); without the clean it reads old RAM', () => {
    for (const [policy, ok] of [
      [ARCH_SYNC_POLICIES.arm64, true],
      [{ ...ARCH_SYNC_POLICIES.arm64, forDevice: ['none', 'none', 'none'] } as ArchSyncPolicy, false],
    ] as const) {
      const s = ref('arm64-soc', policy);
      const buf = s.mm.slab.kmalloc(512) as CpuAddr;
      const data = pattern(512, 3);
      s.platform.cpu.write(buf, data);
      const dma = s.backend.mapSingle('gpu0', buf, 512, DMA_TO_DEVICE, 0);
      expect(s.platform.device('gpu0').read(dma, 512)).toEqual(ok ? data : s.platform.mem.read(physOf(s, buf), 512));
      if (!ok) expect(s.platform.device('gpu0').read(dma, 512)).not.toEqual(data);
      s.backend.unmapSingle('gpu0', dma, 512, DMA_TO_DEVICE, 0);
    }
  });

  it('arm64 cleans FROM_DEVICE buffers at map (2022); the older invalidate loses CPU bytes the device does not overwrite', () => {
    for (const [policy, keeps] of [
      [ARCH_SYNC_POLICIES.arm64, true],
      [ARCH_SYNC_POLICIES['arm64-pre-2022'], false],
    ] as const) {
      const s = ref('arm64-soc', policy);
      const buf = s.mm.slab.kmalloc(PAGE_SIZE) as CpuAddr;
      const cpuData = pattern(PAGE_SIZE, 5);
      s.platform.cpu.write(buf, cpuData); // dirty in the cache
      const dma = s.backend.mapSingle('gpu0', buf, PAGE_SIZE, DMA_FROM_DEVICE, 0);
      s.platform.device('gpu0').write(dma, pattern(256, 9)); // partial device write
      s.backend.unmapSingle('gpu0', dma, PAGE_SIZE, DMA_FROM_DEVICE, 0);
      const seen = s.platform.cpu.read(buf, PAGE_SIZE);
      expect(seen.subarray(0, 256)).toEqual(pattern(256, 9));
      expect(Buffer.from(seen.subarray(256)).equals(Buffer.from(cpuData.subarray(256)))).toBe(keeps);
    }
  });

  it('SKIP_CPU_SYNC skips the map-time clean and the unmap-time invalidate; sync_for_device hands CPU writes back', () => {
    const s = ref('arm64-soc');
    const buf = s.mm.slab.kmalloc(256) as CpuAddr;
    s.platform.cpu.write(buf, pattern(256, 2));
    const dma = s.backend.mapSingle('gpu0', buf, 256, DMA_BIDIRECTIONAL, DMA_ATTR_SKIP_CPU_SYNC);
    expect(s.platform.device('gpu0').read(dma, 256)).not.toEqual(pattern(256, 2));
    s.backend.syncSingleForDevice('gpu0', dma, 256, DMA_BIDIRECTIONAL);
    expect(s.platform.device('gpu0').read(dma, 256)).toEqual(pattern(256, 2));
    // partial sync (R41): only the synced range moves
    s.backend.syncSingleForCpu('gpu0', dma, 128, DMA_BIDIRECTIONAL);
    s.platform.cpu.write(buf, pattern(128, 4));
    s.backend.syncSingleForDevice('gpu0', dma, 128, DMA_BIDIRECTIONAL);
    expect(s.platform.device('gpu0').read(dma, 128)).toEqual(pattern(128, 4));
    s.backend.unmapSingle('gpu0', dma, 256, DMA_BIDIRECTIONAL, DMA_ATTR_SKIP_CPU_SYNC);
    expect(s.backend.kernel.live.size).toBe(0);
  });
});

describe('coherent devices (x86-64)', () => {
  it('needs no sync: the device snoops CPU writes and the CPU sees device writes', () => {
    const s = ref('x86-64');
    const buf = s.mm.slab.kmalloc(128) as CpuAddr;
    s.platform.cpu.write(buf, pattern(128));
    const dma = s.backend.mapSingle('nvme0', buf, 128, DMA_BIDIRECTIONAL, 0);
    expect(s.platform.device('nvme0').read(dma, 128)).toEqual(pattern(128));
    s.platform.device('nvme0').write(dma, pattern(128, 8));
    expect(s.platform.cpu.read(buf, 128)).toEqual(pattern(128, 8));
    expect(s.backend.needSync('nvme0', dma)).toBe(false);
    s.backend.unmapSingle('nvme0', dma, 128, DMA_BIDIRECTIONAL, 0);
  });

  it('a coherent allocation is linear, zeroed, and shared with the device without syncs', () => {
    const s = ref('x86-64');
    const before = s.mm.snapshot();
    const { cpuAddr: va, dmaHandle } = s.backend.allocAttrs('nvme0', 5000, GFP_KERNEL, 0);
    expect(va).not.toBeNull();
    expect(s.platform.pt.isLinearAddr(va as number)).toBe(true);
    expect(s.platform.cpu.read(va as number, 8192)).toEqual(new Uint8Array(8192));
    expect((va as number) % 8192).toBe(0);
    s.platform.device('nvme0').write(dmaHandle, pattern(16));
    expect(s.platform.cpu.read(va as number, 16)).toEqual(pattern(16));
    s.backend.freeAttrs('nvme0', 5000, va, dmaHandle, 0);
    expect(s.mm.snapshot()).toEqual(before);
  });

  it("puts a 24-bit device's coherent allocation in ZONE_DMA", () => {
    const s = ref('x86-64');
    const { cpuAddr: va, dmaHandle } = s.backend.allocAttrs('isa0', PAGE_SIZE, GFP_KERNEL, 0);
    expect(va).not.toBeNull();
    expect(dmaHandle).toBeLessThan(16 * MiB);
    expect(s.mm.pages.zoneOf(physToPfn(dmaHandle as number as never))?.type).toBe('DMA');
  });

  it('retries in ZONE_DMA when the DMA32 zone hands out memory above a 30-bit coherent mask', () => {
    const s = ref('x86-64');
    expect(s.backend.setMaskAndCoherent('nic0', 30)).toBe(0);
    // Use up ZONE_DMA32 below 1 GiB, so its next block lies above the mask.
    const held: number[] = [];
    for (;;) {
      const p = s.mm.pages.allocPages(GFP_DMA32, 10) as number;
      if (pfnToPhys(pfn(p)) >= 1024 * MiB) {
        s.mm.pages.freePages(pfn(p), 10);
        break;
      }
      held.push(p);
    }
    // The swiotlb pool split a block at boot: use up the smaller leftovers below 1 GiB too.
    for (let order = 9; order >= 0; order--) {
      for (;;) {
        const p = s.mm.pages.allocPages(GFP_DMA32, order);
        if (p === null) break;
        if (pfnToPhys(pfn(p)) >= 1024 * MiB) {
          s.mm.pages.freePages(pfn(p), order);
          break;
        }
      }
    }
    expect(s.mm.pages.allocPages(GFP_DMA32, 0)).toBeGreaterThanOrEqual((1024 * MiB) / PAGE_SIZE);
    const { cpuAddr: va, dmaHandle } = s.backend.allocAttrs('nic0', PAGE_SIZE, GFP_KERNEL, 0);
    expect(va).not.toBeNull();
    expect(s.mm.pages.zoneOf(physToPfn(dmaHandle as number as never))?.type).toBe('DMA');
  });

  it('fails with NULL when no zone can serve the coherent mask', () => {
    const s = ref('x86-64');
    while (s.mm.pages.allocPages(GFP_DMA | __GFP_NOWARN, 0) !== null);
    expect(s.backend.allocAttrs('isa0', PAGE_SIZE, GFP_KERNEL, DMA_ATTR_NO_WARN).cpuAddr).toBeNull();
    expect(s.mm.dmesg.has('page allocation failure')).toBe(false); // DMA_ATTR_NO_WARN → __GFP_NOWARN
    expect(s.backend.allocAttrs('isa0', PAGE_SIZE, GFP_KERNEL, 0).cpuAddr).toBeNull();
    expect(s.mm.dmesg.has('page allocation failure: order:0, mode:GFP_KERNEL|GFP_DMA')).toBe(true);
    expect(s.backend.kernel.live.size).toBe(0);
  });
});

describe('dma_range_map offsets (arm64-soc vpu0: CPU 0x80000000 is bus 0)', () => {
  it('applies the offset both ways, and an address outside every window is not dma_capable', () => {
    const s = ref('arm64-soc');
    const dev = s.backend.device('vpu0');
    const page = s.mm.pages.allocPages(GFP_DMA, 0) as number;
    const phys = pfnToPhys(pfn(page));
    // 256 bytes: at least 2 × ARCH_DMA_MINALIGN, so not taken for a small kmalloc buffer (which would bounce).
    const dma = s.backend.mapPage('vpu0', pfn(page), 16, 256, DMA_FROM_DEVICE, 0);
    expect(dma).toBe(phys - 0x8000_0000 + 16);
    expect(dmaToPhys(dev, dma)).toBe(phys + 16);
    s.platform.device('vpu0').write(dma, pattern(256));
    s.backend.unmapPage('vpu0', dma, 256, DMA_FROM_DEVICE, 0);
    expect(s.platform.cpu.read(s.mm.pages.pageAddress(pfn(page)) as number + 16, 256)).toEqual(pattern(256));
    const high = s.mm.pages.allocPages(GFP_KERNEL, 0) as number;
    expect(pfnToPhys(pfn(high))).toBeGreaterThanOrEqual(0x8_8000_0000);
    expect(physToDma(dev, pfnToPhys(pfn(high)))).toBe(DMA_MAPPING_ERROR);
    expect(dmaCapable(dev, physToDma(dev, pfnToPhys(pfn(high))), 64, true)).toBe(false);
    // Out of every window: swiotlb bounces it into the pool, which lies inside the window.
    const va = s.mm.pages.pageAddress(pfn(high)) as number;
    s.platform.cpu.write(va, pattern(64));
    const bounced = s.backend.mapPage('vpu0', pfn(high), 0, 64, DMA_TO_DEVICE, 0);
    expect(s.backend.mappingError('vpu0', bounced)).toBe(0);
    expect(dmaToPhys(dev, bounced)).toBeLessThan(0x1_0000_0000);
    expect(s.platform.device('vpu0').read(bounced, 64)).toEqual(pattern(64));
    s.backend.unmapPage('vpu0', bounced, 64, DMA_TO_DEVICE, 0);
    expect(s.backend.mappingError('vpu0', DMA_MAPPING_ERROR)).toBe(-ENOMEM);
  });

  it('places coherent allocations where the window and the 32-bit coherent mask meet', () => {
    const s = ref('arm64-soc');
    const { cpuAddr: va, dmaHandle } = s.backend.allocAttrs('vpu0', 3 * PAGE_SIZE, GFP_KERNEL, 0);
    expect(va).not.toBeNull();
    expect(dmaHandle).toBeLessThan(2 ** 31);
    const phys = dmaToPhys(s.backend.device('vpu0'), dmaHandle);
    expect(s.mm.pages.zoneOf(physToPfn(phys))?.type).toBe('DMA');
    expect((phys as number) % (4 * PAGE_SIZE)).toBe(0); // buddy order alignment (R21)
  });
});

describe('coherent allocations for non-coherent devices', () => {
  it('arm64: remapped Normal-NC, zeroed through the remap, visible to the device after dma_wmb, alias flushed', () => {
    const s = ref('arm64-soc');
    const before = s.mm.snapshot();
    const { cpuAddr: va, dmaHandle } = s.backend.allocAttrs('gpu0', 2 * PAGE_SIZE, GFP_KERNEL, 0);
    expect(s.platform.pt.isVmallocAddr(va as number)).toBe(true);
    expect(s.platform.pt.translate(va as number, 'read', 't').attr).toBe('write-combine');
    expect(s.platform.cpu.read(va as number, 2 * PAGE_SIZE)).toEqual(new Uint8Array(2 * PAGE_SIZE));
    const gpu = s.platform.device('gpu0');
    expect(gpu.read(dmaHandle, 16)).not.toEqual(new Uint8Array(16)); // zeros still in the WC buffer (R18)
    s.platform.cpu.dmaWmb();
    expect(gpu.read(dmaHandle, 2 * PAGE_SIZE)).toEqual(new Uint8Array(2 * PAGE_SIZE));
    // arch_dma_prep_coherent left no line of the cacheable linear alias behind
    const phys = dmaHandle as number;
    for (let a = phys; a < phys + 2 * PAGE_SIZE; a += 64) expect(s.platform.cache.isCached(a)).toBe(false);
    gpu.write(dmaHandle, pattern(32));
    expect(s.platform.cpu.read(va as number, 32)).toEqual(pattern(32));
    expect(s.backend.canMmap('gpu0')).toBe(true);
    s.backend.freeAttrs('gpu0', 2 * PAGE_SIZE, va, dmaHandle, 0);
    expect(s.mm.snapshot()).toEqual(before);
  });

  it('arm64: a non-blocking allocation that needs a remap comes from an atomic pool without sleeping, and goes back to it', () => {
    const s = ref('arm64-soc');
    const before = s.mm.snapshot();
    s.platform.context.current = 'atomic';
    const { cpuAddr, dmaHandle } = s.backend.allocAttrs('gpu0', 2 * PAGE_SIZE, GFP_ATOMIC, 0);
    expect(s.platform.violations.count).toBe(0);
    const pool = s.mm.genPools.find((g) => g.hasAddr(cpuAddr as number, 2 * PAGE_SIZE));
    expect(pool?.name).toMatch(/^atomic_pool_/);
    expect(pool?.virtToPhys(cpuAddr as number)).toBe(dmaHandle);
    expect(((dmaHandle as number) - (pool?.chunks[0]?.physAddr ?? 0)) % (2 * PAGE_SIZE)).toBe(0);
    expect(s.platform.pt.translate(cpuAddr as number, 'read', 't').attr).toBe('write-combine');
    s.platform.cpu.dmaWmb(); // the zeroing went through the write-combine mapping
    expect(s.platform.device('gpu0').read(dmaHandle, 64)).toEqual(new Uint8Array(64));
    // GFP_KERNEL in atomic context sleeps: recorded
    s.backend.allocAttrs('gpu0', PAGE_SIZE, GFP_KERNEL, 0);
    expect(s.platform.violations.all.map((v) => v.kind)).toContain('sleep-in-atomic');
    s.platform.context.current = 'process';
    s.backend.freeAttrs('gpu0', 2 * PAGE_SIZE, cpuAddr, dmaHandle, 0);
    expect(s.mm.snapshot().genPools).toEqual(before.genPools);
  });

  it('armv7-highmem: arch_dma_alloc takes highmem CMA pages, clears them through kmap, remaps bufferable; GFP_ATOMIC uses the ARM pool', () => {
    const s = ref('armv7-highmem');
    const before = s.mm.snapshot();
    const { cpuAddr: va, dmaHandle } = s.backend.allocAttrs('mmc0', 3 * PAGE_SIZE, GFP_KERNEL, DMA_ATTR_WRITE_COMBINE);
    expect(s.platform.pt.isVmallocAddr(va as number)).toBe(true);
    expect(s.platform.pt.translate(va as number, 'read', 't').attr).toBe('write-combine');
    expect(s.platform.device('mmc0').read(dmaHandle, 3 * PAGE_SIZE)).toEqual(new Uint8Array(3 * PAGE_SIZE));
    const first = physToPfn(dmaHandle as number as never);
    expect(s.mm.cma.areaOf(first)?.name).toBe('reserved');
    expect(s.mm.pages.isHighmem(first)).toBe(true);
    expect(s.mm.snapshot().cma.reserved?.allocatedPages).toBe(3); // exactly PAGE_ALIGN(size), not the order
    s.backend.freeAttrs('mmc0', 3 * PAGE_SIZE, va, dmaHandle, DMA_ATTR_WRITE_COMBINE);
    expect(s.mm.snapshot()).toEqual(before);
    const atomic = s.backend.allocAttrs('mmc0', PAGE_SIZE, GFP_ATOMIC, 0);
    expect(s.mm.genPools.find((g) => g.name === 'arm_atomic_pool')?.hasAddr(atomic.cpuAddr as number, PAGE_SIZE)).toBe(true);
  });

  // arch/arm/Kconfig does not select ARCH_HAS_DMA_PREP_COHERENT: arch_dma_prep_coherent is the empty stub (v6.18).
  it('armv7: a DMA_ATTR_NO_KERNEL_MAPPING allocation goes through dma_direct_alloc_no_mapping and gets no cache maintenance', () => {
    const s = ref('armv7-highmem');
    const calls: string[] = [];
    const cache = s.platform.cache;
    for (const op of ['clean', 'invalidate', 'cleanInvalidate'] as const) {
      const orig = cache[op].bind(cache);
      cache[op] = (phys: number, size: number) => {
        calls.push(`${op}(${phys.toString(16)}, ${size})`);
        orig(phys, size);
      };
    }
    const a = s.backend.allocAttrs('mmc0', PAGE_SIZE, GFP_KERNEL, DMA_ATTR_NO_KERNEL_MAPPING);
    expect(a.cpuAddr).not.toBeNull();
    expect(calls).toEqual([]);
    s.backend.freeAttrs('mmc0', PAGE_SIZE, a.cpuAddr, a.dmaHandle, DMA_ATTR_NO_KERNEL_MAPPING);
  });

  // arch/arm/mm/dma-mapping.c __alloc_from_pool (v6.11+, unchanged in v6.18): no memset; the pool is cleared once, at boot.
  it('armv7: a piece of the ARM atomic pool handed out again keeps what its last user wrote, and an exhausted pool fails silently', () => {
    const s = ref('armv7-highmem');
    s.platform.context.current = 'atomic';
    const a = s.backend.allocAttrs('mmc0', PAGE_SIZE, GFP_ATOMIC, 0);
    s.platform.cpu.write(a.cpuAddr as number, pattern(64, 9));
    s.backend.freeAttrs('mmc0', PAGE_SIZE, a.cpuAddr, a.dmaHandle, 0);
    const b = s.backend.allocAttrs('mmc0', PAGE_SIZE, GFP_ATOMIC, 0);
    expect(b.cpuAddr).toBe(a.cpuAddr);
    expect(s.platform.cpu.read(b.cpuAddr as number, 64)).toEqual(pattern(64, 9));
    const held = [b];
    for (;;) {
      const c = s.backend.allocAttrs('mmc0', 64 * 1024, GFP_ATOMIC, 0);
      if (c.cpuAddr === null) break;
      held.push(c);
    }
    expect(held.length).toBeGreaterThan(1);
    expect(s.mm.dmesg.has('too small')).toBe(false);
  });

  // arch/arm/mm/dma-mapping.c __dma_alloc: GFP_DMA when min_not_zero(coherent_dma_mask, bus_dma_limit) is below 4 GiB (v6.18).
  it('armv7: __dma_alloc adds GFP_DMA for a device whose bus limit, not its mask, is below 4 GiB', () => {
    const base = getProfile('armv7-highmem');
    const profile = {
      ...base,
      name: 'armv7-dma-zone',
      zones: { dmaEndPhys: 0x9000_0000, dma32: false },
      cma: [],
      devices: [{ ...(base.devices[0] as (typeof base.devices)[number]), busDmaLimit: 0x8fff_ffff }],
    };
    const platform = createPlatform(profile, { seed: '7' });
    const mm = createSubstrate(platform);
    const backend = new ReferenceBackend({ platform, mm });
    backend.attachDevice('mmc0');
    backend.setMaskAndCoherent('mmc0', 32);
    const a = backend.allocAttrs('mmc0', PAGE_SIZE, GFP_KERNEL, 0);
    expect(a.cpuAddr).not.toBeNull();
    expect(a.dmaHandle as number).toBeLessThan(0x9000_0000);
    expect(() => platform.device('mmc0').read(a.dmaHandle, 16)).not.toThrow();
  });

  it('armv7-nommu: allocations come from the global pool through the uncached alias, and fail when it is full', () => {
    const s = ref('armv7-nommu');
    const { cpuAddr, dmaHandle } = s.backend.allocAttrs('dmac0', 3 * PAGE_SIZE, GFP_ATOMIC, 0);
    expect(cpuAddr).toBe(s.platform.pt.uncachedAlias(dmaHandle as number));
    expect(dmaHandle).toBe(0x6300_0000);
    expect(s.platform.pt.translate(cpuAddr as number, 'read', 't').attr).toBe('uncached');
    s.platform.device('dmac0').write(dmaHandle, pattern(64));
    expect(s.platform.cpu.read(cpuAddr as number, 64)).toEqual(pattern(64));
    const second = s.backend.allocAttrs('dmac0', PAGE_SIZE, GFP_KERNEL, 0);
    expect(second.dmaHandle).toBe(0x6300_4000); // order 2 took pages 0-3
    expect(s.backend.allocAttrs('dmac0', 1024 * 1024, GFP_KERNEL, 0).cpuAddr).toBeNull(); // no fallback when full
    const buf = s.mm.slab.kmalloc(64) as CpuAddr;
    s.platform.cpu.write(buf, pattern(64));
    const dma = s.backend.mapSingle('dmac0', buf, 64, DMA_TO_DEVICE, 0);
    expect(s.platform.device('dmac0').read(dma, 64)).toEqual(pattern(64));
    expect(s.backend.canMmap('dmac0')).toBe(false);
  });
});

describe('DMA_ATTR_NO_KERNEL_MAPPING (seed 004)', () => {
  it('returns a cookie that faults when dereferenced; mmap, get_sgtable and free still work; not zeroed', () => {
    const s = ref('arm64-soc');
    const before = s.mm.snapshot();
    const size = 2 * PAGE_SIZE;
    const { cpuAddr: cookie, dmaHandle } = s.backend.allocAttrs('gpu0', size, GFP_KERNEL, DMA_ATTR_NO_KERNEL_MAPPING);
    expect(cookie).not.toBeNull();
    expect(() => s.platform.cpu.read(cookie as number, 4, 'backend')).toThrow(PageFault);
    expect(() => s.platform.cpu.write(cookie as number, pattern(4))).toThrow(PageFault);
    const vma = s.platform.user.createVma(2, 0);
    expect(s.backend.mmapAttrs('gpu0', vma, cookie as CpuAddr, dmaHandle, size, DMA_ATTR_NO_KERNEL_MAPPING)).toBe(0);
    expect(s.platform.user.read(vma, 0, 64)).not.toEqual(new Uint8Array(64)); // dma_direct_alloc_no_mapping (kernel/dma/direct.c) does not zero
    s.platform.device('gpu0').write((dmaHandle + PAGE_SIZE) as DmaAddr, pattern(64));
    expect(s.platform.user.read(vma, PAGE_SIZE, 64)).toEqual(pattern(64));
    const { ret, sgt } = s.backend.getSgtableAttrs('gpu0', cookie as CpuAddr, dmaHandle, size, DMA_ATTR_NO_KERNEL_MAPPING);
    expect(ret).toBe(0);
    expect(sgt?.sgl).toEqual([expect.objectContaining({ page: physToPfn(dmaHandle as number as never), offset: 0, length: size })]);
    s.backend.freeAttrs('gpu0', size, cookie, dmaHandle, DMA_ATTR_NO_KERNEL_MAPPING);
    expect(s.mm.snapshot()).toEqual(before);
  });

  it('get_sgtable derives the page from the DMA handle through the range map (vpu0)', () => {
    const s = ref('arm64-soc');
    const { cpuAddr: va, dmaHandle } = s.backend.allocAttrs('vpu0', PAGE_SIZE, GFP_KERNEL, 0);
    const { sgt } = s.backend.getSgtableAttrs('vpu0', va as CpuAddr, dmaHandle, PAGE_SIZE, 0);
    expect(pfnToPhys(sgt?.sgl[0]?.page as never)).toBe(dmaHandle + 0x8000_0000);
    expect(pfnToPhys(sgt?.sgl[0]?.page as never)).toBe(s.platform.pt.translate(va as number, 'read', 't').phys);
  });
});

describe('dma_mmap_attrs bounds', () => {
  it('returns -ENXIO beyond the buffer and maps the requested window otherwise', () => {
    const s = ref('x86-64');
    const { cpuAddr: va, dmaHandle } = s.backend.allocAttrs('nvme0', 2 * PAGE_SIZE, GFP_KERNEL, 0);
    const mmap = (pages: number, pgoff: number) => s.backend.mmapAttrs('nvme0', s.platform.user.createVma(pages, pgoff), va as CpuAddr, dmaHandle, 2 * PAGE_SIZE, 0);
    expect(mmap(3, 0)).toBe(-ENXIO);
    expect(mmap(1, 2)).toBe(-ENXIO);
    expect(mmap(2, 1)).toBe(-ENXIO);
    const vma = s.platform.user.createVma(1, 1);
    expect(s.backend.mmapAttrs('nvme0', vma, va as CpuAddr, dmaHandle, 2 * PAGE_SIZE, 0)).toBe(0);
    s.platform.cpu.write((va as number) + PAGE_SIZE, pattern(8));
    expect(s.platform.user.read(vma, 0, 8)).toEqual(pattern(8));
    expect(vma.attr).toBe('cacheable');
  });
});

describe('scatter-gather', () => {
  it('maps every entry on its own, syncs by entry, and unmaps with the original nents', () => {
    const s = ref('arm64-soc');
    const pages = [0, 1, 2].map(() => s.mm.pages.allocPages(GFP_KERNEL, 0) as number);
    const sgl = pages.map((p, i) => sgEntry(pfn(p), i * 64, 512));
    expect(s.backend.mapSg('gpu0', sgl, 3, DMA_FROM_DEVICE, 0)).toBe(3);
    expect(sgl.map((e) => e.dmaLength)).toEqual([512, 512, 512]);
    for (const [i, e] of sgl.entries()) {
      s.platform.speculativeFill(pfnToPhys(e.page) + e.offset);
      s.platform.device('gpu0').write(e.dmaAddress, pattern(512, i));
    }
    s.backend.syncSgForCpu('gpu0', sgl, 3, DMA_FROM_DEVICE);
    for (const [i, e] of sgl.entries()) {
      expect(s.platform.cpu.read((s.mm.pages.pageAddress(e.page) as number) + e.offset, 512)).toEqual(pattern(512, i));
    }
    s.backend.syncSgForDevice('gpu0', sgl, 3, DMA_FROM_DEVICE);
    s.backend.unmapSg('gpu0', sgl, 2, DMA_FROM_DEVICE, 0); // wrong nents (R45): refused
    expect(s.backend.kernel.live.size).toBe(1);
    s.backend.unmapSg('gpu0', sgl, 3, DMA_FROM_DEVICE, 0);
    expect(s.backend.kernel.live.size).toBe(0);
  });

  it('returns 0 when an entry is out of reach, after unmapping the entries before it', () => {
    // isa0 (24-bit) reaches ZONE_DMA only; the x86 swiotlb sits in ZONE_DMA32, so its bounce fails the post-check.
    const s = ref('x86-64');
    const low = s.mm.pages.allocPages(GFP_DMA, 0) as number;
    const high = s.mm.pages.allocPages(GFP_KERNEL, 0) as number;
    const sgl = [sgEntry(pfn(low), 0, 256), sgEntry(pfn(high), 0, 256)];
    expect(s.backend.mapSg('isa0', sgl, 2, DMA_TO_DEVICE, 0)).toBe(0);
    expect(sgl[0]?.dmaAddress).toBe(DMA_MAPPING_ERROR);
    expect(s.backend.kernel.live.size).toBe(0);
    expect(s.mm.dmesg.has('swiotlb addr')).toBe(true);
    expect(s.backend.swiotlbState('isa0')?.used).toBe(0);
    expect(s.backend.mapSg('isa0', sgl, 1, DMA_TO_DEVICE, 0)).toBe(1);
  });
});

describe('masks and queries', () => {
  it('accepts masks of 32 bits and more, truncates to dma_addr_t, refuses unreachable small masks', () => {
    const v7 = ref('armv7-highmem');
    expect(v7.backend.setMask('mmc0', 64)).toBe(0);
    expect(v7.backend.device('mmc0').dmaMask).toBe(32);
    const a = ref('arm64-soc');
    expect(a.backend.setMask('vpu0', 24)).toBe(-5);
    expect(a.backend.device('vpu0').dmaMask).toBe(32);
    expect(a.backend.setCoherentMask('vpu0', 24)).toBe(-5);
    expect(a.backend.setMaskAndCoherent('vpu0', 0)).toBe(-5);
    expect(a.backend.setCoherentMask('vpu0', 65)).toBe(-5);
    const x = ref('x86-64');
    expect(x.backend.setMaskAndCoherent('isa0', 24)).toBe(0);
    expect(x.backend.setMask('isa0', 20)).toBe(-5);
    x.backend.device('isa0').dmaMask = null;
    expect(x.backend.setMask('isa0', 32)).toBe(-5);
  });

  it('answers cache alignment, need_sync, max mapping size as the profile dictates', () => {
    expect(ref('x86-64').backend.getCacheAlignment('nvme0')).toBe(1);
    const a = ref('arm64-soc');
    expect(a.backend.getCacheAlignment('gpu0')).toBe(128);
    expect(a.backend.needSync('gpu0', 0 as DmaAddr)).toBe(true);
    expect(a.backend.needSync('pcie0', 0 as DmaAddr)).toBe(false);
    expect(a.backend.maxMappingSize('gpu0')).toBe(SIZE_MAX);
    expect(a.backend.canMmap('pcie0')).toBe(true);
  });

  it('setUp masks every device with its natural width', () => {
    const { backend } = setUp<ReferenceBackend>('x86-64');
    expect(backend.device('isa0').coherentDmaMask).toBe(24);
    expect(() => backend.device('nope')).toThrow(/not attached/);
    const d: DmaBackend = backend;
    expect(d.attachDevice('nvme0')).toBe(-16);
    expect(d.attachDevice('nope')).toBe(-19);
  });
});
