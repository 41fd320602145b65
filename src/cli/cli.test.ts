import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify, stripVTControlCharacters as plain } from 'node:util';
import { describe, expect, it } from 'vitest';
import { X86_64 } from '../platform/profiles.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const bin = join(here, 'dmacheck.js');
const exec = promisify(execFile);
const dmacheck = (...args: string[]) =>
  exec(process.execPath, [bin, ...args], { cwd: root }).then(
    (r) => ({ code: 0, stdout: plain(r.stdout), stderr: plain(r.stderr) }),
    // Colours stay on where picocolors turns them on (a terminal, or CI=...); assertions read the plain text.
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: plain(e.stdout), stderr: plain(e.stderr) }),
  );
const tmp = mkdtempSync(join(tmpdir(), 'dmacheck-cli-'));

describe('dmacheck run', () => {
  it('prints the verdict table and exits 0 when everything holds', async () => {
    const json = join(tmp, 'ok.json');
    const r = await dmacheck('run', '--profile', 'arm64-soc,x86-64', '--property', 'no-leak,no-stale-cpu-read', '--runs', '10', '--json', json, '--out', join(tmp, 'out'));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/│ no-leak +│ holds 10\/[\d,]+( \[\d+\])? +│ holds 10\/[\d,]+( \[\d+\])? +│/);
    expect(r.stdout).toMatch(/total: 4 checks, 4 hold, 0 violated · 40 runs/);
    const doc = JSON.parse(readFileSync(json, 'utf8'));
    expect(doc.cells).toHaveLength(4);
    expect(doc.cells.every((c: { verdict: string }) => c.verdict === 'holds')).toBe(true);
  });

  it('on a violation prints property, rule, evidence, shrunk trace and the replay command, writes the trace, exits 1', async () => {
    const out = join(tmp, 'fail');
    const r = await dmacheck('run', '--backend', 'fixtures/get-sgtable-dma-as-phys/mutant.ts', '--profile', 'arm64-soc', '--property', 'sgtable-describes-buffer', '--runs', '50', '--out', out);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('✗ sgtable-describes-buffer violated on arm64-soc');
    expect(r.stdout).toContain('check sgtable-describes-buffer/wrong-pages [level=contract]');
    expect(r.stdout).toContain('R1: A `dma_addr_t` is a device-side bus address');
    expect(r.stdout).toMatch(/evidence: sg table of b1 names another page \[page_index=0\] \[expected_phys=0x[0-9a-f]{8}\] \[seen_phys=0x[0-9a-f]+\]/);
    expect(r.stdout).toMatch(/1 {2}b1 = dma_alloc_attrs\((vpu0|dsp0), \d+, GFP_KERNEL, 0\)/);
    const file = r.stdout.match(/trace written to (\S+)/)?.[1] as string;
    expect(file).toMatch(/failures\/get-sgtable-dma-as-phys-[0-9a-f]{8}\/sgtable-describes-buffer--arm64-soc\.json$/);
    expect(r.stdout).toContain(`replay: npx dmacheck replay ${file} --backend fixtures/get-sgtable-dma-as-phys/mutant.ts`);
    const replay = await dmacheck('replay', file);
    expect(replay.code).toBe(1);
    expect(replay.stdout).toContain('✗ sgtable-describes-buffer at step 2');
    // The stored failure is replayed first on the next run (regression store).
    const again = await dmacheck('run', '--backend', 'fixtures/get-sgtable-dma-as-phys/mutant.ts', '--profile', 'arm64-soc', '--property', 'sgtable-describes-buffer', '--runs', '50', '--seed', '3', '--out', out);
    expect(again.stdout).toContain(`replaying stored failure ${file} (recorded with --seed 1; new sequences use --seed 3)`);
    expect(again.stdout).toContain('(run 1, shrunk 0 times to 2 steps)');
    // The store is keyed by backend: the reference passing does not remove the mutant's failure.
    const ok = await dmacheck('run', '--profile', 'arm64-soc', '--property', 'sgtable-describes-buffer', '--runs', '5', '--out', out);
    expect(ok.code).toBe(0);
    expect(readFileSync(file, 'utf8')).toContain('"property": "sgtable-describes-buffer"');
  });

  it('a stored failure that now passes is reported fixed and removed; a corrupted one is moved aside', async () => {
    const out = join(tmp, 'store');
    const file = join(out, 'failures', 'reference', 'no-leak--x86-64.json');
    mkdirSync(dirname(file), { recursive: true });
    copyFileSync('fixtures/nkm-cookie-free/trace.json', file);
    const r = await dmacheck('run', '--profile', 'x86-64', '--property', 'no-leak', '--runs', '5', '--out', out);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`replaying stored failure ${file}`);
    expect(r.stdout).toContain(`fixed: no-leak on x86-64: stored failure ${file} now passes; removed`);
    expect(existsSync(file)).toBe(false);
    writeFileSync(file, '{ not json');
    const c = await dmacheck('run', '--profile', 'x86-64', '--property', 'no-leak', '--runs', '5', '--out', out);
    expect(c.code).toBe(0);
    expect(c.stdout).toContain(`warning: stored failure ${file} is unreadable (`);
    expect(readFileSync(`${file}.corrupt`, 'utf8')).toBe('{ not json');
  });

  it('--jobs 1 and --jobs 2 print the same table and the same traces', async () => {
    const args = ['run', '--backend', 'fixtures/sync-for-cpu-no-invalidate/mutant.ts', '--profile', 'arm64-soc,armv7-highmem', '--property', 'no-stale-cpu-read,no-leak,no-oops', '--runs', '30'];
    const one = await dmacheck(...args, '--jobs', '1', '--out', join(tmp, 'j1'));
    const two = await dmacheck(...args, '--jobs', '2', '--out', join(tmp, 'j2'));
    expect(one.code).toBe(1);
    const body = (o: string, dir: string) => o.replace(/^time: .*$/m, '').replaceAll(dir, '<out>').replace(/jobs=\d/, '');
    expect(body(two.stdout, join(tmp, 'j2'))).toBe(body(one.stdout, join(tmp, 'j1')));
    expect(one.stdout).toMatch(/^time: [\d.]+ s wall, [\d.]+ s CPU, 1 worker$/m);
  });

  it('the same --seed gives a byte-identical trace', async () => {
    const args = ['run', '--backend', 'fixtures/sync-for-cpu-no-invalidate/mutant.ts', '--profile', 'armv7-highmem', '--property', 'no-stale-cpu-read', '--runs', '100', '--seed', '9'];
    await dmacheck(...args, '--out', join(tmp, 'a'));
    await dmacheck(...args, '--out', join(tmp, 'b'));
    const dir = readdirSync(join(tmp, 'a', 'failures'))[0] as string;
    const name = join('failures', dir, 'no-stale-cpu-read--armv7-highmem.json');
    const a = readFileSync(join(tmp, 'a', name));
    expect(a.length).toBeGreaterThan(100);
    expect(readFileSync(join(tmp, 'b', name)).equals(a)).toBe(true);
  });

  it('bad input: exit 2 before any work, with one line naming the bad value and what is accepted', async () => {
    const dir = join(tmp, 'a-directory');
    mkdirSync(dir, { recursive: true });
    const cases: [string[], RegExp][] = [
      [['run', '--profile', 'sparc'], /^dmacheck: --profile sparc: accepted are x86-64, arm64-soc, arm64-smmu, armv7-highmem, armv7-iommu, armv7-nommu, cc-guest$/],
      [['run', '--property', 'fast'], /^dmacheck: --property fast: accepted are no-stale-cpu-read, /],
      [['run', '--runs', '0'], /^dmacheck: --runs 0: accepted is an integer from 1 to 1000000$/],
      [['run', '--runs', '-1'], /^dmacheck: --runs -1: accepted is an integer from 1 to 1000000$/],
      [['run', '--runs', '1000001'], /^dmacheck: --runs 1000001: accepted is an integer from 1 to 1000000$/],
      [['run', '--max-steps', '20000'], /^dmacheck: --max-steps 20000: accepted is an integer from 1 to 10000$/],
      [['run', '--seed', 'x'], /^dmacheck: --seed x: accepted is an integer from -2147483648 to 2147483647$/],
      [['run', '--seed', '4294967297'], /^dmacheck: --seed 4294967297: accepted is an integer from -2147483648 to 2147483647$/],
      [['run', '--jobs', '0'], /^dmacheck: --jobs 0: accepted is an integer from 1 to 256$/],
      [['run', '--call-timeout', 'soon'], /^dmacheck: --call-timeout soon: accepted is a time from 100ms to 60m, such as 10s, 500ms or 2m$/],
      [['run', '--frob'], /^dmacheck: unknown option '--frob': accepted are --backend, --profile, --property, --runs, --seed, --max-steps, --jobs, --call-timeout, --json, --junit, --coverage, --misuse, --out, --device, --profile-file$/],
      [['run', '--json', '/proc/x.json'], /^dmacheck: --json \/proc\/x\.json: cannot be written \(\w+\); accepted is a file path in an existing, writable directory$/],
      [['run', '--json', dir], /^dmacheck: --json .*a-directory: is a directory; accepted is a file path/],
      [['run', '--junit', '/no/such/dir/r.xml'], /^dmacheck: --junit \/no\/such\/dir\/r\.xml: cannot be written/],
      [['run', '--out', '/proc/x'], /^dmacheck: --out \/proc\/x: cannot be created or written \(\w+\); accepted is a writable directory$/],
      [['run', '--out', 'package.json'], /^dmacheck: --out package\.json: cannot be created or written \(ENOTDIR/],
      [['run', '--backend', 'no/such/module.ts'], /^dmacheck: --backend no\/such\/module\.ts: no such file/],
      [['fly'], /^dmacheck: unknown command 'fly': accepted are run, fuzz, replay, explain, check-types, kernel-check$/],
      [['kernel-check', '--arch', 'sparc'], /^dmacheck: --arch sparc: accepted are x86_64, arm64$/],
      [['kernel-check', '--model', 'no/such.ts'], /^dmacheck: --model no\/such\.ts: no such file \(accepted: 'reference' \(as the booted release behaved\), 'mainline', or a path to a backend module\)$/],
      [['kernel-check', '--runs', '0'], /^dmacheck: --runs 0: /],
      [['run', '--device', 'floppy0'], /^dmacheck: --device floppy0: accepted are nvme0, nic0, isa0, /],
      [['run', '--profile-file', 'no-such.json'], /^dmacheck: --profile-file no-such\.json: cannot read the file/],
      [['run', '--profile-file', 'package.json'], /^dmacheck: --profile-file package\.json: \w+: /],
      [['check-types', 'no-such.ts'], /^dmacheck: check-types no-such\.ts: no such file/],
      [['replay'], /^dmacheck: replay takes one trace file/],
      [['replay', 'no-such.json'], /^dmacheck: no-such.json: cannot read the trace file/],
      [['explain', 'R99'], /^dmacheck: explain R99: accepted are a rule id R1\.\.R56 or a property: /],
    ];
    for (const [args, message] of cases) {
      const r = await dmacheck(...args);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr.trim()).toMatch(message);
      expect(r.stdout).toBe('');
    }
    const bad = join(tmp, 'bad.json');
    writeFileSync(bad, JSON.stringify({ format: 'dmacheck-trace', version: 1 }));
    const r = await dmacheck('replay', bad);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/bad\.json: property: /);
  });

  it('writes JSON and JUnit reports with the verdicts and the times', async () => {
    const json = join(tmp, 'r.json');
    const xml = join(tmp, 'r.xml');
    const r = await dmacheck('run', '--profile', 'x86-64,armv7-nommu', '--property', 'no-leak,cma-falls-back-cleanly', '--runs', '3', '--json', json, '--junit', xml, '--out', join(tmp, 'rep'));
    expect(r.code).toBe(0);
    const doc = JSON.parse(readFileSync(json, 'utf8'));
    expect(doc.cells.map((c: { verdict: string }) => c.verdict)).toEqual(['holds', 'n/a', 'holds', 'n/a']);
    expect(doc.wallSeconds).toBeGreaterThan(0);
    expect(doc.cpuSeconds).toBeGreaterThan(0);
    const text = readFileSync(xml, 'utf8');
    expect(text).toContain('<testsuite name="dmacheck x86-64" tests="2" failures="0" errors="0" skipped="1"');
    expect(text).toContain('<testcase classname="dmacheck.x86-64" name="no-leak"');
  });
});

describe('dmacheck replay and explain', () => {
  it('replays a fixture on the reference: every property holds, exit 0', async () => {
    const r = await dmacheck('replay', 'fixtures/nkm-cookie-mmap/trace.json', '--backend', 'reference');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('u1 = dma_mmap_attrs(b1)');
    expect(r.stdout).toContain('every property holds');
  });

  it('explains a rule and a property', async () => {
    const rule = await dmacheck('explain', 'R25');
    expect(rule.code).toBe(0);
    expect(rule.stdout).toContain('R25 (Coherent allocations): With `DMA_ATTR_NO_KERNEL_MAPPING`');
    expect(rule.stdout).toMatch(/enforced by: .*cookie-never-dereferenced/);
    const prop = await dmacheck('explain', 'no-stale-cpu-read');
    expect(prop.code).toBe(0);
    expect(prop.stdout).toContain('stale-read [level=contract]: a CPU read of a streaming buffer the CPU owns');
    expect(prop.stdout).toContain('R35: After mapping, the buffer belongs to the device');
    expect(prop.stdout).toMatch(/allows: bytes a DMA_FROM_DEVICE mapping was allowed to discard/);
    const cma = await dmacheck('explain', 'cma-falls-back-cleanly');
    expect(cma.stdout).toContain('no-buddy-fallback [level=linux]');
    expect(cma.stdout).toContain('see kernel/dma/direct.c __dma_direct_alloc_pages');
  });

  it('type-checks a backend module: clean exits 0, a type error exits 2 with the first compiler error', async () => {
    const ok = await dmacheck('check-types', 'examples/simple-direct/backend.ts');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/type-checks/);
    const bad = join(tmp, 'bad-types.ts');
    writeFileSync(bad, `import type { DmaBackend } from '${join(root, 'src/index.ts')}';\nconst b: DmaBackend = { name: 3 };\nexport default b;\n`);
    const r = await dmacheck('check-types', bad);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/bad-types\.ts\(2\): error TS\d+: /);
  });
});

describe('dmacheck run on a backend\'s own terms', () => {
  it('--device restricts the run to the named devices, --profile-file loads a platform through the validator', async () => {
    const profile = { ...JSON.parse(JSON.stringify(X86_64)), name: 'my-pc', devices: [{ name: 'nic7', coherent: true, addressBits: 32 }] };
    const file = join(tmp, 'my-pc.json');
    writeFileSync(file, JSON.stringify(profile));
    const r = await dmacheck('run', '--profile-file', file, '--profile', 'my-pc,x86-64', '--device', 'nic7,nvme0', '--property', 'no-leak', '--runs', '5', '--json', join(tmp, 'dev.json'), '--out', join(tmp, 'dev'));
    expect(r.code).toBe(0);
    const doc = JSON.parse(readFileSync(join(tmp, 'dev.json'), 'utf8'));
    expect(doc.cells.map((c: { profile: string; verdict: string }) => `${c.profile}:${c.verdict}`)).toEqual(['my-pc:holds', 'x86-64:holds']);
    const m = await dmacheck('run', '--backend', 'fixtures/sync-for-cpu-no-invalidate/mutant.ts', '--profile', 'arm64-soc', '--device', 'gpu0', '--property', 'no-stale-cpu-read', '--runs', '100', '--json', join(tmp, 'gpu.json'), '--out', join(tmp, 'gpu'));
    expect(m.code).toBe(1);
    const trace = JSON.parse(readFileSync(join(tmp, 'gpu.json'), 'utf8')).cells[0].trace as { dev?: string }[];
    expect(new Set(trace.filter((t) => t.dev !== undefined).map((t) => t.dev))).toEqual(new Set(['gpu0']));
    const broken = join(tmp, 'broken.json');
    writeFileSync(broken, JSON.stringify({ ...profile, cache: { lineSizeBytes: 48, partialLinePolicy: 'discard' } }));
    const b = await dmacheck('run', '--profile-file', broken);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/profile my-pc: cache.lineSizeBytes=48: accepted is a power of two in 16\.\.256/);
  });
});

describe('dmacheck fuzz', () => {
  it('prints the consequence matrix, writes one replayable example per cell, and exits 0 with no dma-debug false positive', async () => {
    const out = join(tmp, 'fuzz');
    const json = join(tmp, 'fuzz.json');
    const r = await dmacheck('fuzz', '--profile', 'arm64-soc,armv7-highmem', '--runs', '40', '--out', out, '--json', json);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/│ misuse +│ arm64-soc +│ armv7-highmem +│/);
    expect(r.stdout).toMatch(/│ syncWrongDirection +│/);
    expect(r.stdout).toMatch(/dma-debug: D11 (\d+)\/\1/);
    expect(r.stdout).toMatch(/total: 2 profiles · 80 sequences · [\d,]+ steps · 0 problems/);
    const doc = JSON.parse(readFileSync(json, 'utf8'));
    const file = Object.values(doc.results[0].rows[0].exampleFiles as Record<string, string>)[0] as string;
    expect(existsSync(file)).toBe(true);
    const replay = await dmacheck('replay', file);
    expect(replay.stdout).toMatch(/misuse \w+: dma-debug/);
  });

  it('--misuse on run keeps every property holding for the memory no misuse touched', async () => {
    const r = await dmacheck('run', '--misuse', '--profile', 'arm64-soc', '--property', 'no-stale-cpu-read,debug-flags-misuse', '--runs', '20', '--out', join(tmp, 'misuse'));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/total: 2 checks, 2 hold/);
  });

  it('bad input: exit 2 with one line', async () => {
    const r = await dmacheck('fuzz', '--runs', 'many');
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('many');
  });
});
