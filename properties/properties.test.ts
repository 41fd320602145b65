import { describe, expect, it } from 'vitest';
import referenceBackend from '../src/backend/reference.ts';
import type { BackendFactory } from '../src/backend/backend.ts';
import { checkProperty } from '../src/conformance/runner.ts';
import { PROFILES, getProfile } from '../src/platform/profiles.ts';
import { RULES } from '../spec/rules.ts';
import getSgtableDmaAsPhys from '../fixtures/get-sgtable-dma-as-phys/mutant.ts';
import nkmCookieGetSgtable from '../fixtures/nkm-cookie-get-sgtable/mutant.ts';
import iommuForceContiguousIgnored from '../fixtures/iommu-force-contiguous-ignored/mutant.ts';
import swiotlbIgnoresMinAlignMask from '../fixtures/swiotlb-ignores-min-align-mask/mutant.ts';
import swiotlbMapCopyToDeviceOnly from '../fixtures/swiotlb-map-copy-to-device-only/mutant.ts';
import syncForCpuNoInvalidate from '../fixtures/sync-for-cpu-no-invalidate/mutant.ts';
import atomicPoolBypassed from '../fixtures/atomic-pool-bypassed/mutant.ts';
import cmaFailureNoBuddyFallback from '../fixtures/cma-failure-no-buddy-fallback/mutant.ts';
import globalPoolCachedAlias from '../fixtures/global-pool-cached-alias/mutant.ts';
import cmaInAtomicContext from '../fixtures/cma-in-atomic-context/mutant.ts';
import devPoolFallsBackWhenFull from '../fixtures/dev-pool-falls-back-when-full/mutant.ts';
import noncoherentUncachedFallback from '../fixtures/noncoherent-uncached-fallback/mutant.ts';
import swiotlbAllocSlotsInUse from '../fixtures/swiotlb-alloc-slots-in-use/mutant.ts';
import { whyNot } from '../src/conformance/property.ts';
import { PROPERTIES, findProperty } from './index.ts';
import { CHECK_MUTANTS } from './mutants.ts';
import { DEBUG_MUTANTS } from './debug-mutants.ts';
import type { DebugFactory } from '../src/conformance/debugged.ts';

describe('properties', () => {
  it('have unique names and checks, each with a level, a summary and known rules or a kernel source', () => {
    expect(new Set(PROPERTIES.map((p) => p.name)).size).toBe(PROPERTIES.length);
    for (const p of PROPERTIES) {
      expect(p.summary.length).toBeGreaterThan(10);
      expect(p.checks.length).toBeGreaterThan(0);
      expect(new Set(p.checks.map((c) => c.id)).size).toBe(p.checks.length);
      for (const c of p.checks) {
        expect(['contract', 'linux', 'hardening']).toContain(c.level);
        expect(c.summary.length).toBeGreaterThan(10);
        expect(c.rules.length > 0 || (c.see ?? '').length > 0).toBe(true);
        for (const r of c.rules) expect(RULES[r]).toBeDefined();
      }
    }
  });

  for (const profile of Object.keys(PROFILES)) {
    it(`every property holds on the reference backend on ${profile}`, () => {
      for (const p of PROPERTIES) {
        const why = whyNot(p, { profile: getProfile(profile), capabilities: referenceBackend.capabilities });
        // Only the bounce-buffer, CMA, coherent-pool and encryption properties may sit out, and only where the profile has no such thing.
        if (why !== null) {
          expect(['the profile has no swiotlb', 'the profile has no CMA area', 'the profile has no coherent pool', 'the profile does not encrypt memory', 'the profile has no MMIO a device can target']).toContain(why);
          continue;
        }
        const r = checkProperty({ property: p, profile, backend: referenceBackend, runs: 40, seed: 7 });
        expect({ property: p.name, verdict: r.verdict, violations: r.counterexample?.violations.map((v) => v.message) ?? [] }).toEqual({ property: p.name, verdict: 'holds', violations: [] });
        expect(r.steps).toBeGreaterThan(0);
      }
    });
  }

  // Every check must be shown to fail on a backend that breaks it: each mutant is searched with its
  // property reduced to that one check, so the failure found is that check's.
  const breakers: { property: string; check: string; profile: string; backend: BackendFactory; debug?: DebugFactory }[] = [
    ...CHECK_MUTANTS,
    // debug-flags-misuse judges dma-debug itself: its mutants are regressions of the dma-debug model, on the reference backend.
    ...DEBUG_MUTANTS.map((m) => ({ property: 'debug-flags-misuse', check: m.check, profile: m.profile, backend: { ...referenceBackend, name: `reference with dma-debug ${m.name}` }, debug: m.debug })),
    { property: 'no-stale-cpu-read', check: 'stale-read', profile: 'armv7-highmem', backend: syncForCpuNoInvalidate },
    { property: 'cookie-never-dereferenced', check: 'cookie-dereferenced', profile: 'x86-64', backend: nkmCookieGetSgtable },
    { property: 'sgtable-describes-buffer', check: 'wrong-pages', profile: 'arm64-soc', backend: getSgtableDmaAsPhys },
    { property: 'bounce-preserves-data', check: 'bounced-data-differs', profile: 'cc-guest', backend: swiotlbMapCopyToDeviceOnly },
    { property: 'swiotlb-slots-sound', check: 'min-align-bits-dropped', profile: 'cc-guest', backend: swiotlbIgnoresMinAlignMask },
    { property: 'swiotlb-slots-sound', check: 'overlaps-live', profile: 'arm64-soc', backend: swiotlbAllocSlotsInUse },
    { property: 'cma-falls-back-cleanly', check: 'no-buddy-fallback', profile: 'arm64-soc', backend: cmaFailureNoBuddyFallback },
    { property: 'cma-falls-back-cleanly', check: 'cma-non-blocking', profile: 'arm64-soc', backend: cmaInAtomicContext },
    { property: 'atomic-context-never-sleeps', check: 'sleeps-in-atomic', profile: 'arm64-soc', backend: cmaInAtomicContext },
    { property: 'atomic-context-never-sleeps', check: 'not-from-atomic-pool', profile: 'arm64-soc', backend: atomicPoolBypassed },
    { property: 'coherent-pool-sound', check: 'cached-mapping', profile: 'armv7-nommu', backend: globalPoolCachedAlias },
    { property: 'coherent-pool-sound', check: 'stale-read', profile: 'armv7-nommu', backend: globalPoolCachedAlias },
    { property: 'coherent-pool-sound', check: 'outside-device-pool', profile: 'arm64-soc', backend: devPoolFallsBackWhenFull },
    { property: 'allocation-contract', check: 'noncoherent-not-cacheable', profile: 'arm64-soc', backend: noncoherentUncachedFallback },
    { property: 'allocation-contract', check: 'force-contiguous-scattered', profile: 'arm64-smmu', backend: iommuForceContiguousIgnored },
  ];
  it('every check of every property has a mutant that breaks it', () => {
    const all = PROPERTIES.flatMap((p) => p.checks.map((c) => `${p.name}/${c.id}`));
    expect(new Set(breakers.map((b) => `${b.property}/${b.check}`))).toEqual(new Set(all));
  });
  for (const b of breakers) {
    it(`${b.property}/${b.check} fails on ${b.backend.name} (${b.profile})`, () => {
      const p = findProperty(b.property) as NonNullable<ReturnType<typeof findProperty>>;
      const only = { ...p, checks: p.checks.filter((c) => c.id === b.check) };
      const r = checkProperty({ property: only, profile: b.profile, backend: b.backend, runs: 300, seed: 1, ...(b.debug === undefined ? {} : { debug: b.debug }) });
      expect(r.verdict).toBe('violated');
      expect(r.counterexample?.violations[0]).toMatchObject({ property: b.property, check: b.check });
      expect(r.counterexample?.violations[0]?.message).toMatch(/\[[a-z_]+=/);
    });
  }
});

describe('misuse mode', () => {
  for (const profile of ['arm64-soc', 'arm64-smmu', 'armv7-highmem', 'armv7-iommu', 'cc-guest']) {
    it(`every property still holds on ${profile} for the memory no misuse touched`, () => {
      for (const p of PROPERTIES) {
        if (whyNot(p, { profile: getProfile(profile), capabilities: referenceBackend.capabilities }) !== null) continue;
        const r = checkProperty({ property: p, profile, backend: referenceBackend, runs: 25, seed: 3, misuse: true });
        expect({ property: p.name, verdict: r.verdict, violations: r.counterexample?.violations.map((v) => v.message) ?? [] }).toEqual({ property: p.name, verdict: 'holds', violations: [] });
      }
    });
  }
});
