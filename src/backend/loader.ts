/**
 * Not a kernel mirror: loading a backend from a module path given on the
 * command line (`--backend fixtures/x/mutant.ts`). TypeScript modules are
 * loaded through tsx, JavaScript through Node's import.
 *
 * A module must export a {@link BackendFactory} as `default` or as
 * `backend`. Anything else gives a {@link BackendLoadError} whose one-line
 * message names the module and what is accepted.
 */
import { WasmBackendError, loadWasmBackend } from './wasm.ts';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BACKEND_CALLS, type BackendFactory } from './backend.ts';
import { describeThrown } from './guard.ts';
import referenceBackend from './reference.ts';

/** A backend module that cannot be used; the message is one line. */
export class BackendLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackendLoadError';
  }
}

/** Read `obj[key]`, turning a throwing getter into a problem string. */
function read(obj: Record<string, unknown>, key: string): { value: unknown } | { problem: string } {
  try {
    return { value: obj[key] };
  } catch (err) {
    return { problem: `has a \`${key}\` getter that throws (${describeThrown(err)})` };
  }
}

/** Check that `value` has the shape of a {@link BackendFactory}; returns the problem, or null. Never throws. */
export function backendFactoryProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null) return 'is not an object';
  const v = value as Record<string, unknown>;
  const name = read(v, 'name');
  if ('problem' in name) return name.problem;
  if (typeof name.value !== 'string' || name.value === '') return 'has no string `name`';
  const create = read(v, 'create');
  if ('problem' in create) return create.problem;
  if (typeof create.value !== 'function') return 'has no `create(env)` function';
  const capsR = read(v, 'capabilities');
  if ('problem' in capsR) return capsR.problem;
  const caps = capsR.value as Record<string, unknown> | undefined;
  if (typeof caps !== 'object' || caps === null) return 'has no `capabilities` object';
  const fields: Record<string, unknown> = {};
  for (const k of ['calls', 'attrs', 'profiles', 'levels', 'kernel']) {
    const f = read(caps, k);
    if ('problem' in f) return `capabilities ${f.problem}`;
    fields[k] = f.value;
  }
  if (!Array.isArray(fields.calls)) return 'has no `capabilities.calls` array';
  const unknownCall = (fields.calls as unknown[]).find((c) => !(BACKEND_CALLS as readonly unknown[]).includes(c));
  if (unknownCall !== undefined) return `declares unknown call '${String(unknownCall)}' (accepted: ${BACKEND_CALLS.join(', ')})`;
  if (typeof fields.attrs !== 'number') return 'has no numeric `capabilities.attrs`';
  if (fields.profiles !== 'all' && !(Array.isArray(fields.profiles) && fields.profiles.every((x) => typeof x === 'string'))) return "has `capabilities.profiles` that is neither 'all' nor an array of profile names";
  const levels = ['contract', 'linux', 'hardening'];
  if (fields.levels !== undefined && !(Array.isArray(fields.levels) && fields.levels.length > 0 && fields.levels.every((x) => levels.includes(x as string)))) {
    return `has \`capabilities.levels\` that is not a non-empty array of ${levels.join(', ')}`;
  }
  if (fields.kernel !== undefined && !(typeof fields.kernel === 'string' && /^\d+\.\d+/.test(fields.kernel))) return `has \`capabilities.kernel\` ${JSON.stringify(fields.kernel)} that is not a release such as '6.1'`;
  return null;
}

/**
 * A factory whose fields are plain data read once: `name` and
 * `capabilities` copied out (a module's getters run exactly once, at load),
 * `create` kept as the function it was.
 */
export function snapshotFactory(f: BackendFactory): BackendFactory {
  const caps = f.capabilities;
  const create = f.create;
  return {
    name: f.name,
    capabilities: { calls: [...caps.calls], attrs: caps.attrs, profiles: caps.profiles === 'all' ? 'all' : [...caps.profiles], ...(caps.levels === undefined ? {} : { levels: [...caps.levels] }), ...(caps.kernel === undefined ? {} : { kernel: caps.kernel }) },
    create: (env) => create.call(f, env),
  };
}

/**
 * Load a backend: `reference` (or no path) gives the reference backend;
 * anything else is a module path, relative to the working directory.
 * @throws BackendLoadError when the file is missing, fails to load, or exports no backend
 */
export async function loadBackend(spec: string | undefined): Promise<BackendFactory> {
  if (spec === undefined || spec === 'reference') return referenceBackend;
  const path = resolve(spec);
  if (!existsSync(path)) throw new BackendLoadError(`--backend ${spec}: no such file (accepted: 'reference', a path to a .ts/.js module, or a .wasm module of include/dmacheck.h)`);
  if (path.endsWith('.wasm')) {
    try {
      return snapshotFactory(loadWasmBackend(path));
    } catch (err) {
      if (err instanceof WasmBackendError) throw new BackendLoadError(`--backend ${spec}: ${err.message}`);
      throw err;
    }
  }
  let mod: Record<string, unknown>;
  try {
    if (/\.[cm]?tsx?$/.test(path)) {
      const { tsImport } = await import('tsx/esm/api');
      mod = (await tsImport(pathToFileURL(path).href, import.meta.url)) as Record<string, unknown>;
    } else {
      mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
    }
  } catch (err) {
    throw new BackendLoadError(`--backend ${spec}: the module failed to load: ${describeThrown(err).replace(/^Error: /, '')}`);
  }
  let candidate: unknown;
  try {
    candidate = mod.default ?? mod.backend;
  } catch (err) {
    throw new BackendLoadError(`--backend ${spec}: reading the module's exports threw: ${describeThrown(err)}`);
  }
  // A .ts file outside an ESM package loads as CommonJS: its exports sit one `default` deeper.
  if (typeof candidate === 'object' && candidate !== null && !('name' in candidate)) {
    const inner = candidate as Record<string, unknown>;
    try {
      candidate = inner.default ?? inner.backend ?? candidate;
    } catch {
      // keep the outer object: its problem is reported below
    }
  }
  const problem = backendFactoryProblem(candidate);
  if (problem !== null) {
    throw new BackendLoadError(`--backend ${spec}: the module's default (or \`backend\`) export ${problem}; accepted is a BackendFactory { name, capabilities, create(env) }`);
  }
  return snapshotFactory(candidate as BackendFactory);
}
