import { describe, expect, it } from 'vitest';
import { DeviceFault } from './device.ts';
import { IOMMU_DEFAULTS, IOMMU_READ, IOMMU_WRITE, IommuDomainHw, validateIommuConfig } from './iommu.ts';
import { createPlatform } from './platform.ts';
import { getProfile } from './profiles.ts';

const dom = (over: Partial<typeof IOMMU_DEFAULTS> = {}) => new IommuDomainHw('dev0', { ...IOMMU_DEFAULTS, ...over });

describe('IOMMU domain hardware', () => {
  it('maps whole granules with a permission and translates inside them', () => {
    const d = dom();
    expect(d.map(0x10000, 0x8000_0000, 0x2000, IOMMU_READ)).toBe(0);
    expect(d.lookup(0x11234)).toEqual({ phys: 0x8000_1234, prot: IOMMU_READ, stale: false });
    expect(d.iovaToPhys(0x10010)).toBe(0x8000_0010);
    expect(d.mappedGranules).toBe(2);
    expect('fault' in d.lookup(0x12000)).toBe(true);
  });

  it('refuses misaligned, empty-permission, out-of-aperture and overlapping maps and changes nothing', () => {
    const d = dom({ apertureBits: 32 });
    expect(d.map(0x10800, 0x8000_0000, 0x1000, IOMMU_READ)).toBe(-22);
    expect(d.map(0x10000, 0x8000_0800, 0x1000, IOMMU_READ)).toBe(-22);
    expect(d.map(0x10000, 0x8000_0000, 0x1000, 0)).toBe(-22);
    expect(d.map(0xffff_f000, 0x8000_0000, 0x2000, IOMMU_READ)).toBe(-22);
    expect(d.mappedGranules).toBe(0);
    expect(d.map(0x10000, 0x8000_0000, 0x1000, IOMMU_WRITE)).toBe(0);
    expect(d.map(0xf000, 0x9000_0000, 0x2000, IOMMU_READ)).toBe(-17);
    expect(d.entries()).toEqual([{ iova: 0x10000, physBase: 0x8000_0000, prot: IOMMU_WRITE, stale: false }]);
  });

  it('keeps translating an unmapped IOVA from the IOTLB until it is invalidated', () => {
    const d = dom();
    d.map(0x10000, 0x8000_0000, 0x1000, IOMMU_READ | IOMMU_WRITE);
    expect(d.unmap(0x10000, 0x1000)).toBe(0x1000);
    expect(d.iovaToPhys(0x10000)).toBeNull();
    expect(d.lookup(0x10000)).toEqual({ phys: 0x8000_0000, prot: IOMMU_READ | IOMMU_WRITE, stale: true });
    expect(d.staleEntries).toBe(1);
    d.invalidateRange(0x10000, 0x1000);
    expect('fault' in d.lookup(0x10000)).toBe(true);
    expect(d.entries()).toEqual([]);
  });

  it('a reused IOVA keeps its old translation in the IOTLB until the flush', () => {
    const d = dom();
    d.map(0x10000, 0x8000_0000, 0x1000, IOMMU_READ);
    d.unmap(0x10000, 0x1000);
    expect(d.map(0x10000, 0x9000_0000, 0x1000, IOMMU_WRITE)).toBe(0);
    expect(d.lookup(0x10000)).toEqual({ phys: 0x8000_0000, prot: IOMMU_READ, stale: true });
    d.invalidateAll();
    expect(d.lookup(0x10000)).toEqual({ phys: 0x9000_0000, prot: IOMMU_WRITE, stale: false });
  });

  it('unmap stops at the first granule that is not mapped', () => {
    const d = dom({ granuleBytes: 65536 });
    d.map(0x20000, 0x8000_0000, 0x10000, IOMMU_READ);
    expect(d.unmap(0x20000, 0x30000)).toBe(0x10000);
    expect(d.unmap(0x20001, 0x10000)).toBe(0);
  });

  it('validates its description', () => {
    expect(validateIommuConfig(IOMMU_DEFAULTS, 'iommu')).toEqual([]);
    expect(validateIommuConfig({ granuleBytes: 8192, apertureBits: 60, strict: true, flushQueueSize: 0 }, 'iommu')).toHaveLength(3);
  });
});

describe('a device behind an IOMMU', () => {
  it('reaches memory only through a translation, with its permission; anything else is an IOMMU fault', () => {
    const p = createPlatform(getProfile('arm64-smmu'), { seed: '1' });
    const gpu = p.device('gpu0');
    const iommu = gpu.iommu as IommuDomainHw;
    expect(() => gpu.read(0x4000, 8)).toThrow(DeviceFault);
    iommu.map(0x4000, 0x8000_0000, 0x1000, IOMMU_READ);
    expect(gpu.translate(0x4010)).toBe(0x8000_0010);
    expect(gpu.read(0x4000, 8)).toHaveLength(8);
    try {
      gpu.write(0x4000, new Uint8Array(4));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(DeviceFault);
      expect((e as DeviceFault).kind).toBe('iommu');
      expect((e as DeviceFault).message).toMatch(/write through a r translation/);
    }
  });
});
