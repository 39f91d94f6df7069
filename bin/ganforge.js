#!/usr/bin/env node
// The `ganforge` executable (package.json "bin"): registers tsx, then runs the TypeScript entry.
import { register } from 'tsx/esm/api';

register();
await import('./ganforge.ts');
