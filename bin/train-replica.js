// A data-parallel training thread's start (train/gan/data-parallel.ts): registers tsx in this thread,
// then runs the TypeScript entry. Worker threads do not inherit the main thread's module hooks.
import { register } from 'tsx/esm/api';

register();
await import('./train-replica.ts');
