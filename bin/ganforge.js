#!/usr/bin/env node
// The `ganforge` executable (package.json "bin"): registers tsx, then runs the TypeScript entry.
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

// The repository's tsconfig.json from any working folder: its paths run the workspace package
// tfjs-to-onnx from its source (packages/tfjs-to-onnx/src), which needs no build.
register({ tsconfig: fileURLToPath(new URL('../tsconfig.json', import.meta.url)) });
await import('./ganforge.ts');
