import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../../../backend/reference.ts';
import { setUp } from '../../../../backend/setup.ts';
import { IOMMU_READ, type IommuDomainHw } from '../../../../platform/iommu.ts';
import { type CpuAddr, PAGE_SIZE, type Pfn, pfnToPhys } from '../../../../platform/types.ts';
import { DMA_ATTR_FORCE_CONTIGUOUS, DMA_ATTR_NO_KERNEL_MAPPING, DMA_BIDIRECTIONAL, DMA_MAPPING_ERROR, DMA_TO_DEVICE } from '../../../include/linux/dma-mapping.ts';
import { GFP_ATOMIC, GFP_KERNEL } from '../../../include/linux/gfp.ts';
import { sgEntry } from '../../../include/linux/scatterlist.ts';
import { ARM_IOMMU_MAPPING_BASE, ARM_IOMMU_MAPPING_BYTES } from './dma-mapping.ts';

function machine(quirks = {}) {
  const s = setUp<ReferenceBackend>('armv7-iommu', { backend: { name: 'reference', capabilities: { calls: [], attrs: 0, profiles: 'all' }, create: (env) => new ReferenceBackend(env, { quirks }) } });
  const iommu = s.platform.device('g2d0').iommu as IommuDomainHw;
  const pages = (order: number) => s.mm.pages.allocPages(GFP_KERNEL, order) as Pfn;
  return { ...s, iommu, pages };
}

const inWindow = (dma: number, size: number) => dma >= ARM_IOMMU_MAPPING_BASE && dma + size <= ARM_IOMMU_MAPPING_BASE + ARM_IOMMU_MAPPING_BYTES;

describe('ARM32 IOMMU ops', () => {
  it('map pages at IOVAs from the window, keeping the offset in the page, read-only for DMA_TO_DEVICE, gone at unmap', () => {
    const m = machine();
    const page = m.pages(1);
    const dma = m.backend.mapPage('g2d0', page, 0x10, 5000, DMA_TO_DEVICE, 0);
    expect(inWindow(dma, 5000)).toBe(true);
    expect(dma % PAGE_SIZE).toBe(0x10);
    expect(m.iommu.lookupPte(dma)?.prot).toBe(IOMMU_READ);
    expect(m.platform.device('g2d0').translate(dma + 4096)).toBe(pfnToPhys(page) + 0x10 + 4096);
    m.backend.unmapPage('g2d0', dma, 5000, DMA_TO_DEVICE, 0);
    expect(m.iommu.entries()).toEqual([]);
  });

  it('allocate blocking buffers as remapped page arrays and non-blocking ones from the atomic pool', () => {
    const m = machine();
    const blocking = m.backend.allocAttrs('g2d0', 3 * PAGE_SIZE, GFP_KERNEL, 0);
    expect(m.platform.pt.isVmallocAddr(blocking.cpuAddr as CpuAddr)).toBe(true);
    expect(m.iommu.mappedGranules).toBe(3);
    const atomic = m.backend.allocAttrs('g2d0', PAGE_SIZE, GFP_ATOMIC, 0);
    const phys = m.platform.pt.translate(atomic.cpuAddr as CpuAddr, 'read', 'test').phys;
    expect(m.mm.genPools.find((g) => g.name === 'arm_atomic_pool')?.hasPhys(phys, PAGE_SIZE)).toBe(true);
    expect(m.platform.device('g2d0').translate(atomic.dmaHandle)).toBe(phys);
    m.backend.freeAttrs('g2d0', PAGE_SIZE, atomic.cpuAddr, atomic.dmaHandle, 0);
    m.backend.freeAttrs('g2d0', 3 * PAGE_SIZE, blocking.cpuAddr, blocking.dmaHandle, 0);
    expect(m.iommu.entries()).toEqual([]);
  });

  it('hand out the page array as the NO_KERNEL_MAPPING cookie and find the pages through it', () => {
    const m = machine();
    const r = m.backend.allocAttrs('g2d0', 2 * PAGE_SIZE, GFP_KERNEL, DMA_ATTR_NO_KERNEL_MAPPING);
    expect(m.platform.pt.isVmallocAddr(r.cpuAddr as CpuAddr)).toBe(false);
    const sg = m.backend.getSgtableAttrs('g2d0', r.cpuAddr as CpuAddr, r.dmaHandle, 2 * PAGE_SIZE, DMA_ATTR_NO_KERNEL_MAPPING);
    expect(sg.ret).toBe(0);
    expect(pfnToPhys((sg.sgt?.sgl[0]?.page ?? 0) as Pfn)).toBe(m.iommu.iovaToPhys(r.dmaHandle));
    // The seed 004 mutant looks the cookie up as a vmalloc address and finds nothing.
    const bad = machine({ armIommuCookieAsVmalloc: true });
    const b = bad.backend.allocAttrs('g2d0', 2 * PAGE_SIZE, GFP_KERNEL, DMA_ATTR_NO_KERNEL_MAPPING);
    expect(bad.backend.getSgtableAttrs('g2d0', b.cpuAddr as CpuAddr, b.dmaHandle, 2 * PAGE_SIZE, DMA_ATTR_NO_KERNEL_MAPPING).ret).toBe(-6);
  });

  it('take DMA_ATTR_FORCE_CONTIGUOUS buffers from CMA', () => {
    const m = machine();
    const r = m.backend.allocAttrs('g2d0', 4 * PAGE_SIZE, GFP_KERNEL, DMA_ATTR_FORCE_CONTIGUOUS);
    const phys = [0, 1, 2, 3].map((i) => m.platform.pt.translate((r.cpuAddr as number) + i * PAGE_SIZE, 'read', 'test').phys);
    expect(phys.every((p, i) => p === (phys[0] as number) + i * PAGE_SIZE)).toBe(true);
    expect(m.mm.cma.areaOf(Math.floor((phys[0] as number) / PAGE_SIZE))).toBeDefined();
  });

  it('join sg entries that meet on page boundaries into one chunk, within max_segment_size', () => {
    const m = machine();
    const sgl = [sgEntry(m.pages(2), 0, 4 * PAGE_SIZE), sgEntry(m.pages(2), 0, 4 * PAGE_SIZE), sgEntry(m.pages(0), 100, 10)];
    const n = m.backend.mapSg('g2d0', sgl, 3, DMA_BIDIRECTIONAL, 0);
    expect(n).toBe(2);
    expect(sgl[0]?.dmaLength).toBe(8 * PAGE_SIZE);
    expect((sgl[1]?.dmaAddress as number) % PAGE_SIZE).toBe(100);
    expect(m.platform.device('g2d0').translate((sgl[0]?.dmaAddress as number) + 4 * PAGE_SIZE)).toBe(pfnToPhys(sgl[1]?.page as Pfn));
    m.backend.unmapSg('g2d0', sgl, 3, DMA_BIDIRECTIONAL, 0);
    expect(m.iommu.entries()).toEqual([]);
  });

  it('refuse a mask that does not cover the IOVA window (beyond Linux)', () => {
    const m = machine();
    expect(m.backend.setMask('g2d0', 28)).toBe(-5);
    expect(m.backend.setMask('g2d0', 30)).toBe(0);
    expect(m.backend.mapPage('g2d0', m.pages(0), 0, 64, DMA_TO_DEVICE, 0)).not.toBe(DMA_MAPPING_ERROR);
  });
});
