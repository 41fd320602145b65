// Search power probe: runs to first failure over 10 seeds at a given budget.
import { findProperty } from '../properties/index.ts';
import { checkProperty } from '../src/conformance/runner.ts';
import { loadBackend } from '../src/backend/loader.ts';
const [name, property, profile, runsArg] = process.argv.slice(2);
const backend = await loadBackend(`fixtures/${name}/mutant.ts`);
const runs: (number | null)[] = [];
for (let seed = 1; seed <= 10; seed++) {
  const r = checkProperty({ property: findProperty(property!)!, profile: profile!, backend, runs: Number(runsArg ?? 100), seed });
  runs.push(r.verdict === 'violated' ? r.runs : null);
}
const found = runs.filter((x) => x !== null) as number[];
found.sort((a, b) => a - b);
console.log(`${name} ${property} ${profile}: found ${found.length}/10, runs ${JSON.stringify(runs)} median ${found[found.length >> 1] ?? '-'}`);
