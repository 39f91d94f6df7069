import { parentPort, workerData } from 'node:worker_threads';
import type { WorkerInit } from '../serve/generation/protocol.ts';
import { serveGeneratorThread } from '../serve/generation/worker.ts';

// The entry of each generator thread of the server (serve/generation/pool.ts starts them).
if (!parentPort) throw new Error('bin/generator-thread.ts runs as a worker thread of the server');
await serveGeneratorThread(parentPort, workerData as WorkerInit);
