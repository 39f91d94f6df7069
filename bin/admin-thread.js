// The admin listener's thread start (serve/admin/admin-server.ts): registers tsx in this thread, then
// runs the TypeScript entry. Worker threads do not inherit the main thread's module hooks.
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

// The repository's tsconfig.json from any working folder (its paths: tfjs-to-onnx from source).
register({ tsconfig: fileURLToPath(new URL('../tsconfig.json', import.meta.url)) });
await import('./admin-thread.ts');
