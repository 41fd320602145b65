import { describe, expect, it } from 'vitest';
import referenceBackend from '../src/backend/reference.ts';
import type { BackendFactory } from '../src/backend/backend.ts';
import { checkProperty } from '../src/conformance/runner.ts';
import { PROFILES, getProfile } from '../src/platform/profiles.ts';
import { RULES } from '../spec/rules.ts';
import getSgtableDmaAsPhys from '../fixtures/get-sgtable-dma-as-phys/mutant.ts';
import nkmCookieGetSgtable from '../fixtures/nkm-cookie-get-sgtable/mutant.ts';
import swiotlbIgnoresMinAlignMask from '../fixtures/swiotlb-ignores-min-align-mask/mutant.ts';
import swiotlbMapCopyToDeviceOnly from '../fixtures/swiotlb-map-copy-to-device-only/mutant.ts';
import syncForCpuNoInvalidate from '../fixtures/sync-for-cpu-no-invalidate/mutant.ts';
import atomicPoolBypassed from '../fixtures/atomic-pool-bypassed/mutant.ts';
import cmaFailureNoBuddyFallback from '../fixtures/cma-failure-no-buddy-fallback/mutant.ts';
import globalPoolCachedAlias from '../fixtures/global-pool-cached-alias/mutant.ts';
import { PROPERTIES, findProperty } from './index.ts';
import { PROPERTY_MUTANTS } from './mutants.ts';

describe('properties', () => {
  it('have unique names, a summary and known rules', () => {
    expect(new Set(PROPERTIES.map((p) => p.name)).size).toBe(PROPERTIES.length);
    for (const p of PROPERTIES) {
      expect(p.summary.length).toBeGreaterThan(10);
      expect(p.rules.length).toBeGreaterThan(0);
      for (const r of p.rules) expect(RULES[r]).toBeDefined();
    }
  });

  for (const profile of Object.keys(PROFILES)) {
    it(`every property holds on the reference backend on ${profile}`, () => {
      for (const p of PROPERTIES) {
        const why = p.needs({ profile: getProfile(profile), capabilities: referenceBackend.capabilities });
        // Only the bounce-buffer, CMA and coherent-pool properties may sit out, and only where the profile has no such thing.
        if (why !== null) {
          expect(['the profile has no swiotlb', 'the profile has no CMA area', 'the profile has no coherent pool']).toContain(why);
          continue;
        }
        const r = checkProperty({ property: p, profile, backend: referenceBackend, runs: 40, seed: 7 });
        expect({ property: p.name, verdict: r.verdict, violations: r.counterexample?.violations.map((v) => v.message) ?? [] }).toEqual({ property: p.name, verdict: 'holds', violations: [] });
        expect(r.steps).toBeGreaterThan(0);
      }
    });
  }

  // Every property must be shown to fail on a backend that breaks it.
  const breakers: { property: string; profile: string; backend: BackendFactory }[] = [
    ...PROPERTY_MUTANTS,
    { property: 'no-stale-cpu-read', profile: 'armv7-highmem', backend: syncForCpuNoInvalidate },
    { property: 'cookie-never-dereferenced', profile: 'x86-64', backend: nkmCookieGetSgtable },
    { property: 'sgtable-describes-buffer', profile: 'arm64-soc', backend: getSgtableDmaAsPhys },
    { property: 'bounce-preserves-data', profile: 'cc-guest', backend: swiotlbMapCopyToDeviceOnly },
    { property: 'swiotlb-slots-sound', profile: 'cc-guest', backend: swiotlbIgnoresMinAlignMask },
    { property: 'cma-falls-back-cleanly', profile: 'arm64-soc', backend: cmaFailureNoBuddyFallback },
    { property: 'atomic-context-never-sleeps', profile: 'arm64-soc', backend: atomicPoolBypassed },
    { property: 'coherent-pool-sound', profile: 'armv7-nommu', backend: globalPoolCachedAlias },
  ];
  it('every property has a mutant that breaks it', () => {
    expect(new Set(breakers.map((b) => b.property))).toEqual(new Set(PROPERTIES.map((p) => p.name)));
  });
  for (const b of breakers) {
    it(`${b.property} fails on ${b.backend.name} (${b.profile})`, () => {
      const r = checkProperty({ property: findProperty(b.property) as NonNullable<ReturnType<typeof findProperty>>, profile: b.profile, backend: b.backend, runs: 200, seed: 1 });
      expect(r.verdict).toBe('violated');
      expect(r.counterexample?.violations[0]?.property).toBe(b.property);
      expect(r.counterexample?.violations[0]?.message).toMatch(/\[[a-z_]+=/);
    });
  }
});
