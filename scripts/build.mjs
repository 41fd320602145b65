// Not a kernel mirror: bundles the command line, its worker and the
// benchmark into dist/ with esbuild, so that workers run plain JavaScript
// (no transpiler on load, no helper calls on hot paths). `dmacheck` calls
// build() itself when dist/ is missing or older than the sources, so a
// clone, an edit or a checkout never runs stale code.
import { mkdirSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const dist = join(root, 'dist');
const stamp = join(dist, '.stamp');
const ENTRIES = { main: 'src/cli/main.ts', worker: 'src/conformance/worker.ts', bench: 'src/cli/bench.ts' };
const SOURCES = ['src', 'properties', 'spec', 'package-lock.json', 'scripts/build.mjs'];

function newest(path) {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let t = st.mtimeMs;
  for (const e of readdirSync(path)) if (!e.endsWith('.test.ts')) t = Math.max(t, newest(join(path, e)));
  return t;
}

/** True when dist/ is missing or older than some source file. */
export function stale() {
  let built;
  try {
    built = statSync(stamp).mtimeMs;
  } catch {
    return true;
  }
  return SOURCES.some((s) => newest(join(root, s)) > built);
}

/** Bundle every entry; each file lands by rename, so concurrent builds never leave a half-written file. */
export async function build() {
  const esbuild = await import('esbuild');
  const tmp = join(dist, `.tmp-${process.pid}`);
  await esbuild.build({
    absWorkingDir: root,
    entryPoints: ENTRIES,
    outdir: tmp,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    sourcemap: 'linked',
    logLevel: 'warning',
  });
  mkdirSync(dist, { recursive: true });
  const fresh = new Set(readdirSync(tmp));
  for (const f of fresh) renameSync(join(tmp, f), join(dist, f));
  // Chunks of earlier builds are content-named and unused now; those older than ten minutes (no run can still be loading them) go.
  for (const f of readdirSync(dist)) {
    if (!f.startsWith('chunk-') || fresh.has(f)) continue;
    try {
      if (Date.now() - statSync(join(dist, f)).mtimeMs > 600_000) (await import('node:fs')).rmSync(join(dist, f), { force: true });
    } catch {
      // removed meanwhile
    }
  }
  writeFileSync(stamp, `${new Date().toISOString()}\n`);
  try {
    (await import('node:fs')).rmSync(tmp, { recursive: true, force: true });
  } catch {
    // another build may have removed it
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await build();
