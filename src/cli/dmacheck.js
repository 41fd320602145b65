#!/usr/bin/env node
// Not a kernel mirror: the `dmacheck` executable. Registers tsx so the
// TypeScript sources run as they are (no build step), then runs the CLI.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
