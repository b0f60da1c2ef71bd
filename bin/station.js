#!/usr/bin/env node
// The `station` command (package.json "bin"): runs the TypeScript CLI through tsx, a runtime dependency,
// so an installed package needs no build step. Inside this checkout `npm run station -- ...` does the same.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/main/cli/index.ts');
process.exit(await main(process.argv.slice(2)));
