/**
 * Not a kernel mirror: loading a backend from a module path given on the
 * command line (`--backend fixtures/x/mutant.ts`). TypeScript modules are
 * loaded through tsx, JavaScript through Node's import.
 *
 * A module must export a {@link BackendFactory} as `default` or as
 * `backend`. Anything else gives a {@link BackendLoadError} whose one-line
 * message names the module and what is accepted.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BACKEND_CALLS, type BackendFactory } from './backend.ts';
import referenceBackend from './reference.ts';

/** A backend module that cannot be used; the message is one line. */
export class BackendLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackendLoadError';
  }
}

/** Check that `value` has the shape of a {@link BackendFactory}; returns the problem, or null. */
export function backendFactoryProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null) return 'is not an object';
  const v = value as Record<string, unknown>;
  if (typeof v.name !== 'string' || v.name === '') return 'has no string `name`';
  if (typeof v.create !== 'function') return 'has no `create(env)` function';
  const caps = v.capabilities as Record<string, unknown> | undefined;
  if (typeof caps !== 'object' || caps === null) return 'has no `capabilities` object';
  if (!Array.isArray(caps.calls)) return 'has no `capabilities.calls` array';
  const unknownCall = (caps.calls as unknown[]).find((c) => !(BACKEND_CALLS as readonly unknown[]).includes(c));
  if (unknownCall !== undefined) return `declares unknown call '${String(unknownCall)}' (accepted: ${BACKEND_CALLS.join(', ')})`;
  if (typeof caps.attrs !== 'number') return 'has no numeric `capabilities.attrs`';
  if (caps.profiles !== 'all' && !Array.isArray(caps.profiles)) return "has `capabilities.profiles` that is neither 'all' nor an array";
  return null;
}

/**
 * Load a backend: `reference` (or no path) gives the reference backend;
 * anything else is a module path, relative to the working directory.
 * @throws BackendLoadError when the file is missing, fails to load, or exports no backend
 */
export async function loadBackend(spec: string | undefined): Promise<BackendFactory> {
  if (spec === undefined || spec === 'reference') return referenceBackend;
  const path = resolve(spec);
  if (!existsSync(path)) throw new BackendLoadError(`--backend ${spec}: no such file (accepted: 'reference' or a path to a .ts/.js module)`);
  let mod: Record<string, unknown>;
  try {
    if (/\.[cm]?tsx?$/.test(path)) {
      const { tsImport } = await import('tsx/esm/api');
      mod = (await tsImport(pathToFileURL(path).href, import.meta.url)) as Record<string, unknown>;
    } else {
      mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
    }
  } catch (err) {
    const first = String(err instanceof Error ? err.message : err).split('\n')[0];
    throw new BackendLoadError(`--backend ${spec}: the module failed to load: ${first}`);
  }
  let candidate = mod.default ?? mod.backend;
  // A .ts file outside an ESM package loads as CommonJS: its exports sit one `default` deeper.
  if (typeof candidate === 'object' && candidate !== null && !('name' in candidate)) {
    const inner = candidate as Record<string, unknown>;
    candidate = inner.default ?? inner.backend ?? candidate;
  }
  const problem = backendFactoryProblem(candidate);
  if (problem !== null) {
    throw new BackendLoadError(`--backend ${spec}: the module's default (or \`backend\`) export ${problem}; accepted is a BackendFactory { name, capabilities, create(env) }`);
  }
  return candidate as BackendFactory;
}
