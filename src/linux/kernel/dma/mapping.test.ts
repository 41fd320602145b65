import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../../backend/reference.ts';
import { setUp } from '../../../backend/setup.ts';
import { PAGE_SIZE, type CpuAddr, type DmaAddr, type PhysAddr, cpuAddr, pfn } from '../../../platform/types.ts';
import type { DmaMapOps } from '../../include/linux/dma-map-ops.ts';
import {
  DMA_ATTR_MMIO,
  DMA_ATTR_NO_KERNEL_MAPPING,
  DMA_ATTR_REQUIRE_COHERENT,
  DMA_BIDIRECTIONAL,
  DMA_FROM_DEVICE,
  DMA_MAPPING_ERROR,
  DMA_NONE,
  DMA_TO_DEVICE,
  SIZE_MAX,
  attrsToString,
  dirToString,
} from '../../include/linux/dma-mapping.ts';
import { EIO, ENXIO, EOPNOTSUPP, errnoName } from '../../include/linux/errno.ts';
import { GFP_KERNEL, __GFP_COMP, __GFP_DMA } from '../../include/linux/gfp.ts';
import { sgEntry, sgTable } from '../../include/linux/scatterlist.ts';
import * as dma from './mapping.ts';
import * as direct from './direct.ts';
import { IO_TLB_SEGSIZE, IO_TLB_SIZE } from './swiotlb.ts';
import { getProfile } from '../../../platform/profiles.ts';

/** Everything a refused call must leave unchanged. */
function state(s: ReturnType<typeof setUp<ReferenceBackend>>) {
  return JSON.stringify({
    mm: s.mm.snapshot(),
    cache: s.platform.cache.presentLines().map((l) => [l, s.platform.cache.isDirty(l)]),
    stats: s.platform.cache.stats,
    live: s.backend.kernel.live.size,
    violations: s.platform.violations.count,
    wc: s.platform.cpu.wc.pending,
  });
}

describe('bad input is refused with the kernel failure value and changes nothing', () => {
  for (const [profile, dev] of [
    ['arm64-soc', 'gpu0'],
    ['x86-64', 'nvme0'],
  ] as const) {
    it(`on ${profile} (${dev})`, () => {
      const s = setUp<ReferenceBackend>(profile);
      const b = s.backend;
      // Live objects to aim bad calls near.
      const buf = s.mm.slab.kmalloc(PAGE_SIZE) as CpuAddr;
      const good = b.mapSingle(dev, buf, 256, DMA_BIDIRECTIONAL, 0);
      const { cpuAddr: va, dmaHandle } = b.allocAttrs(dev, PAGE_SIZE, GFP_KERNEL, 0);
      const sgl = [sgEntry(pfn(s.platform.pt.translate(buf, 'read', 't').phys / PAGE_SIZE), 512, 256)];
      expect(b.mapSg(dev, sgl, 1, DMA_TO_DEVICE, 0)).toBe(1);
      const before = state(s);
      const unknown = (good + 0x10_0000) as DmaAddr;
      const calls: [string, () => unknown, unknown][] = [
        ['alloc size 0', () => b.allocAttrs(dev, 0, GFP_KERNEL, 0).cpuAddr, null],
        ['alloc negative size', () => b.allocAttrs(dev, -4, GFP_KERNEL, 0).cpuAddr, null],
        ['alloc __GFP_COMP', () => b.allocAttrs(dev, PAGE_SIZE, GFP_KERNEL | __GFP_COMP, 0).cpuAddr, null],
        ['map bad direction', () => b.mapSingle(dev, buf, 64, DMA_NONE, 0), DMA_MAPPING_ERROR],
        ['map direction 7', () => b.mapPage(dev, pfn(1), 0, 64, 7, 0), DMA_MAPPING_ERROR],
        ['map size 0', () => b.mapSingle(dev, buf, 0, DMA_TO_DEVICE, 0), DMA_MAPPING_ERROR],
        ['map negative offset', () => b.mapPage(dev, pfn(1), -1, 64, DMA_TO_DEVICE, 0), DMA_MAPPING_ERROR],
        ['map_page with DMA_ATTR_MMIO', () => b.mapPage(dev, pfn(1), 0, 64, DMA_TO_DEVICE, DMA_ATTR_MMIO), DMA_MAPPING_ERROR],
        ['map_single of a vmalloc address', () => b.mapSingle(dev, va as CpuAddr, 64, DMA_TO_DEVICE, 0), s.platform.pt.isVmallocAddr(va as number) ? DMA_MAPPING_ERROR : 'skip'],
        ['map_single of an unmapped address', () => b.mapSingle(dev, cpuAddr(0x1000), 64, DMA_TO_DEVICE, 0), DMA_MAPPING_ERROR],
        ['unmap unknown handle', () => b.unmapSingle(dev, unknown, 256, DMA_BIDIRECTIONAL, 0), undefined],
        ['unmap DMA_MAPPING_ERROR', () => b.unmapPage(dev, DMA_MAPPING_ERROR, 256, DMA_BIDIRECTIONAL, 0), undefined],
        ['unmap with another size', () => b.unmapSingle(dev, good, 128, DMA_BIDIRECTIONAL, 0), undefined],
        ['unmap bad direction', () => b.unmapSingle(dev, good, 256, DMA_NONE, 0), undefined],
        ['sync unknown handle', () => b.syncSingleForCpu(dev, unknown, 64, DMA_BIDIRECTIONAL), undefined],
        ['sync past the end', () => b.syncSingleForDevice(dev, good, 512, DMA_BIDIRECTIONAL), undefined],
        ['sync bad direction', () => b.syncSingleForCpu(dev, good, 64, 9), undefined],
        ['sync size 0', () => b.syncSingleForCpu(dev, good, 0, DMA_BIDIRECTIONAL), undefined],
        ['free unknown handle', () => b.freeAttrs(dev, PAGE_SIZE, va, unknown, 0), undefined],
        ['free another size', () => b.freeAttrs(dev, 2 * PAGE_SIZE, va, dmaHandle, 0), undefined],
        ['free another cpu address', () => b.freeAttrs(dev, PAGE_SIZE, cpuAddr((va as number) + 64), dmaHandle, 0), undefined],
        ['free NULL', () => b.freeAttrs(dev, PAGE_SIZE, null, dmaHandle, 0), undefined],
        ['mmap unknown handle', () => b.mmapAttrs(dev, s.platform.user.createVma(1, 0), va as CpuAddr, unknown, PAGE_SIZE, 0), -ENXIO],
        ['mmap larger than the buffer', () => b.mmapAttrs(dev, s.platform.user.createVma(1, 0), va as CpuAddr, dmaHandle, 2 * PAGE_SIZE, 0), -ENXIO],
        ['get_sgtable unknown handle', () => b.getSgtableAttrs(dev, va as CpuAddr, unknown, PAGE_SIZE, 0).ret, -ENXIO],
        ['get_sgtable size 0', () => b.getSgtableAttrs(dev, va as CpuAddr, dmaHandle, 0, 0).ret, -ENXIO],
        ['map_sg nents 0', () => b.mapSg(dev, [sgEntry(pfn(1), 0, 64)], 0, DMA_TO_DEVICE, 0), 0],
        ['map_sg nents beyond the list', () => b.mapSg(dev, [sgEntry(pfn(1), 0, 64)], 2, DMA_TO_DEVICE, 0), 0],
        ['map_sg empty entry', () => b.mapSg(dev, [sgEntry(pfn(1), 0, 0)], 1, DMA_TO_DEVICE, 0), 0],
        ['map_sg bad direction', () => b.mapSg(dev, [sgEntry(pfn(1), 0, 64)], 1, DMA_NONE, 0), 0],
        ['map_sg twice (R46)', () => b.mapSg(dev, sgl, 1, DMA_TO_DEVICE, 0), 0],
        ['unmap_sg of an unmapped list', () => b.unmapSg(dev, [sgEntry(pfn(1), 0, 64)], 1, DMA_TO_DEVICE, 0), undefined],
        ['unmap_sg bad direction', () => b.unmapSg(dev, sgl, 1, DMA_NONE, 0), undefined],
        ['sync_sg of an unmapped list', () => b.syncSgForCpu(dev, [sgEntry(pfn(1), 0, 64)], 1, DMA_TO_DEVICE), undefined],
        ['sync_sg wrong nents', () => b.syncSgForDevice(dev, sgl, 2, DMA_TO_DEVICE), undefined],
        ['sync_sg bad direction', () => b.syncSgForDevice(dev, sgl, 1, DMA_NONE), undefined],
        ['set_mask 0 bits', () => b.setMask(dev, 0), -EIO],
        ['set_mask 65 bits', () => b.setMask(dev, 65), -EIO],
        ['set_coherent_mask 1.5 bits', () => b.setCoherentMask(dev, 1.5), -EIO],
      ];
      for (const [what, call, expected] of calls) {
        if (expected === 'skip') continue;
        // Coherent devices skip syncs entirely (dma_skip_sync): still nothing changes.
        expect(call(), what).toEqual(expected);
        expect(state(s), what).toEqual(before);
      }
      expect(b.kernel.dmesg.has('refused')).toBe(true);
      expect(b.kernel.dmesg.has('kernel BUG at kernel/dma/mapping.c: dma_map_phys: invalid direction')).toBe(true);
    });
  }

  it('a device without dma_mask cannot map; REQUIRE_COHERENT fails on a non-coherent device', () => {
    const s = setUp<ReferenceBackend>('arm64-soc');
    const buf = s.mm.slab.kmalloc(64) as CpuAddr;
    const dev = s.backend.device('gpu0');
    expect(s.backend.mapSingle('gpu0', buf, 64, DMA_TO_DEVICE, DMA_ATTR_REQUIRE_COHERENT)).toBe(DMA_MAPPING_ERROR);
    const sgl = [sgEntry(pfn(0x80000), 0, 64)];
    expect(dma.dmaMapSgtable(dev, sgTable(sgl), DMA_TO_DEVICE, DMA_ATTR_REQUIRE_COHERENT)).toBe(-EOPNOTSUPP);
    dev.dmaMask = null;
    expect(s.backend.mapSingle('gpu0', buf, 64, DMA_TO_DEVICE, 0)).toBe(DMA_MAPPING_ERROR);
    expect(s.backend.mapSg('gpu0', sgl, 1, DMA_TO_DEVICE, 0)).toBe(0);
    expect(s.backend.kernel.dmesg.has('without dma_mask')).toBe(true);
    expect(s.backend.kernel.live.size).toBe(0);
  });

  it('strips zone modifiers from dma_alloc_attrs and warns once about a zero coherent mask', () => {
    const s = setUp<ReferenceBackend>('x86-64');
    const r = s.backend.allocAttrs('nvme0', PAGE_SIZE, GFP_KERNEL | __GFP_DMA, 0);
    expect(r.dmaHandle).toBeGreaterThanOrEqual(4 * 1024 ** 3); // __GFP_DMA ignored for a 64-bit device (R24)
    s.backend.device('nvme0').coherentDmaMask = 0;
    s.backend.allocAttrs('nvme0', PAGE_SIZE, GFP_KERNEL, 0);
    s.backend.allocAttrs('nvme0', PAGE_SIZE, GFP_KERNEL, 0);
    expect(s.backend.kernel.dmesg.lines.filter((l) => l.text.includes('coherent_dma_mask is 0'))).toHaveLength(1);
  });

  it('records dma_free_attrs with IRQs disabled (R20) and frees anyway, as the kernel WARNs and goes on', () => {
    const s = setUp<ReferenceBackend>('x86-64');
    const { cpuAddr: va, dmaHandle } = s.backend.allocAttrs('nvme0', PAGE_SIZE, GFP_KERNEL, 0);
    s.platform.context.current = 'atomic';
    s.backend.freeAttrs('nvme0', PAGE_SIZE, va, dmaHandle, 0);
    expect(s.platform.violations.all[0]?.kind).toBe('free-with-irqs-disabled');
    expect(s.backend.kernel.live.size).toBe(0);
  });
});

describe('dispatch: direct or ops', () => {
  function withOps(ops: DmaMapOps, bypass = false) {
    const s = setUp<ReferenceBackend>('arm64-soc');
    const dev = s.backend.device('pcie0');
    dev.dmaOps = ops;
    dev.dmaOpsBypass = bypass;
    dev.dmaSkipSync = false; // ops come with the device, before any dma_set_mask: the zeroed struct device syncs
    return { s, dev };
  }

  it('decides per mask: bypass goes direct only when the mask covers all RAM', () => {
    const { dev } = withOps({ name: 'empty' }, true);
    expect(dma.dmaGoDirect(dev, 64)).toBe(true);
    expect(dma.dmaGoDirect(dev, 32)).toBe(false);
    expect(dma.dmaGoDirect(dev, null)).toBe(false);
    dev.dmaIommu = true;
    expect(dma.dmaGoDirect(dev, 64)).toBe(false);
  });

  it('calls the ops methods, and gives the failure value where a method is missing', () => {
    const calls: string[] = [];
    const ops: DmaMapOps = {
      name: 'recording',
      alloc: () => (calls.push('alloc'), { cpuAddr: cpuAddr(0x1000), dmaHandle: 0x2000 as DmaAddr }),
      free: () => void calls.push('free'),
      mmap: () => (calls.push('mmap'), 0),
      getSgtable: () => (calls.push('get_sgtable'), { ret: 0, sgt: null }),
      mapPhys: (_d, phys) => (calls.push('map'), (phys + 1) as number as DmaAddr),
      unmapPhys: () => void calls.push('unmap'),
      mapSg: (_d, sgl, n) => (calls.push('map_sg'), sgl.forEach((e) => (e.dmaAddress = 0x3000 as DmaAddr)), n),
      unmapSg: () => void calls.push('unmap_sg'),
      syncSingleForCpu: () => void calls.push('sync_cpu'),
      syncSingleForDevice: () => void calls.push('sync_dev'),
      syncSgForCpu: () => void calls.push('sync_sg_cpu'),
      syncSgForDevice: () => void calls.push('sync_sg_dev'),
      dmaSupported: () => false,
      maxMappingSize: () => 4096,
    };
    const { s, dev } = withOps(ops);
    const a = dma.dmaAllocAttrs(dev, 100, GFP_KERNEL, 0);
    expect(dma.dmaMmapAttrs(dev, s.platform.user.createVma(1, 0), a.cpuAddr as CpuAddr, a.dmaHandle, 100, 0)).toBe(0);
    expect(dma.dmaGetSgtableAttrs(dev, a.cpuAddr as CpuAddr, a.dmaHandle, 100, 0).ret).toBe(0);
    expect(dma.dmaCanMmap(dev)).toBe(true);
    dma.dmaFreeAttrs(dev, 100, a.cpuAddr, a.dmaHandle, 0);
    const m = dma.dmaMapPhys(dev, 0x8000_0000 as PhysAddr, 64, DMA_FROM_DEVICE, 0);
    dma.dmaSyncSingleForCpu(dev, m, 64, DMA_FROM_DEVICE);
    dma.dmaSyncSingleForDevice(dev, m, 64, DMA_FROM_DEVICE);
    dma.dmaUnmapPhys(dev, m, 64, DMA_FROM_DEVICE, 0);
    const sgl = [sgEntry(pfn(0x80000), 0, 64)];
    const sgt = sgTable(sgl);
    expect(dma.dmaMapSgtable(dev, sgt, DMA_TO_DEVICE, 0)).toBe(0);
    dma.dmaSyncSgForCpu(dev, sgl, 1, DMA_TO_DEVICE);
    dma.dmaSyncSgForDevice(dev, sgl, 1, DMA_TO_DEVICE);
    dma.dmaUnmapSgAttrs(dev, sgl, 1, DMA_TO_DEVICE, 0);
    expect(calls).toEqual(['alloc', 'mmap', 'get_sgtable', 'free', 'map', 'sync_cpu', 'sync_dev', 'unmap', 'map_sg', 'sync_sg_cpu', 'sync_sg_dev', 'unmap_sg']);
    expect(dma.dmaSetMask(dev, 40)).toBe(-EIO);
    expect(dma.dmaMaxMappingSize(dev)).toBe(4096);
    expect(dma.dmaNeedSync(dev, m)).toBe(true);

    const bare = withOps({ name: 'bare' });
    const d = bare.dev;
    expect(dma.dmaAllocAttrs(d, 100, GFP_KERNEL, 0).cpuAddr).toBeNull();
    expect(dma.dmaMapPhys(d, 0x8000_0000 as PhysAddr, 64, DMA_TO_DEVICE, 0)).toBe(DMA_MAPPING_ERROR);
    expect(dma.dmaMapSgAttrs(d, [sgEntry(pfn(0x80000), 0, 64)], 1, DMA_TO_DEVICE, 0)).toBe(0);
    expect(dma.dmaCanMmap(d)).toBe(false);
    expect(dma.dmaMaxMappingSize(d)).toBe(SIZE_MAX);
    expect(dma.dmaSupported(d, 20)).toBe(true);
  });

  it('coerces unexpected sg errors to -EIO and refuses mmap/get_sgtable through ops without the method', () => {
    const { s, dev } = withOps({ name: 'odd', mapSg: () => -99, alloc: () => ({ cpuAddr: cpuAddr(0x1000), dmaHandle: 0x2000 as DmaAddr }) });
    expect(dma.dmaMapSgtable(dev, sgTable([sgEntry(pfn(0x80000), 0, 64)]), DMA_TO_DEVICE, 0)).toBe(-EIO);
    expect(s.backend.kernel.dmesg.has('unexpected error -99')).toBe(true);
    const a = dma.dmaAllocAttrs(dev, 100, GFP_KERNEL, 0);
    expect(dma.dmaMmapAttrs(dev, s.platform.user.createVma(1, 0), a.cpuAddr as CpuAddr, a.dmaHandle, 100, 0)).toBe(-ENXIO);
    expect(dma.dmaGetSgtableAttrs(dev, a.cpuAddr as CpuAddr, a.dmaHandle, 100, 0).ret).toBe(-ENXIO);
  });
});

describe('debug hooks', () => {
  it('see every successful call at the API boundary, after the operation', () => {
    const seen: string[] = [];
    const s = setUp<ReferenceBackend>('arm64-soc');
    const k = s.backend.kernel;
    k.debug = {
      allocCoherent: () => void seen.push('alloc'),
      freeCoherent: () => void seen.push('free'),
      mapPhys: () => void seen.push('map'),
      unmapPhys: () => void seen.push('unmap'),
      mapSg: () => void seen.push('map_sg'),
      unmapSg: () => void seen.push('unmap_sg'),
      syncSingleForCpu: () => void seen.push('sync_cpu'),
      syncSingleForDevice: () => void seen.push('sync_dev'),
      syncSgForCpu: () => void seen.push('sync_sg_cpu'),
      syncSgForDevice: () => void seen.push('sync_sg_dev'),
      mappingError: () => void seen.push('mapping_error'),
    };
    const b = s.backend;
    const a = b.allocAttrs('pcie0', 100, GFP_KERNEL, DMA_ATTR_NO_KERNEL_MAPPING);
    b.freeAttrs('pcie0', 100, a.cpuAddr, a.dmaHandle, DMA_ATTR_NO_KERNEL_MAPPING);
    const buf = s.mm.slab.kmalloc(64) as CpuAddr;
    const m = b.mapSingle('pcie0', buf, 64, DMA_TO_DEVICE, 0);
    b.mappingError('pcie0', m);
    b.syncSingleForCpu('pcie0', m, 64, DMA_TO_DEVICE); // coherent, but dma-debug on: not skipped
    b.syncSingleForDevice('pcie0', m, 64, DMA_TO_DEVICE);
    b.unmapSingle('pcie0', m, 64, DMA_TO_DEVICE, 0);
    const sgl = [sgEntry(pfn(0x80000), 0, 64)];
    b.mapSg('pcie0', sgl, 1, DMA_TO_DEVICE, 0);
    b.syncSgForCpu('pcie0', sgl, 1, DMA_TO_DEVICE);
    b.syncSgForDevice('pcie0', sgl, 1, DMA_TO_DEVICE);
    b.unmapSg('pcie0', sgl, 1, DMA_TO_DEVICE, 0);
    expect(seen).toEqual(['alloc', 'free', 'map', 'mapping_error', 'sync_cpu', 'sync_dev', 'unmap', 'map_sg', 'sync_sg_cpu', 'sync_sg_dev', 'unmap_sg']);
    expect(k.live.list()).toEqual([]);
  });
});

describe('kernel spellings', () => {
  it('prints directions, attributes and errnos as the kernel names them', () => {
    expect(dirToString(DMA_FROM_DEVICE)).toBe('DMA_FROM_DEVICE');
    expect(dirToString(9)).toBe('9');
    expect(attrsToString(DMA_ATTR_NO_KERNEL_MAPPING | 0x8000_0000)).toBe('DMA_ATTR_NO_KERNEL_MAPPING|0x80000000');
    expect(attrsToString(0)).toBe('0');
    expect(errnoName(-ENXIO)).toBe('-ENXIO');
    expect(errnoName(-1234)).toBe('-1234');
    expect(errnoName(3)).toBe('3');
  });
});

describe('LiveDmaTable', () => {
  it('keeps two mappings of the same address apart, finds by exact address and by containing range', () => {
    const s = setUp<ReferenceBackend>('x86-64');
    const buf = s.mm.slab.kmalloc(PAGE_SIZE) as CpuAddr;
    const a = s.backend.mapSingle('nvme0', buf, 256, DMA_TO_DEVICE, 0);
    const b = s.backend.mapSingle('nvme0', buf, 256, DMA_TO_DEVICE, 0); // the same buffer mapped twice (legal for TO_DEVICE)
    expect(b).toBe(a);
    const t = s.backend.kernel.live;
    const dev = s.backend.device('nvme0');
    expect(t.size).toBe(2);
    expect(t.findContaining(dev, a + 16, 64)?.sizeBytes).toBe(256);
    expect(t.findContaining(dev, a + 200, 64)).toBeUndefined();
    s.backend.unmapSingle('nvme0', a, 256, DMA_TO_DEVICE, 0);
    expect(t.find(dev, 'single', a)).toBeDefined();
    const other = t.list(dev)[0];
    s.backend.unmapSingle('nvme0', b, 256, DMA_TO_DEVICE, 0);
    t.remove(other as never); // already gone: no-op
    expect(t.size).toBe(0);
    expect(t.list()).toEqual([]);
    expect(t.findSg(s.backend.device('nic0'), [])).toBeUndefined();
  });
});

describe('read against mainline (v6.18 kernel/dma/mapping.c, direct.c, direct.h)', () => {
  // kernel/dma/mapping.c dma_set_mask → dma_setup_need_sync; swiotlb_tbl_map_single → dma_reset_need_sync
  it('dma_set_mask sets dma_skip_sync from coherence, also after a bounce turned it off', () => {
    const s = setUp<ReferenceBackend>('cc-guest', { seed: 'need-sync', maskBits: null });
    const dev = s.backend.device('virtio0');
    expect(dev.dmaSkipSync).toBe(false); // no dma_set_mask yet: the zeroed struct device syncs
    expect(s.backend.setMask('virtio0', 64)).toBe(0);
    expect(dev.dmaSkipSync).toBe(true);
    const p = s.mm.pages.allocPages(GFP_KERNEL, 0) as number;
    const m = s.backend.mapPage('virtio0', pfn(p), 0, 128, DMA_FROM_DEVICE, 0); // forced bounce
    expect(dev.dmaSkipSync).toBe(false);
    expect(dma.dmaNeedSync(dev, m)).toBe(true);
    expect(s.backend.setMask('virtio0', 64)).toBe(0);
    expect(dev.dmaSkipSync).toBe(true); // the kernel's behaviour: set again, skip again, live bounce buffer or not
    expect(dma.dmaNeedSync(dev, m)).toBe(false);
  });

  // kernel/dma/direct.h dma_direct_map_phys / dma_direct_unmap_phys (v6.19 "prevent SWIOTLB path when DMA_ATTR_REQUIRE_COHERENT is set")
  it('DMA_ATTR_REQUIRE_COHERENT is refused on the force-bounce branch, and its unmap does nothing', () => {
    const s = setUp<ReferenceBackend>('cc-guest', { seed: 'require-coherent' });
    const p = s.mm.pages.allocPages(GFP_KERNEL, 0) as number;
    expect(s.backend.mapPage('nvme0', pfn(p), 0, 256, DMA_TO_DEVICE, DMA_ATTR_REQUIRE_COHERENT)).toBe(DMA_MAPPING_ERROR);
    expect(s.backend.swiotlbState('nvme0')?.used).toBe(0);
    const dev = s.backend.device('nvme0');
    const m = s.backend.mapPage('nvme0', pfn(p), 0, 256, DMA_TO_DEVICE, 0);
    const used = s.backend.swiotlbState('nvme0')?.used;
    expect(used).toBeGreaterThan(0);
    direct.dmaDirectUnmapPhys(dev, m, 256, DMA_TO_DEVICE, DMA_ATTR_REQUIRE_COHERENT);
    expect(s.backend.swiotlbState('nvme0')?.used).toBe(used);
  });

  // include/linux/dma-mapping.h dma_map_single_attrs → kernel/dma/mapping.c dma_map_page_attrs refuses DMA_ATTR_MMIO
  it('dma_map_single refuses DMA_ATTR_MMIO like dma_map_page', () => {
    const s = setUp<ReferenceBackend>('arm64-soc', { seed: 'mmio' });
    const p = s.mm.pages.allocPages(GFP_KERNEL, 0) as number;
    const va = s.mm.pages.pageAddress(pfn(p)) as number;
    expect(s.backend.mapSingle('gpu0', cpuAddr(va), 64, DMA_TO_DEVICE, DMA_ATTR_MMIO)).toBe(DMA_MAPPING_ERROR);
  });

  // kernel/dma/mapping.c dma_free_attrs: dma_release_from_dev_coherent before WARN_ON(irqs_disabled())
  it('freeing per-device pool memory with IRQs disabled is not a violation; freeing other memory is', () => {
    const s = setUp<ReferenceBackend>('arm64-soc', { seed: 'free-irqs' });
    const a = s.backend.allocAttrs('dsp0', PAGE_SIZE, GFP_KERNEL, 0);
    const b = s.backend.allocAttrs('gpu0', PAGE_SIZE, GFP_KERNEL, 0);
    s.platform.context.current = 'atomic';
    s.backend.freeAttrs('dsp0', PAGE_SIZE, a.cpuAddr, a.dmaHandle, 0);
    expect(s.platform.violations.count).toBe(0);
    expect(s.backend.kernel.live.size).toBe(1);
    s.backend.freeAttrs('gpu0', PAGE_SIZE, b.cpuAddr, b.dmaHandle, 0);
    expect(s.platform.violations.all.map((v) => v.kind)).toContain('free-with-irqs-disabled');
  });

  // kernel/dma/mapping.c dma_addressing_limited, kernel/dma/direct.c dma_direct_get_required_mask, dma_direct_max_mapping_size
  it('dma_addressing_limited compares with the power-of-two required mask, not the exact top of RAM', () => {
    const base = getProfile('arm64-soc');
    // RAM ends at 0x9_0000_0000: the required mask is 36 bits; a bus limit just above RAM is still below it.
    const profile = { ...base, name: 'arm64-bus-limit', devices: base.devices.map((d) => (d.name === 'pcie0' ? { ...d, busDmaLimit: 0x9_0000_0000 } : d)) };
    const s = setUp<ReferenceBackend>(profile, { seed: 'limited' });
    const dev = s.backend.device('pcie0');
    expect(direct.dmaDirectGetRequiredMask(dev)).toBe(0xf_ffff_ffff);
    expect(dma.dmaAddressingLimited(dev)).toBe(true);
    expect(s.backend.maxMappingSize('pcie0')).toBe(IO_TLB_SIZE * IO_TLB_SEGSIZE);
    const plain = setUp<ReferenceBackend>('arm64-soc', { seed: 'limited' });
    expect(dma.dmaAddressingLimited(plain.backend.device('pcie0'))).toBe(false);
    expect(plain.backend.maxMappingSize('pcie0')).toBe(SIZE_MAX);
    expect(dma.dmaAddressingLimited(plain.backend.device('vpu0'))).toBe(true); // its window covers only part of RAM
  });
});
