#!/usr/bin/env node
// Not a kernel mirror: the `dmacheck` executable. Rebuilds dist/ (esbuild,
// about a second) when it is missing or older than the sources, then runs
// the bundled command line.
import { build, stale } from '../../scripts/build.mjs';

if (stale()) await build();
await import('../../dist/main.js');
