import { describe, expect, it } from 'vitest';
import { PROPERTIES, type BackendFactory, checkProperty, getProfile, whyNot } from '../../src/index.ts';
import simpleDirect, { SimpleDirect } from './backend.ts';

/** Every property that applies to `backend` on x86-64, searched at its claimed levels. */
function verdicts(backend: BackendFactory, runs: number): { property: string; verdict: string; why: string | null }[] {
  return PROPERTIES.map((p) => {
    const why = whyNot(p, { profile: getProfile('x86-64'), capabilities: backend.capabilities });
    if (why !== null) return { property: p.name, verdict: 'n/a', why };
    const r = checkProperty({ property: p, profile: 'x86-64', backend, runs, seed: 3 });
    return { property: p.name, verdict: r.verdict, why: r.counterexample?.violations[0]?.message ?? r.counterexample?.oops ?? null };
  });
}

describe('an independent backend written against src/index.ts only', () => {
  it('holds every contract check on x86-64: no false positive', () => {
    const v = verdicts(simpleDirect, 60);
    expect(v.filter((x) => x.verdict !== 'holds' && x.verdict !== 'n/a')).toEqual([]);
    expect(v.filter((x) => x.verdict === 'holds').length).toBeGreaterThanOrEqual(11);
    // Linux's own choices and the reference's hardening are not held against it.
    expect(v.find((x) => x.property === 'bad-input-is-refused')?.why).toMatch(/no check at a level the backend claims/);
  });

  it('declaring fewer calls is honoured: without get_sgtable (which now throws) it still holds, and that property is n/a', () => {
    const calls = simpleDirect.capabilities.calls.filter((c) => c !== 'getSgtableAttrs');
    const fewer: BackendFactory = {
      name: 'simple-direct-no-sgtable',
      capabilities: { ...simpleDirect.capabilities, calls },
      create: (env) => {
        const b = new SimpleDirect(env);
        b.getSgtableAttrs = () => {
          throw new Error('get_sgtable is not implemented');
        };
        return b;
      },
    };
    const v = verdicts(fewer, 40);
    expect(v.filter((x) => x.verdict !== 'holds' && x.verdict !== 'n/a')).toEqual([]);
    expect(v.find((x) => x.property === 'sgtable-describes-buffer')).toMatchObject({ verdict: 'n/a', why: 'backend does not declare getSgtableAttrs' });
  });

  it('a bug put into it is found: a bounce buffer never copied back on unmap', () => {
    const buggy: BackendFactory = {
      ...simpleDirect,
      name: 'simple-direct-no-copy-back',
      create: (env) => {
        const b = new SimpleDirect(env);
        b.unmapSingle = () => {};
        return b;
      },
    };
    const p = PROPERTIES.find((x) => x.name === 'bounce-preserves-data');
    const r = checkProperty({ property: p as NonNullable<typeof p>, profile: 'x86-64', backend: buggy, runs: 200, seed: 1 });
    expect(r.verdict).toBe('violated');
  });
});
