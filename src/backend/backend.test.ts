import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BACKEND_CALLS, supports } from './backend.ts';
import { BackendLoadError, backendFactoryProblem, loadBackend } from './loader.ts';
import { REFERENCE_CAPABILITIES, referenceBackend } from './reference.ts';
import { setUp } from './setup.ts';

const dir = mkdtempSync(join(tmpdir(), 'dmacheck-backend-'));

function module(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('backend capabilities', () => {
  it('the reference backend declares every call on every profile', () => {
    for (const call of BACKEND_CALLS) expect(supports(REFERENCE_CAPABILITIES, call, 'armv7-nommu')).toBe(true);
    expect(supports({ calls: ['mapPage'], attrs: 0, profiles: ['x86-64'] }, 'mapPage', 'arm64-soc')).toBe(false);
    expect(supports({ calls: ['mapPage'], attrs: 0, profiles: ['x86-64'] }, 'mapSg', 'x86-64')).toBe(false);
  });
});

describe('loadBackend', () => {
  it("gives the reference backend for 'reference' or no path", async () => {
    expect(await loadBackend(undefined)).toBe(referenceBackend);
    expect(await loadBackend('reference')).toBe(referenceBackend);
  });

  it('loads a TypeScript module exporting a factory as default or as `backend`, through the same seam', async () => {
    // The modules reach the reference backend through a global, so that tsx does not load a second
    // copy of src/ (whose coverage would shadow this run's).
    (globalThis as Record<string, unknown>).__dmacheckReference = referenceBackend;
    const r = 'globalThis.__dmacheckReference';
    const a = module('a.ts', `export default { name: 'wrapped', capabilities: ${r}.capabilities, create: (env: unknown) => ${r}.create(env) };\n`);
    const b = module('b.ts', `export const backend = { name: 'named', capabilities: ${r}.capabilities, create: (env: unknown) => ${r}.create(env) };\n`);
    const fa = await loadBackend(a);
    expect(fa.name).toBe('wrapped');
    expect((await loadBackend(b)).name).toBe('named');
    const { backend } = setUp('x86-64', { backend: fa });
    expect(backend.getCacheAlignment('nvme0')).toBe(1);
  });

  it('refuses modules that do not export a backend, with one line naming the module and what is accepted', async () => {
    const cases: [string, RegExp][] = [
      [module('none.ts', 'export const x = 1;\n'), /default \(or `backend`\) export (is not an object|has no string `name`); accepted is a BackendFactory/],
      [module('noname.ts', 'export default { create() {} };\n'), /has no string `name`/],
      [module('nocreate.ts', "export default { name: 'x' };\n"), /has no `create\(env\)` function/],
      [module('nocaps.ts', "export default { name: 'x', create() {} };\n"), /has no `capabilities` object/],
      [module('badcall.ts', "export default { name: 'x', create() {}, capabilities: { calls: ['mapBogus'], attrs: 0, profiles: 'all' } };\n"), /unknown call 'mapBogus'/],
      [module('throws.ts', "throw new Error('boom at load');\n"), /the module failed to load: boom at load/],
      [module('plain.js', 'export default 42;\n'), /is not an object/],
      [join(dir, 'missing.ts'), /no such file \(accepted: 'reference', a path to a \.ts\/\.js module, or a \.wasm module of include\/dmacheck\.h\)/],
    ];
    for (const [path, message] of cases) {
      const err = await loadBackend(path).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BackendLoadError);
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).not.toContain('\n');
    }
    expect(backendFactoryProblem({ name: 'x', create() {}, capabilities: { calls: 'all', attrs: 0, profiles: 'all' } })).toBe('has no `capabilities.calls` array');
    expect(backendFactoryProblem({ name: 'x', create() {}, capabilities: { calls: [], profiles: 'all' } })).toBe('has no numeric `capabilities.attrs`');
    expect(backendFactoryProblem({ name: 'x', create() {}, capabilities: { calls: [], attrs: 0, profiles: 3 } })).toMatch(/neither 'all' nor an array/);
    expect(backendFactoryProblem(referenceBackend)).toBeNull();
  });

  it('setUp reports a backend that cannot attach a device', () => {
    const failing = { ...referenceBackend, create: (env: Parameters<typeof referenceBackend.create>[0]) => Object.assign(referenceBackend.create(env), { attachDevice: () => -19 }) };
    expect(() => setUp('x86-64', { backend: failing })).toThrow('reference: attachDevice(nvme0) returned -19');
    const unmasked = { ...referenceBackend, create: (env: Parameters<typeof referenceBackend.create>[0]) => Object.assign(referenceBackend.create(env), { setMaskAndCoherent: () => -5 }) };
    expect(() => setUp('x86-64', { backend: unmasked })).toThrow('dma_set_mask_and_coherent(nvme0, 64) returned -5');
    expect(setUp('x86-64', { maskBits: null, faults: { fragmentation: 0 } }).platform.profile.name).toBe('x86-64');
  });
});
