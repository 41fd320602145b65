import { describe, expect, it } from 'vitest';
import { REFERENCE_CAPABILITIES, ReferenceBackend } from '../../../backend/reference.ts';
import { setUp } from '../../../backend/setup.ts';
import { getProfile } from '../../../platform/profiles.ts';
import { PAGE_SIZE, type CpuAddr, type DmaAddr, type PhysAddr, pfn } from '../../../platform/types.ts';
import { dmaToPhys } from '../../include/linux/dma-direct.ts';
import {
  DMA_ATTR_NO_WARN,
  DMA_ATTR_SKIP_CPU_SYNC,
  DMA_BIDIRECTIONAL,
  DMA_FROM_DEVICE,
  DMA_MAPPING_ERROR,
  DMA_TO_DEVICE,
  SIZE_MAX,
  dirToString,
} from '../../include/linux/dma-mapping.ts';
import { GFP_KERNEL } from '../../include/linux/gfp.ts';
import { IO_TLB_SEGSIZE, IO_TLB_SIZE, IoTlbPool, swiotlbBounce, swiotlbFindPool, swiotlbTblMapSingle, swiotlbTblUnmapSingle } from './swiotlb.ts';

const pattern = (n: number, seed = 1): Uint8Array => Uint8Array.from({ length: n }, (_, i) => ((i * 13 + seed) % 251) + 1);

function guest() {
  return setUp<ReferenceBackend>('cc-guest', { seed: 'swiotlb' });
}

/** A lowmem buffer of `size` bytes at byte `offset` into a fresh page block, with its VA and phys. */
function buffer(s: ReturnType<typeof guest>, size: number, offset = 0) {
  const p = s.mm.pages.allocPages(GFP_KERNEL, Math.ceil(Math.log2(Math.ceil((size + offset) / PAGE_SIZE)))) as number;
  const va = (s.mm.pages.pageAddress(pfn(p)) as number) + offset;
  return { page: pfn(p), va, phys: p * PAGE_SIZE + offset };
}

describe('swiotlb copy table (kernel/dma/swiotlb.c swiotlb_bounce)', () => {
  // For each direction: does map / sync_for_device / sync_for_cpu / unmap copy, and which way?
  const rows = [
    { dir: DMA_TO_DEVICE, map: true, forDevice: true, forCpu: false, unmap: false },
    { dir: DMA_FROM_DEVICE, map: true, forDevice: false, forCpu: true, unmap: true },
    { dir: DMA_BIDIRECTIONAL, map: true, forDevice: true, forCpu: true, unmap: true },
  ];
  for (const r of rows) {
    for (const skip of [false, true]) {
      it(`${dirToString(r.dir)}${skip ? ' with SKIP_CPU_SYNC' : ''}`, () => {
        const s = guest();
        const dev = s.platform.device('virtio0');
        const b = buffer(s, 512);
        s.platform.cpu.write(b.va, pattern(512, 1));
        const dma = s.backend.mapPage('virtio0', b.page, 0, 512, r.dir, skip ? DMA_ATTR_SKIP_CPU_SYNC : 0);
        expect(dmaToPhys(s.backend.device('virtio0'), dma)).not.toBe(b.phys);
        // Map: the original is in the slot whatever the direction and attributes (since v5.17).
        expect(dev.read(dma, 512)).toEqual(pattern(512, 1));
        s.platform.cpu.write(b.va, pattern(512, 2));
        s.backend.syncSingleForDevice('virtio0', dma, 512, r.dir);
        expect(dev.read(dma, 512)).toEqual(pattern(512, r.forDevice ? 2 : 1));
        dev.write(dma, pattern(512, 3));
        s.backend.syncSingleForCpu('virtio0', dma, 512, r.dir);
        expect(s.platform.cpu.read(b.va, 512)).toEqual(pattern(512, r.forCpu ? 3 : 2));
        dev.write(dma, pattern(512, 4));
        s.backend.unmapPage('virtio0', dma, 512, r.dir, skip ? DMA_ATTR_SKIP_CPU_SYNC : 0);
        expect(s.platform.cpu.read(b.va, 512)).toEqual(pattern(512, r.unmap && !skip ? 4 : r.forCpu ? 3 : 2));
        expect(s.backend.swiotlbState('virtio0')?.used).toBe(0);
      });
    }
  }

  it('a partial sync moves exactly the synced range, at any offset', () => {
    const s = guest();
    const b = buffer(s, 8192);
    const dma = s.backend.mapPage('virtio0', b.page, 0, 8192, DMA_FROM_DEVICE, 0);
    s.platform.device('virtio0').write(dma, pattern(8192, 5));
    s.platform.cpu.write(b.va, new Uint8Array(8192));
    s.backend.syncSingleForCpu('virtio0', (dma + 3000) as DmaAddr, 1100, DMA_FROM_DEVICE);
    const seen = s.platform.cpu.read(b.va, 8192);
    expect(seen.subarray(3000, 4100)).toEqual(pattern(8192, 5).subarray(3000, 4100));
    expect(seen.subarray(0, 3000).every((x) => x === 0) && seen.subarray(4100).every((x) => x === 0)).toBe(true);
  });

  // kernel/dma/swiotlb.c swiotlb_bounce, v6.9 "swiotlb: fix swiotlb_bounce() to do partial sync's correctly" (read in v6.18):
  // the in-slot offset is signed, so a sync starting in the first min_align offset bytes of a later slot copies the right bytes.
  for (const before69 of [false, true]) {
    it(`a partial sync at a negative in-slot offset on a min_align_mask device ${before69 ? 'is refused before v6.9 (kernel-history quirk)' : 'copies the synced range (v6.9 on)'}`, () => {
      const s = setUp<ReferenceBackend>('cc-guest', { seed: 'swiotlb', backend: { name: 'q', capabilities: REFERENCE_CAPABILITIES, create: (env) => new ReferenceBackend(env, { quirks: { swiotlbBounceBeforeStartRefused: before69 } }) } });
      const b = buffer(s, 4096, 0x200);
      const dma = s.backend.mapPage('nvme0', b.page, 0x200, 4096, DMA_FROM_DEVICE, 0);
      expect(dma).not.toBe(DMA_MAPPING_ERROR);
      expect((dma & 0xfff) >>> 0).toBe(0x200);
      s.platform.device('nvme0').write(dma, pattern(4096, 7));
      s.platform.cpu.write(b.va, new Uint8Array(4096));
      // dma + 0x600 is at in-slot offset 0 of the second slot, 0x200 before that slot's original
      s.backend.syncSingleForCpu('nvme0', (dma + 0x600) as DmaAddr, 0x100, DMA_FROM_DEVICE);
      const seen = s.platform.cpu.read(b.va, 4096);
      if (before69) {
        expect(seen.every((x) => x === 0)).toBe(true);
        expect(s.mm.dmesg.has('Access before mapping start detected')).toBe(true);
      } else {
        expect(seen.subarray(0x600, 0x700)).toEqual(pattern(4096, 7).subarray(0x600, 0x700));
        expect(seen.subarray(0, 0x600).every((x) => x === 0) && seen.subarray(0x700).every((x) => x === 0)).toBe(true);
        expect(s.mm.dmesg.has('Access before mapping start detected')).toBe(false);
      }
      s.backend.unmapPage('nvme0', dma, 4096, DMA_FROM_DEVICE, DMA_ATTR_SKIP_CPU_SYNC);
    });
  }

  it('a bounce past the end of the allocation is clamped with a WARN', () => {
    const s = guest();
    const b = buffer(s, 1024);
    s.platform.cpu.write(b.va, pattern(1024, 6));
    const dev = s.backend.device('virtio0');
    const tlb = swiotlbTblMapSingle(dev, b.phys as PhysAddr, 1024, 0, DMA_TO_DEVICE, 0);
    swiotlbBounce(dev, tlb, 4096, DMA_FROM_DEVICE, swiotlbFindPool(dev, tlb) as NonNullable<ReturnType<typeof swiotlbFindPool>>);
    expect(s.mm.dmesg.has('Buffer overflow detected')).toBe(true);
    expect(s.platform.cpu.read(b.va, 1024)).toEqual(pattern(1024, 6));
    swiotlbTblUnmapSingle(dev, tlb, 1024, DMA_TO_DEVICE, 0);
  });
});

describe('swiotlb slot search', () => {
  it('keeps the min_align_mask bits: bit 11 by slot choice, lower bits by in-slot offset', () => {
    const s = guest();
    for (const offset of [0x234, 0xa10, 0xff8]) {
      const b = buffer(s, 600, offset);
      const dma = s.backend.mapPage('nvme0', b.page, offset, 600, DMA_TO_DEVICE, 0);
      expect(dmaToPhys(s.backend.device('nvme0'), dma) & 0xfff).toBe(b.phys & 0xfff);
      s.backend.unmapPage('nvme0', dma, 600, DMA_TO_DEVICE, 0);
    }
    expect(s.backend.maxMappingSize('nvme0')).toBe(IO_TLB_SIZE * IO_TLB_SEGSIZE - PAGE_SIZE);
    expect(s.backend.maxMappingSize('virtio0')).toBe(IO_TLB_SIZE * IO_TLB_SEGSIZE);
  });

  it('an offset of 2 KiB or more under alloc_align_mask becomes pad slots, released with the allocation', () => {
    const s = guest();
    const dev = s.backend.device('nvme0');
    const before = s.backend.swiotlbState('nvme0');
    const b = buffer(s, 512, 0xa00);
    const tlb = swiotlbTblMapSingle(dev, b.phys as PhysAddr, 512, PAGE_SIZE - 1, DMA_TO_DEVICE, 0);
    expect(tlb % PAGE_SIZE).toBe(0xa00);
    expect(s.backend.swiotlbState('nvme0')?.used).toBe(2);
    swiotlbTblUnmapSingle(dev, tlb, 512, DMA_TO_DEVICE, 0);
    expect(s.backend.swiotlbState('nvme0')?.pools[0]?.list).toEqual(before?.pools[0]?.list);
  });

  it('page-aligns mappings of a page or more without a mask, and never crosses the segment boundary', () => {
    const s = guest();
    const dmas: DmaAddr[] = [];
    for (let i = 0; i < 12; i++) {
      const b = buffer(s, 5000, 8);
      const big = s.backend.mapPage('virtio0', b.page, 8, 5000, DMA_TO_DEVICE, 0);
      expect(dmaToPhys(s.backend.device('virtio0'), big) % PAGE_SIZE).toBe(0);
      const nic = s.backend.mapPage('nic0', b.page, 8, 3000, DMA_TO_DEVICE, 0);
      expect(Math.floor(nic / 0x10000)).toBe(Math.floor((nic + 2999) / 0x10000));
      dmas.push(big, nic);
    }
    expect(s.backend.swiotlbState('virtio0')?.used).toBeGreaterThan(0);
  });

  it('full: DMA_MAPPING_ERROR with "swiotlb buffer is full" unless DMA_ATTR_NO_WARN, nothing changed; free runs come back', () => {
    const s = guest();
    const start = s.backend.swiotlbState('virtio0');
    const b = buffer(s, 256 * 1024);
    const maps: DmaAddr[] = [];
    for (;;) {
      const dma = s.backend.mapPage('virtio0', b.page, 0, 200 * 1024, DMA_TO_DEVICE, DMA_ATTR_NO_WARN);
      if (dma === DMA_MAPPING_ERROR) break;
      maps.push(dma);
    }
    expect(maps.length).toBe(512 / IO_TLB_SEGSIZE);
    expect(s.mm.dmesg.has('swiotlb buffer is full')).toBe(false);
    const full = JSON.stringify(s.backend.swiotlbState('virtio0'));
    expect(s.backend.mapPage('virtio0', b.page, 0, 200 * 1024, DMA_TO_DEVICE, 0)).toBe(DMA_MAPPING_ERROR);
    expect(s.mm.dmesg.has('swiotlb buffer is full (sz: 204800 bytes), total 512 (slots)')).toBe(true);
    expect(JSON.stringify(s.backend.swiotlbState('virtio0'))).toBe(full);
    for (const dma of maps.reverse()) s.backend.unmapPage('virtio0', dma, 200 * 1024, DMA_TO_DEVICE, 0);
    const end = s.backend.swiotlbState('virtio0');
    expect(end?.pools.map((p) => p.list)).toEqual(start?.pools.map((p) => p.list));
    expect(end?.used).toBe(0);
  });

  it('a coherent device stops skipping syncs once it bounces (dma_reset_need_sync)', () => {
    const s = guest();
    const dev = s.backend.device('virtio0');
    expect(dev.dmaSkipSync).toBe(true);
    const b = buffer(s, 128);
    const dma = s.backend.mapPage('virtio0', b.page, 0, 128, DMA_FROM_DEVICE, 0);
    expect(dev.dmaSkipSync).toBe(false);
    expect(s.backend.needSync('virtio0', dma)).toBe(true);
  });
});

describe('swiotlb on the other profiles', () => {
  it('arm64: small FROM_DEVICE kmalloc buffers of a non-coherent device bounce; TO_DEVICE and large ones do not', () => {
    const s = setUp<ReferenceBackend>('arm64-soc', { seed: 'k' });
    const k = s.mm.slab.kmalloc(40, GFP_KERNEL) as CpuAddr;
    const phys = s.platform.pt.translate(k, 'read', 'test').phys;
    const from = s.backend.mapSingle('gpu0', k, 40, DMA_FROM_DEVICE, 0);
    expect(from).not.toBe(phys);
    s.backend.unmapSingle('gpu0', from, 40, DMA_FROM_DEVICE, 0);
    const to = s.backend.mapSingle('gpu0', k, 40, DMA_TO_DEVICE, 0);
    expect(to).toBe(phys);
    s.backend.unmapSingle('gpu0', to, 40, DMA_TO_DEVICE, 0);
    expect(s.backend.maxMappingSize('gpu0')).toBe(SIZE_MAX);
  });

  it('arm64: a full pool grows a transient pool (CONFIG_SWIOTLB_DYNAMIC), freed at unmap', () => {
    const s = setUp<ReferenceBackend>('arm64-soc', { seed: 't' });
    const pages = s.mm.snapshot().pages;
    const p = s.mm.pages.allocPages(GFP_KERNEL, 6) as number;
    const maps: DmaAddr[] = [];
    for (let i = 0; i < 5; i++) maps.push(s.backend.mapPage('vpu0', pfn(p), 0, 200 * 1024, DMA_TO_DEVICE, 0));
    expect(maps.every((m) => m !== DMA_MAPPING_ERROR)).toBe(true);
    expect(s.backend.swiotlbState('vpu0')?.pools.some((x) => x.transient)).toBe(true);
    for (const m of maps) s.backend.unmapPage('vpu0', m, 200 * 1024, DMA_TO_DEVICE, 0);
    expect(s.backend.swiotlbState('vpu0')?.pools.some((x) => x.transient)).toBe(false);
    s.mm.pages.freePages(pfn(p), 6);
    expect(s.mm.snapshot().pages).toEqual(pages);
  });

  it('a restricted-dma-pool device allocates coherent memory from its slots, page aligned, and frees it back', () => {
    const s = setUp<ReferenceBackend>('arm64-soc', { seed: 'r' });
    const before = s.backend.swiotlbState('wifi0');
    const r = s.backend.allocAttrs('wifi0', 3 * PAGE_SIZE, GFP_KERNEL, 0);
    expect(r.cpuAddr).not.toBeNull();
    const phys = dmaToPhys(s.backend.device('wifi0'), r.dmaHandle);
    expect(swiotlbFindPool(s.backend.device('wifi0'), phys)).not.toBeNull();
    expect(phys % (4 * PAGE_SIZE)).toBe(0);
    expect(s.backend.swiotlbState('wifi0')?.used).toBe(6); // PAGE_ALIGN(size) in slots; the alignment comes from the order
    s.backend.freeAttrs('wifi0', 3 * PAGE_SIZE, r.cpuAddr, r.dmaHandle, 0);
    expect(s.backend.swiotlbState('wifi0')?.pools[0]?.list).toEqual(before?.pools[0]?.list);
  });

  it('x86-64: the pool sits below 4 GiB; a 24-bit device cannot reach it and the bounce fails the post-check', () => {
    const s = setUp<ReferenceBackend>('x86-64', { seed: 'x' });
    const st = s.backend.swiotlbState('nic0');
    expect((st?.pools[0]?.startPhys ?? Infinity) + 1024 * IO_TLB_SIZE).toBeLessThanOrEqual(2 ** 32);
    const high = s.mm.pages.allocPages(GFP_KERNEL, 0) as number;
    expect(high * PAGE_SIZE).toBeGreaterThanOrEqual(2 ** 32);
    const nic = s.backend.mapPage('nic0', pfn(high), 0, 256, DMA_TO_DEVICE, 0);
    expect(nic).toBeLessThan(2 ** 32);
    expect(s.backend.mapPage('isa0', pfn(high), 0, 256, DMA_TO_DEVICE, 0)).toBe(DMA_MAPPING_ERROR);
    expect(s.mm.dmesg.has('swiotlb addr')).toBe(true);
    expect(s.backend.swiotlbState('isa0')?.used).toBe(1);
  });
});

describe('pools as mainline builds them (v6.18 kernel/dma/swiotlb.c)', () => {
  const arm64With = (extra: Parameters<typeof withDevice>[1]) => withDevice('arm64-soc', extra);
  function withDevice(base: string, d: { name: string; coherent: boolean; addressBits: number; minAlignMask?: number }) {
    const p = getProfile(base);
    const template = p.devices.find((x) => x.name === 'pcie0') as (typeof p.devices)[number];
    return { ...p, name: `${base}+${d.name}`, devices: [...p.devices, { ...template, ...d, minAlignMask: d.minAlignMask ?? 0 }] };
  }

  // swiotlb_init_io_tlb_pool: list[i] = min(IO_TLB_SEGSIZE - io_tlb_offset(i), nslabs - i)
  it('a free run never reaches past the end of a pool smaller than a segment', () => {
    const s = setUp<ReferenceBackend>(arm64With({ name: 'nvme9', coherent: true, addressBits: 32, minAlignMask: 0xfff }), { seed: 'runs' });
    const dev = s.backend.device('nvme9');
    const high = (s.mm.pages.allocPages(GFP_KERNEL, 7) as number) * PAGE_SIZE;
    // fill the default pool (512 slots) with four whole segments
    for (let i = 0; i < 4; i++) expect(swiotlbTblMapSingle(dev, (high + i * 0x4_0000) as PhysAddr, 256 * 1024, 0, DMA_TO_DEVICE, 0)).not.toBe(DMA_MAPPING_ERROR);
    // 4 KiB at in-page offset 0x800 needs slots 1..2 of a 2-slot transient pool: the kernel finds no run of 2 there
    const r = swiotlbTblMapSingle(dev, (high + 0x800) as PhysAddr, 4096, 0, DMA_TO_DEVICE, 0);
    expect(r).toBe(DMA_MAPPING_ERROR);
    expect(s.mm.dmesg.has('swiotlb buffer is full')).toBe(true);
    expect(s.backend.swiotlbState('nvme9')?.pools.some((p) => p.transient)).toBe(false);
  });

  // swiotlb_find_slots (CONFIG_SWIOTLB_DYNAMIC): alloc_size > IO_TLB_SEGSIZE * IO_TLB_SIZE → -1 before any search or growth
  it('a mapping larger than a segment is refused without allocating a transient pool', () => {
    const s = setUp<ReferenceBackend>('arm64-soc', { seed: 'big' });
    const p = s.mm.pages.allocPages(GFP_KERNEL, 7) as number;
    const before = s.mm.snapshot().pages;
    const orders: number[] = [];
    const alloc = s.mm.pages.allocPages.bind(s.mm.pages);
    s.mm.pages.allocPages = (gfp, order) => (orders.push(order), alloc(gfp, order));
    expect(s.backend.mapPage('vpu0', pfn(p), 0, 300 * 1024, DMA_TO_DEVICE, 0)).toBe(DMA_MAPPING_ERROR);
    expect(orders).toEqual([]);
    expect(s.mm.snapshot().pages).toEqual(before);
  });

  // swiotlb_alloc_tlb: zone from the limit, a block above it retried in DMA32, then DMA
  it('a transient pool for a 34-bit device that lands above its limit is retried in ZONE_DMA', () => {
    const s = setUp<ReferenceBackend>(arm64With({ name: 'dev34', coherent: true, addressBits: 34 }), { seed: 'zones' });
    const high = s.mm.pages.allocPages(GFP_KERNEL, 7) as number;
    const dev = s.backend.device('dev34');
    for (let i = 0; i < 4; i++) expect(swiotlbTblMapSingle(dev, (high * PAGE_SIZE + i * 0x4_0000) as PhysAddr, 200 * 1024, 0, DMA_TO_DEVICE, 0)).not.toBe(DMA_MAPPING_ERROR);
    const fifth = swiotlbTblMapSingle(dev, (high * PAGE_SIZE) as PhysAddr, 200 * 1024, 0, DMA_TO_DEVICE, 0);
    expect(fifth).not.toBe(DMA_MAPPING_ERROR);
    const pool = s.backend.swiotlbState('dev34')?.pools.find((p) => p.transient);
    expect(pool).toBeDefined();
    expect((pool?.startPhys ?? 0) + 200 * 1024).toBeLessThanOrEqual(2 ** 32);
  });

  // swiotlb_init_io_tlb_pool ends with memset(vaddr, 0, bytes): the boot pool, restricted pools and transient pools
  it('every new pool is zeroed', () => {
    const s = setUp<ReferenceBackend>('arm64-soc', { seed: 'zero' });
    const zero = (n: number) => new Uint8Array(n);
    const pools = (dev: string) => s.backend.device(dev).dmaIoTlbMem?.pools ?? [];
    const boot = pools('vpu0')[0];
    const restricted = pools('wifi0')[0];
    expect(s.platform.cpu.read(boot?.vaddr as number, 8192)).toEqual(zero(8192));
    expect(s.platform.cpu.read(restricted?.vaddr as number, 8192)).toEqual(zero(8192));
    expect(s.platform.mem.read(boot?.startPhys as number, 8192)).toEqual(zero(8192));
    const p = s.mm.pages.allocPages(GFP_KERNEL, 7) as number;
    for (let i = 0; i < 4; i++) s.backend.mapPage('vpu0', pfn(p), 0, 256 * 1024, DMA_TO_DEVICE, 0);
    const m = s.backend.mapPage('vpu0', pfn(p), 0, 3000, DMA_TO_DEVICE, 0);
    expect(m).not.toBe(DMA_MAPPING_ERROR);
    const t = s.backend.device('vpu0').dmaIoTlbPools[0];
    expect(t?.transient).toBe(true);
    expect(s.platform.cpu.read((t?.vaddr as number) + 3000, 4096 - 3000)).toEqual(zero(4096 - 3000));
  });

  it('a pool of 2 slots starts with free runs of 2 and 1', () => {
    const s = setUp<ReferenceBackend>('arm64-soc', { seed: 'list' });
    const pool = new IoTlbPool(0x8000_0000 as PhysAddr, 0 as CpuAddr, 2, 1, true, { from: 'reserved' });
    expect(Array.from(pool.list)).toEqual([2, 1]);
    expect(Array.from(s.backend.swiotlbState('vpu0')?.pools[0]?.list ?? []).slice(126, 130)).toEqual([2, 1, 128, 127]);
  });
});
