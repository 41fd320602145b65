/**
 * Not a kernel mirror: `dmacheck kernel-check`, the differential run
 * against a real Linux kernel (see `src/conformance/differential.ts` for
 * what is compared). It builds the `dmacheck_kcheck` module against the
 * distribution kernel's headers, packs it with busybox and the virtio
 * console modules into an initramfs together with the encoded driver
 * sequences, boots the kernel in QEMU (TCG; `swiotlb=2048,force`), reads
 * the kernel's answer back over virtio-serial, runs the same sequences on
 * the model, and compares. A disagreement is shrunk the way fast-check
 * shrinks a failure, a batch of candidates per boot, and printed with both
 * observations, the trace and the command that replays it.
 *
 * Everything it needs comes from `npm run kernel-check:setup` (Debian's
 * packages; the kernel image unpacked under `.kernel-check/`, never
 * installed on the host).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import fc from 'fast-check';
import pc from 'picocolors';
import { root } from '../../scripts/build.mjs';
import type { BackendFactory } from '../backend/backend.ts';
import { historyOf, referenceAsOf } from '../backend/history.ts';
import { loadBackend } from '../backend/loader.ts';
import { KERNEL_CHECK_DEVICES, KERNEL_CHECK_WEIGHTS, type KernelRecord, type SequenceComparison, compareSequence, decodeResults, encodeSequences, withTeardown } from '../conformance/differential.ts';
import { StepsArbitrary, profileGeneratorOptions, shrinkSteps } from '../conformance/generator.ts';
import { renderListing } from '../conformance/report.ts';
import { platformSeedOf } from '../conformance/runner.ts';
import { type Trace, makeTrace, parseTrace, serializeTrace } from '../conformance/trace.ts';
import type { Step } from '../conformance/steps.ts';
import { QEMU_X86_64, profileNames, registerProfile } from '../platform/profiles.ts';

/** Bad input or a missing setup: one line, exit 2. */
export class KernelCheckError extends Error {}

/** Options of {@link kernelCheck}. */
export interface KernelCheckOptions {
  readonly arch: 'x86_64' | 'arm64';
  readonly runs: number;
  readonly seed: number;
  readonly maxSteps: number;
  /** The model side: `reference` (the reference as the booted release behaved, see `referenceAsOf`), `mainline` (today's reference), or a backend module (a mutant). */
  readonly model: string;
  /** Replay this trace instead of generating sequences. */
  readonly trace: string | null;
  /** Where traces of disagreements go. */
  readonly out: string;
  readonly write: (s: string) => void;
}

const MODULES = ['virtio/virtio.ko', 'virtio/virtio_ring.ko', 'virtio/virtio_pci_legacy_dev.ko', 'virtio/virtio_pci_modern_dev.ko', 'virtio/virtio_pci.ko', 'char/virtio_console.ko'];

/** The guest's init: load the modules in dependency order, feed the steps to the module, send its answer out, power off. */
const init = (order: readonly string[]) => `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t devtmpfs dev /dev; mount -t proc proc /proc; mount -t sysfs sys /sys
for m in ${order.join(' ')} dmacheck_kcheck; do insmod /lib/modules/$m.ko || echo "kcheck: insmod $m failed"; done
for i in 1 2 3 4 5 6 7 8 9 10; do ls /dev/vport*p1 >/dev/null 2>&1 && break; sleep 0.2; done
cat /cmds.bin > /dev/dmacheck
cat /dev/dmacheck > $(ls /dev/vport*p1 | head -n 1)
echo "kcheck: done"
poweroff -f
`;

/** The unpacked kernel and its headers, or why they are missing. */
function setup(): { abi: string; vmlinuz: string; modules: string; headers: string; qemu: string } {
  const hint = 'run `npm run kernel-check:setup` first (Debian packages: qemu-system-x86, busybox-static, cpio, gcc, make, the cloud kernel and its headers)';
  const abiFile = join(root, '.kernel-check', 'abi');
  if (!existsSync(abiFile)) throw new KernelCheckError(`kernel-check is not set up: ${hint}`);
  const abi = readFileSync(abiFile, 'utf8').trim();
  const image = join(root, '.kernel-check', abi, 'image');
  const vmlinuz = join(image, 'boot', `vmlinuz-${abi}`);
  const modules = join(image, 'lib', 'modules', abi, 'kernel', 'drivers');
  const headers = `/usr/src/linux-headers-${abi}`;
  const qemu = '/usr/bin/qemu-system-x86_64';
  for (const [what, path] of [['the kernel image', vmlinuz], ['its modules', modules], ['its headers', headers], ['qemu-system-x86_64', qemu], ['busybox-static', '/bin/busybox']] as const) {
    if (!existsSync(path)) throw new KernelCheckError(`kernel-check: ${what} is missing (${path}): ${hint}`);
  }
  return { abi, vmlinuz, modules, headers, qemu };
}

/** The virtio modules in an order that loads each after what it depends on (read from their `depends=` modinfo). */
function loadOrder(modules: string): string[] {
  const deps = new Map<string, string[]>();
  for (const m of MODULES) {
    const text = readFileSync(join(modules, m)).toString('latin1');
    const d = /depends=([A-Za-z0-9_,-]*)\0/.exec(text)?.[1] ?? '';
    deps.set((m.split('/')[1] as string).replace(/\.ko$/, ''), d === '' ? [] : d.split(','));
  }
  const out: string[] = [];
  const visit = (m: string): void => {
    if (out.includes(m) || !deps.has(m)) return;
    for (const d of deps.get(m) ?? []) visit(d);
    out.push(m);
  };
  for (const m of deps.keys()) visit(m);
  return out;
}

/** Build the module when it is missing or older than its source. @returns the .ko path */
function buildModule(headers: string, abi: string): string {
  const src = join(root, 'kernel-check');
  const dir = join(root, '.kernel-check', abi, 'build');
  const ko = join(dir, 'dmacheck_kcheck.ko');
  const newest = Math.max(...readdirSync(src).map((f) => statSync(join(src, f)).mtimeMs));
  if (existsSync(ko) && statSync(ko).mtimeMs > newest) return ko;
  mkdirSync(dir, { recursive: true });
  for (const f of ['dmacheck_kcheck.c', 'Kbuild']) copyFileSync(join(src, f), join(dir, f));
  const r = spawnSync('make', ['-C', headers, `M=${dir}`, 'modules'], { encoding: 'utf8' });
  if (r.status !== 0) throw new KernelCheckError(`kernel-check: building the module failed: ${(r.stderr || r.stdout).split('\n').find((l) => l.includes('error')) ?? r.stderr.split('\n')[0]}`);
  return ko;
}

/** Boot the kernel on `stream` and return its answer. */
function boot(s: ReturnType<typeof setup>, ko: string, stream: Uint8Array): Uint8Array {
  const dir = join(root, '.kernel-check', s.abi, 'run');
  rmSync(dir, { recursive: true, force: true });
  const tree = join(dir, 'initramfs');
  mkdirSync(join(tree, 'bin'), { recursive: true });
  mkdirSync(join(tree, 'lib', 'modules'), { recursive: true });
  for (const d of ['dev', 'proc', 'sys']) mkdirSync(join(tree, d));
  copyFileSync('/bin/busybox', join(tree, 'bin', 'busybox'));
  for (const m of MODULES) copyFileSync(join(s.modules, m), join(tree, 'lib', 'modules', m.split('/')[1] as string));
  copyFileSync(ko, join(tree, 'lib', 'modules', 'dmacheck_kcheck.ko'));
  writeFileSync(join(tree, 'init'), init(loadOrder(s.modules)), { mode: 0o755 });
  writeFileSync(join(tree, 'cmds.bin'), stream);
  const files = execFileSync('find', ['.'], { cwd: tree, encoding: 'utf8' });
  const cpio = execFileSync('cpio', ['-o', '-H', 'newc', '--quiet'], { cwd: tree, input: files, maxBuffer: 1 << 30 });
  const initrd = join(dir, 'initrd.cpio');
  writeFileSync(initrd, cpio);
  const results = join(dir, 'results.bin');
  const r = spawnSync(
    s.qemu,
    ['-m', '512M', '-smp', '1', '-nographic', '-no-reboot', '-kernel', s.vmlinuz, '-initrd', initrd, '-append', 'console=ttyS0 swiotlb=2048,force panic=-1 quiet', '-device', 'virtio-serial-pci', '-chardev', `file,id=r,path=${results}`, '-device', 'virtserialport,chardev=r,name=dmacheck'],
    { encoding: 'utf8', timeout: 600_000, maxBuffer: 1 << 26 },
  );
  if (!existsSync(results) || !r.stdout.includes('kcheck: done')) {
    const tail = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.trim() !== '').slice(-3).join(' | ');
    throw new KernelCheckError(`kernel-check: the guest did not finish (${r.error?.message ?? `exit ${r.status}`}): ${tail}`);
  }
  return new Uint8Array(readFileSync(results));
}

interface Verdict {
  readonly steps: readonly Step[];
  readonly cmp: SequenceComparison;
}

/** Run `seqs` (each with its teardown) on the kernel and the model; one verdict per sequence. */
function runBatch(s: ReturnType<typeof setup>, ko: string, seqs: readonly Step[][], model: BackendFactory, platformSeed: string): Verdict[] {
  const full = seqs.map((q) => withTeardown(q, KERNEL_CHECK_DEVICES));
  const answers = decodeResults(boot(s, ko, encodeSequences(full)));
  return full.map((steps, i) => ({ steps, cmp: compareSequence(steps, answers[i] ?? ([] as KernelRecord[]), { profile: QEMU_X86_64.name, backend: model, platformSeed }) }));
}

/** Shrink a disagreeing sequence: each round boots once with a batch of candidates and keeps the first that still disagrees. */
function shrink(s: ReturnType<typeof setup>, ko: string, start: Verdict, original: readonly Step[], model: BackendFactory, platformSeed: string, write: (s: string) => void): { verdict: Verdict; driver: readonly Step[]; rounds: number } {
  let best = { verdict: start, driver: original };
  let rounds = 0;
  for (; rounds < 40; rounds++) {
    const cands = [...shrinkSteps([...KERNEL_CHECK_DEVICES], best.driver)].slice(0, 64);
    if (cands.length === 0) break;
    write(`kernel-check: shrinking, round ${rounds + 1}: ${cands.length} candidates in one boot\n`);
    const vs = runBatch(s, ko, cands, model, platformSeed);
    const i = vs.findIndex((v) => v.cmp.disagreements.some((d) => d.kind === start.cmp.disagreements[0]?.kind));
    if (i < 0) break;
    best = { verdict: vs[i] as Verdict, driver: cands[i] as Step[] };
  }
  return { ...best, rounds };
}

/**
 * `dmacheck kernel-check`.
 * @returns the exit code: 0 every compared observation agreed, 1 a disagreement
 * @throws KernelCheckError when the setup is missing or the guest fails
 */
export async function kernelCheck(o: KernelCheckOptions): Promise<number> {
  if (o.arch !== 'x86_64') throw new KernelCheckError(`--arch ${o.arch}: only x86_64 runs here; arm64 needs a cross compiler and Debian's arm64 headers on an amd64 host, and QEMU's arm64 virt devices are not coherent (see README)`);
  if (!profileNames().includes(QEMU_X86_64.name)) registerProfile(QEMU_X86_64);
  const s = setup();
  const ko = buildModule(s.headers, s.abi);
  const model = o.model === 'reference' ? referenceAsOf(s.abi) : await loadBackend(o.model === 'mainline' ? undefined : o.model);
  let seqs: Step[][];
  let platformSeed = platformSeedOf(o.seed);
  if (o.trace !== null) {
    let t: Trace;
    try {
      t = parseTrace(readFileSync(o.trace, 'utf8'), o.trace);
    } catch (err) {
      throw new KernelCheckError((err as Error).message);
    }
    seqs = [[...t.steps]];
    platformSeed = t.platformSeed;
  } else {
    const arb = new StepsArbitrary({ devices: [...KERNEL_CHECK_DEVICES], weights: KERNEL_CHECK_WEIGHTS, maxSteps: o.maxSteps, allocAttrs: [[]], deviceBits: profileGeneratorOptions(QEMU_X86_64).deviceBits });
    seqs = fc.sample(arb, { seed: o.seed, numRuns: o.runs });
  }
  o.write(`kernel-check: ${s.abi} in QEMU (TCG), ${seqs.length} sequences, model=${model.name}\n`);
  const t0 = performance.now();
  const verdicts = runBatch(s, ko, seqs, model, platformSeed);
  const bootSeconds = (performance.now() - t0) / 1000;
  const steps = verdicts.reduce((n, v) => n + v.steps.length, 0);
  const compared = verdicts.reduce((n, v) => n + v.cmp.compared, 0);
  const known = verdicts.flatMap((v) => v.cmp.known);
  if (known.length > 0) {
    const byCheck = new Map<string, number>();
    for (const k of known) byCheck.set(k.check, (byCheck.get(k.check) ?? 0) + 1);
    const why = o.model === 'reference' ? `bugs of ${s.abi} the model of that release shows too (${historyOf(s.abi).map((h) => `${h.knob}, fixed in v${h.fixedIn}`).join('; ') || 'no history knobs'})` : `breaches the model (${model.name}) shows too`;
    o.write(pc.yellow(`kernel-check: the kernel breaks ${[...byCheck].map(([c, n]) => `${c} ×${n}`).join(', ')}: ${why}\n`));
  }
  const bad = verdicts.findIndex((v) => v.cmp.disagreements.length > 0);
  if (bad < 0) {
    o.write(pc.green(`kernel-check: ${seqs.length} sequences, ${steps} steps, ${compared} compared observations: all agreed (oracle sound, model faithful) [${bootSeconds.toFixed(1)} s]\n`));
    return 0;
  }
  const disagreeing = verdicts.filter((v) => v.cmp.disagreements.length > 0).length;
  o.write(pc.red(`kernel-check: ${disagreeing} of ${seqs.length} sequences disagree (${compared} observations compared)\n`));
  const first = verdicts[bad] as Verdict;
  const shrunk = o.trace === null ? shrink(s, ko, first, seqs[bad] as Step[], model, platformSeed, o.write) : { verdict: first, driver: seqs[0] as Step[], rounds: 0 };
  for (const d of shrunk.verdict.cmp.disagreements.slice(0, 5)) o.write(`✗ ${d.kind} at step ${d.step}: ${d.message}\n`);
  o.write(`trace (shrunk in ${shrunk.rounds} boots, teardown included):\n${renderListing(shrunk.verdict.steps, [])}\n`);
  const modelArg = o.model === 'reference' ? '' : ` --model ${o.model}`;
  if (o.trace !== null) {
    o.write(`replay: npx dmacheck kernel-check --trace ${o.trace}${modelArg}\n`);
    return 1;
  }
  const file = join(o.out, 'kernel-check', `disagreement-${o.seed}.json`);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, serializeTrace(makeTrace({ property: null, profile: QEMU_X86_64.name, backend: o.model, fastCheck: { seed: o.seed, path: '' }, platformSeed, steps: shrunk.driver })));
  o.write(`trace written to ${file}\nreplay: npx dmacheck kernel-check --trace ${file}${modelArg}\n`);
  return 1;
}
