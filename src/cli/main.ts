/**
 * Not a kernel mirror: the `dmacheck` command line.
 *
 * `dmacheck run` builds every profile with the chosen backend, attaches every
 * device and reports what is ready. The conformance harness (driver steps,
 * oracle, properties, traces) arrives with the next issue; until then `run`
 * says so plainly and only checks that the profiles and the backend load.
 * Exit codes: 0 ok, 2 bad input (one line naming the bad value and what is accepted).
 */
import { parseArgs } from 'node:util';
import { BackendLoadError, loadBackend } from '../backend/loader.ts';
import { setUp } from '../backend/setup.ts';
import { PROFILES } from '../platform/profiles.ts';

const USAGE = 'usage: dmacheck run [--backend <module>] [--profile <name>] [--seed <seed>]';

function fail(message: string): never {
  process.stderr.write(`dmacheck: ${message}\n`);
  process.exit(2);
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { backend: { type: 'string' }, profile: { type: 'string' }, seed: { type: 'string', default: '1' } },
    });
  } catch (err) {
    fail(`${(err as Error).message.split('\n')[0]}; ${USAGE}`);
  }
  const [command] = parsed.positionals;
  if (command !== 'run') fail(`unknown command '${command ?? ''}': accepted is 'run'; ${USAGE}`);
  const { backend: spec, profile, seed } = parsed.values;
  if (profile !== undefined && PROFILES[profile] === undefined) fail(`--profile ${profile}: accepted are ${Object.keys(PROFILES).join(', ')}`);
  let factory;
  try {
    factory = await loadBackend(spec);
  } catch (err) {
    if (err instanceof BackendLoadError) fail(err.message);
    throw err;
  }
  const names = profile === undefined ? Object.keys(PROFILES) : [profile];
  process.stdout.write(`dmacheck run: backend=${factory.name} seed=${seed}\n`);
  for (const name of names) {
    const { platform } = setUp(name, { seed: seed as string, backend: factory });
    process.stdout.write(`  ${name.padEnd(14)} devices: ${platform.devices.map((d) => d.name).join(', ')}\n`);
  }
  process.stdout.write('The conformance harness (properties, traces, fixtures) is not built yet; it comes with the next issue.\n');
  return 0;
}

main(process.argv.slice(2)).then((code) => process.exit(code));
