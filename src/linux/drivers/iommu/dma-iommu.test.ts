import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../../backend/reference.ts';
import { setUp } from '../../../backend/setup.ts';
import { DeviceFault } from '../../../platform/device.ts';
import { IOMMU_READ, IOMMU_WRITE, type IommuDomainHw } from '../../../platform/iommu.ts';
import { type CpuAddr, type DmaAddr, PAGE_SIZE, type Pfn, type PhysAddr, pfnToPhys } from '../../../platform/types.ts';
import { DMA_ATTR_FORCE_CONTIGUOUS, DMA_BIDIRECTIONAL, DMA_FROM_DEVICE, DMA_MAPPING_ERROR, DMA_TO_DEVICE } from '../../include/linux/dma-mapping.ts';
import { GFP_ATOMIC, GFP_KERNEL } from '../../include/linux/gfp.ts';
import { sgEntry } from '../../include/linux/scatterlist.ts';
import { iovaRcacheRange } from './iova.ts';
import { iommuDmaCookie, iommuDmaQueuedIovas } from './dma-iommu.ts';

function machine() {
  const s = setUp<ReferenceBackend>('arm64-smmu');
  s.backend.setMaskAndCoherent('gpu0', 40);
  s.backend.setMaskAndCoherent('nvme0', 64);
  s.backend.setMaskAndCoherent('tbt0', 64);
  s.backend.setMaskAndCoherent('vpu0', 32);
  const pages = (order: number) => s.mm.pages.allocPages(GFP_KERNEL, order) as Pfn;
  const iommu = (dev: string) => s.platform.device(dev).iommu as IommuDomainHw;
  return { ...s, pages, iommu };
}

describe('dma-iommu streaming mappings', () => {
  it('keep the in-granule offset, grant the direction\'s permission and are gone when a strict unmap returns', () => {
    const m = machine();
    const page = m.pages(0);
    const dma = m.backend.mapPage('gpu0', page, 0x123, 256, DMA_TO_DEVICE, 0);
    expect(dma).not.toBe(DMA_MAPPING_ERROR);
    expect(dma % PAGE_SIZE).toBe(0x123);
    expect(m.platform.device('gpu0').translate(dma)).toBe(pfnToPhys(page) + 0x123);
    expect(m.iommu('gpu0').lookupPte(dma)?.prot).toBe(IOMMU_READ);
    expect(() => m.platform.device('gpu0').write(dma, new Uint8Array(4))).toThrow(DeviceFault);
    m.backend.unmapPage('gpu0', dma, 256, DMA_TO_DEVICE, 0);
    expect(m.iommu('gpu0').entries()).toEqual([]);
    expect(() => m.platform.device('gpu0').read(dma, 4)).toThrow(/IOMMU fault/);
  });

  it('in lazy mode hold the IOVA and the stale IOTLB entry until the flush-queue timer fires', () => {
    const m = machine();
    const page = m.pages(0);
    const a = m.backend.mapPage('nvme0', page, 0, PAGE_SIZE, DMA_FROM_DEVICE, 0);
    expect(m.iommu('nvme0').lookupPte(a)?.prot).toBe(IOMMU_WRITE);
    m.backend.unmapPage('nvme0', a, PAGE_SIZE, DMA_FROM_DEVICE, 0);
    expect(m.iommu('nvme0').staleEntries).toBe(1);
    expect(iommuDmaQueuedIovas(m.backend.device('nvme0'))).toEqual([{ iova: a, sizeBytes: PAGE_SIZE }]);
    const b = m.backend.mapPage('nvme0', page, 0, PAGE_SIZE, DMA_FROM_DEVICE, 0);
    expect(b).not.toBe(a);
    m.backend.unmapPage('nvme0', b, PAGE_SIZE, DMA_FROM_DEVICE, 0);
    expect(m.mm.workqueue.pendingNames).toContain('iommu-dma:fq_flush_timeout:nvme0');
    m.mm.workqueue.run();
    expect(m.iommu('nvme0').entries()).toEqual([]);
    expect(iommuDmaQueuedIovas(m.backend.device('nvme0'))).toEqual([]);
  });

  it('take IOVAs inside the device\'s dma-ranges windows only (the holes are reserved)', () => {
    const m = machine();
    const reserved = iommuDmaCookie(m.backend.device('nvme0')).iovad.reservedRanges().map((r) => [r.pfnLo * PAGE_SIZE, (r.pfnHi + 1) * PAGE_SIZE]);
    // Below the first window, the 2 GiB - 4 GiB hole (through the next window's first granule), and above 1 TiB.
    expect(reserved).toContainEqual([0, 0x10_1000]);
    expect(reserved).toContainEqual([2 ** 31, 2 ** 32 + PAGE_SIZE]);
    expect(reserved).toContainEqual([1024 * 2 ** 30, 2 ** 48]);
    for (let i = 0; i < 8; i++) {
      const dma = m.backend.mapPage('nvme0', m.pages(4), 0, 16 * PAGE_SIZE, DMA_BIDIRECTIONAL, 0);
      expect(dma >= 2 ** 32 && dma + 16 * PAGE_SIZE <= 1024 * 2 ** 30).toBe(true);
    }
  });

  it('bounce an untrusted device\'s unaligned buffer into zeroed granules, and map an aligned one in place', () => {
    const m = machine();
    const page = m.pages(0);
    const va = m.mm.pages.pageAddress(page) as CpuAddr;
    m.platform.cpu.memset(va, 0xab, PAGE_SIZE);
    const dma = m.backend.mapPage('tbt0', page, 64, 100, DMA_TO_DEVICE, 0);
    const tbt = m.platform.device('tbt0');
    const phys = tbt.translate(dma) as number;
    expect(phys).not.toBe(pfnToPhys(page) + 64);
    expect([...tbt.read(dma, 100)]).toEqual(new Array(100).fill(0xab));
    const granule = tbt.read(dma - (dma % PAGE_SIZE), PAGE_SIZE);
    expect(granule.filter((x) => x !== 0).length).toBe(100);
    m.backend.unmapPage('tbt0', dma, 100, DMA_TO_DEVICE, 0);
    const whole = m.backend.mapPage('tbt0', page, 0, PAGE_SIZE, DMA_TO_DEVICE, 0);
    expect(tbt.translate(whole)).toBe(pfnToPhys(page));
    expect(m.backend.maxMappingSize('tbt0')).toBeLessThan(2 ** 20);
  });
});

describe('dma-iommu scatter-gather', () => {
  it('maps a list at one IOVA range and merges granule-contiguous entries up to max_segment_size', () => {
    const m = machine();
    const sgl = [0, 1, 2].map(() => sgEntry(m.pages(2), 0, 4 * PAGE_SIZE));
    const n = m.backend.mapSg('gpu0', sgl, 3, DMA_BIDIRECTIONAL, 0);
    // gpu0 takes 32 KiB segments: the first two 16 KiB entries merge, the third starts a new segment.
    expect(n).toBe(2);
    expect(sgl.slice(0, n).map((s) => s.dmaLength)).toEqual([8 * PAGE_SIZE, 4 * PAGE_SIZE]);
    expect((sgl[1]?.dmaAddress as number) - (sgl[0]?.dmaAddress as number)).toBe(8 * PAGE_SIZE);
    const tr = (dma: number) => m.platform.device('gpu0').translate(dma);
    expect(tr((sgl[0]?.dmaAddress as number) + 4 * PAGE_SIZE)).toBe(pfnToPhys(sgl[1]?.page as Pfn));
    m.backend.unmapSg('gpu0', sgl, 3, DMA_BIDIRECTIONAL, 0);
    expect(m.iommu('gpu0').entries()).toEqual([]);
  });

  it('keeps entries with an in-granule offset apart', () => {
    const m = machine();
    const sgl = [sgEntry(m.pages(0), 0, 100), sgEntry(m.pages(0), 8, 100)];
    expect(m.backend.mapSg('gpu0', sgl, 2, DMA_TO_DEVICE, 0)).toBe(2);
    expect((sgl[1]?.dmaAddress as number) % PAGE_SIZE).toBe(8);
  });
});

describe('dma-iommu coherent allocations', () => {
  it('blocking: a page array mapped at one IOVA below the coherent mask; freeing empties the page tables', () => {
    const m = machine();
    const before = JSON.stringify(m.mm.snapshot());
    const r = m.backend.allocAttrs('vpu0', 3 * 65536, GFP_KERNEL, 0);
    expect(r.cpuAddr).not.toBeNull();
    expect(m.platform.pt.isVmallocAddr(r.cpuAddr as CpuAddr)).toBe(true);
    expect(r.dmaHandle + 3 * 65536 - 1).toBeLessThanOrEqual(2 ** 32 - 1);
    expect(m.iommu('vpu0').mappedGranules).toBe(3);
    const sg = m.backend.getSgtableAttrs('vpu0', r.cpuAddr as CpuAddr, r.dmaHandle, 3 * 65536, 0);
    expect(sg.ret).toBe(0);
    expect(sg.sgt?.sgl.reduce((n, s) => n + s.length, 0)).toBe(3 * 65536);
    m.backend.freeAttrs('vpu0', 3 * 65536, r.cpuAddr, r.dmaHandle, 0);
    m.mm.workqueue.run();
    expect(m.iommu('vpu0').entries()).toEqual([]);
    expect(JSON.stringify(m.mm.snapshot())).toBe(before);
  });

  it('non-blocking on a non-coherent device: from the atomic pool', () => {
    const m = machine();
    const r = m.backend.allocAttrs('gpu0', PAGE_SIZE, GFP_ATOMIC, 0);
    expect(r.cpuAddr).not.toBeNull();
    const phys = m.platform.pt.translate(r.cpuAddr as CpuAddr, 'read', 'test').phys;
    expect(m.mm.genPools.some((g) => g.hasPhys(phys, PAGE_SIZE))).toBe(true);
    expect(m.platform.device('gpu0').translate(r.dmaHandle)).toBe(phys);
  });

  it('DMA_ATTR_FORCE_CONTIGUOUS: physically contiguous pages', () => {
    const m = machine();
    const size = 5 * PAGE_SIZE;
    const r = m.backend.allocAttrs('gpu0', size, GFP_KERNEL, DMA_ATTR_FORCE_CONTIGUOUS);
    const phys = [0, 1, 2, 3, 4].map((i) => m.platform.pt.translate((r.cpuAddr as number) + i * PAGE_SIZE, 'read', 'test').phys);
    expect(phys.every((p, i) => p === (phys[0] as PhysAddr) + i * PAGE_SIZE)).toBe(true);
    expect(m.platform.device('gpu0').translate((r.dmaHandle as DmaAddr) + 2 * PAGE_SIZE)).toBe(phys[2]);
  });
});

describe('dma-iommu queries', () => {
  it('answer as dma-iommu does', () => {
    const m = machine();
    expect(m.backend.getMergeBoundary('gpu0')).toBe(PAGE_SIZE - 1);
    expect(m.backend.getMergeBoundary('vpu0')).toBe(65535);
    expect(m.backend.optMappingSize('nvme0')).toBe(iovaRcacheRange());
    expect(m.backend.getRequiredMask('nvme0')).toBe(2 ** 32 - 1);
    expect(m.backend.addressingLimited('vpu0')).toBe(false);
    expect(m.backend.needUnmap('nvme0')).toBe(true);
  });
});

describe('dma-iommu after review', () => {
  it('maps a multi-entry list on a device with the default 4 GiB segment boundary (no padding)', () => {
    const m = machine();
    const sgl = [0, 1, 2].map(() => sgEntry(m.pages(0), 0, PAGE_SIZE));
    expect(m.backend.mapSg('nvme0', sgl, 3, DMA_BIDIRECTIONAL, 0)).toBe(1);
    expect(sgl[0]?.dmaLength).toBe(3 * PAGE_SIZE);
  });

  it('keeps the bytes a FROM_DEVICE bounce does not receive (swiotlb copied them in)', () => {
    const m = machine();
    const page = m.pages(0);
    m.platform.cpu.memset(m.mm.pages.pageAddress(page) as CpuAddr, 0xab, PAGE_SIZE);
    const dma = m.backend.mapPage('tbt0', page, 0, 100, DMA_FROM_DEVICE, 0);
    m.platform.device('tbt0').write(dma, new Uint8Array(10).fill(1));
    m.backend.unmapPage('tbt0', dma, 100, DMA_FROM_DEVICE, 0);
    const seen = m.platform.cpu.read(m.mm.pages.pageAddress(page) as CpuAddr, 100);
    expect([...seen.subarray(0, 10)]).toEqual(new Array(10).fill(1));
    expect([...seen.subarray(10)]).toEqual(new Array(90).fill(0xab));
  });

  it('flushes a lazy domain when its queue is full (one entry less than its size)', () => {
    const m = machine();
    const page = m.pages(0);
    for (let i = 0; i < 7; i++) m.backend.unmapPage('nvme0', m.backend.mapPage('nvme0', page, 0, PAGE_SIZE, DMA_TO_DEVICE, 0), PAGE_SIZE, DMA_TO_DEVICE, 0);
    expect(iommuDmaQueuedIovas(m.backend.device('nvme0'))).toHaveLength(7);
    m.backend.unmapPage('nvme0', m.backend.mapPage('nvme0', page, 0, PAGE_SIZE, DMA_TO_DEVICE, 0), PAGE_SIZE, DMA_TO_DEVICE, 0);
    expect(iommuDmaQueuedIovas(m.backend.device('nvme0'))).toHaveLength(1);
  });
});
