// Not a kernel mirror: `npm run bench` launcher: rebuild dist/ when stale, then run the bundled benchmark.
import { build, stale } from './build.mjs';

if (stale()) await build();
await import('../dist/bench.js');
