import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../../backend/reference.ts';
import { createPlatform } from '../../../platform/platform.ts';
import { ARM64_SOC, getProfile, type PlatformProfile } from '../../../platform/profiles.ts';
import { PAGE_SIZE, type CpuAddr, type DmaAddr, pfn, physToPfn } from '../../../platform/types.ts';
import { GFP_ATOMIC, GFP_KERNEL } from '../../include/linux/gfp.ts';
import { createSubstrate } from '../../mm/substrate.ts';

function ref(profile: string | PlatformProfile, faults = {}) {
  const platform = createPlatform(typeof profile === 'string' ? getProfile(profile) : profile, { seed: '7', faults });
  const mm = createSubstrate(platform);
  const backend = new ReferenceBackend({ platform, mm });
  for (const d of platform.devices) {
    backend.attachDevice(d.name);
    backend.setMaskAndCoherent(d.name, d.config.addressBits);
  }
  return { platform, mm, backend };
}
const KiB = 1024;
const pageOf = (dma: DmaAddr) => physToPfn(dma as number as never);

describe('dma_alloc_contiguous and the buddy fallback (contiguous.c, direct.c __dma_direct_alloc_pages)', () => {
  it('serves multi-page blocking allocations from the default area, single pages and non-blocking ones from the buddy allocator', () => {
    const s = ref('arm64-soc');
    const big = s.backend.allocAttrs('pcie0', 8 * PAGE_SIZE, GFP_KERNEL, 0);
    expect(s.mm.cma.areaOf(pageOf(big.dmaHandle))?.name).toBe('reserved');
    const one = s.backend.allocAttrs('pcie0', PAGE_SIZE, GFP_KERNEL, 0);
    expect(s.mm.cma.areaOf(pageOf(one.dmaHandle))).toBeUndefined();
    s.platform.context.current = 'atomic';
    const atomic = s.backend.allocAttrs('pcie0', 8 * PAGE_SIZE, GFP_ATOMIC, 0);
    expect(s.mm.cma.areaOf(pageOf(atomic.dmaHandle))).toBeUndefined();
    expect(s.platform.violations.count).toBe(0);
  });

  it("uses a device's own area for any size, the node's area for a device on a node, and frees back to each", () => {
    const s = ref('arm64-soc');
    const before = s.mm.snapshot();
    const own = s.backend.allocAttrs('isp0', PAGE_SIZE, GFP_KERNEL, 0);
    expect(s.mm.cma.areaOf(pageOf(own.dmaHandle))?.name).toBe('isp0-cma');
    const node = s.backend.allocAttrs('gpu0', 4 * PAGE_SIZE, GFP_KERNEL, 0);
    expect(s.mm.cma.areaOf(pageOf(node.dmaHandle))?.name).toBe('numa1');
    s.backend.freeAttrs('isp0', PAGE_SIZE, own.cpuAddr, own.dmaHandle, 0);
    s.backend.freeAttrs('gpu0', 4 * PAGE_SIZE, node.cpuAddr, node.dmaHandle, 0);
    expect(s.mm.snapshot()).toEqual(before);
  });

  it('caps the alignment at CMA_ALIGNMENT (1 MiB) and falls back to the buddy allocator when every range is pinned', () => {
    const s = ref('arm64-soc');
    const a = s.mm.cma.byName('isp0-cma')!;
    const r = s.backend.allocAttrs('isp0', 2 * 1024 * KiB, GFP_KERNEL, 0);
    expect((r.dmaHandle as number) % (1024 * KiB)).toBe(0);
    s.backend.freeAttrs('isp0', 2 * 1024 * KiB, r.cpuAddr, r.dmaHandle, 0);
    for (let i = 0; i < a.count; i += 256) s.mm.cma.pin('isp0-cma', i + 7);
    const fallback = s.backend.allocAttrs('isp0', 2 * 1024 * KiB, GFP_KERNEL, 0);
    expect(fallback.cpuAddr).not.toBeNull();
    expect(s.mm.cma.areaOf(pageOf(fallback.dmaHandle))).toBeUndefined();
    expect(s.mm.dmesg.has('cma_alloc: isp0-cma: alloc failed')).toBe(true);
  });
});

describe('atomic pools (pool.c)', () => {
  it('are sized by coherent_pool= or 128 KiB per GiB of RAM, one per zone with memory, taken from CMA in the zone', () => {
    const s = ref('arm64-soc');
    const pools = s.backend.kernel.atomicPools!;
    expect([pools.kernel?.sizeBytes, pools.dma?.sizeBytes, pools.dma32]).toEqual([128 * KiB, 128 * KiB, null]);
    expect(s.mm.cma.areaOf(physToPfn((pools.dma?.chunks[0]?.physAddr ?? 0) as never))?.name).toBe('reserved');
    const big = ref({ ...ARM64_SOC, name: 'arm64-default-pool', coherentPoolBytes: null });
    expect(big.backend.kernel.atomicPools?.sizeBytes).toBe(512 * KiB); // 4 GiB of RAM
    expect(ref('x86-64').backend.kernel.atomicPools).toBeNull(); // no DMA_DIRECT_REMAP
    // kernel/dma/pool.c __dma_atomic_pool_init (v6.18) says what it preallocated
    expect(s.mm.dmesg.has('DMA: preallocated 128 KiB GFP_KERNEL|GFP_DMA pool for atomic allocations')).toBe(true);
  });

  it('schedule their expansion when low; the work grows them later, in process context, and they never shrink', () => {
    const s = ref('arm64-soc');
    s.platform.context.current = 'atomic';
    const got: { cpuAddr: CpuAddr | null; dmaHandle: DmaAddr }[] = [];
    for (let i = 0; i < 3; i++) got.push(s.backend.allocAttrs('isp0', 32 * KiB, GFP_ATOMIC, 0)); // the DMA pool (32-bit device)
    expect(s.mm.workqueue.pendingNames).toEqual(['atomic_pool_work']);
    expect(got.every((g) => g.cpuAddr !== null)).toBe(true);
    expect(s.backend.allocAttrs('isp0', 64 * KiB, GFP_ATOMIC, 0).cpuAddr).toBeNull(); // 32 KiB left, no fallback pool for GFP_DMA
    expect(s.mm.dmesg.has('DMA pool exhausted for isp0')).toBe(true);
    s.mm.workqueue.run();
    const pool = s.backend.kernel.atomicPools!.dma!;
    expect(pool.sizeBytes).toBe(256 * KiB);
    expect(s.platform.violations.count).toBe(0);
    expect(s.backend.allocAttrs('isp0', 64 * KiB, GFP_ATOMIC, 0).cpuAddr).not.toBeNull();
    s.platform.context.current = 'process';
    for (const g of got) s.backend.freeAttrs('isp0', 32 * KiB, g.cpuAddr, g.dmaHandle, 0);
    expect(pool.sizeBytes).toBe(256 * KiB);
  });
});

describe('per-device coherent pools (coherent.c)', () => {
  it('hand out order-aligned, zeroed regions through a write-combine mapping, fail when full, mmap from the pool and release by order', () => {
    const s = ref('arm64-soc');
    const base = 0xb180_0000;
    const a = s.backend.allocAttrs('dsp0', PAGE_SIZE, GFP_ATOMIC, 0);
    const b = s.backend.allocAttrs('dsp0', 3 * PAGE_SIZE, GFP_KERNEL, 0);
    expect([a.dmaHandle, b.dmaHandle]).toEqual([base, base + 4 * PAGE_SIZE]);
    expect(s.platform.pt.translate(b.cpuAddr as number, 'read', 't').attr).toBe('write-combine');
    s.platform.cpu.dmaWmb();
    expect(s.platform.device('dsp0').read(b.dmaHandle, 3 * PAGE_SIZE)).toEqual(new Uint8Array(3 * PAGE_SIZE));
    expect(s.backend.allocAttrs('dsp0', 256 * KiB, GFP_KERNEL, 0).cpuAddr).toBeNull();
    const vma = s.platform.user.createVma(3, 0);
    expect(s.backend.mmapAttrs('dsp0', vma, b.cpuAddr as CpuAddr, b.dmaHandle, 3 * PAGE_SIZE, 0)).toBe(0);
    expect(vma.pages[0]).toBe(pfn(base / PAGE_SIZE + 4));
    s.backend.freeAttrs('dsp0', 3 * PAGE_SIZE, b.cpuAddr, b.dmaHandle, 0);
    expect(s.backend.allocAttrs('dsp0', 4 * PAGE_SIZE, GFP_KERNEL, 0).dmaHandle).toBe(base + 4 * PAGE_SIZE);
  });
});

describe('DT shared-dma-pool beyond the device (kernel/dma/coherent.c rmem_dma_device_init, v6.18)', () => {
  it('warns when the region ends beyond min_not_zero(coherent_dma_mask, bus_dma_limit), and assigns the pool all the same', () => {
    const high = ref({
      ...ARM64_SOC,
      name: 'arm64-high-pool',
      devices: ARM64_SOC.devices.map((d) => (d.name === 'dsp0' ? { ...d, coherentPool: { basePhys: 0x8_8100_0000, sizeBytes: 256 * KiB } } : d)),
    });
    expect(high.mm.dmesg.has("dsp0: reserved memory is beyond device's set DMA address range")).toBe(true);
    expect(high.backend.device('dsp0').dmaMem).not.toBeNull();
    const low = ref('arm64-soc');
    expect(low.mm.dmesg.has('reserved memory is beyond')).toBe(false);
  });
});
