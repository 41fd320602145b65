import { describe, expect, it } from 'vitest';
import * as dmacheck from './index.ts';

describe('public surface', () => {
  it('exports what a backend outside this repository needs, from one place', () => {
    for (const name of ['createPlatform', 'createSubstrate', 'setUp', 'referenceBackend', 'ReferenceBackend', 'loadBackend', 'PROFILES', 'DMA_MAPPING_ERROR', 'GFP_KERNEL', 'ARCH_SYNC_POLICIES', 'sgEntry', 'physToDma', 'checkProperty', 'runSequence', 'StepsArbitrary', 'PROPERTIES', 'RULES', 'parseTrace']) {
      expect(dmacheck, name).toHaveProperty(name);
    }
    const platform = dmacheck.createPlatform(dmacheck.ARM64_SOC, { seed: 'x' });
    const backend = dmacheck.referenceBackend.create({ platform, mm: dmacheck.createSubstrate(platform) });
    expect(backend.attachDevice('gpu0')).toBe(0);
    expect(backend.mapPage('gpu0', dmacheck.pfn(0x80000), 0, 64, dmacheck.DMA_TO_DEVICE, 0)).toBe(0x8000_0000);
    const r = dmacheck.checkProperty({ property: dmacheck.findProperty('no-leak') as dmacheck.Property, profile: 'arm64-soc', backend: dmacheck.referenceBackend, runs: 5, seed: 1 });
    expect(r.verdict).toBe('holds');
  });
});
