import { parentPort, workerData } from 'node:worker_threads';
import { type AdminThreadData, runAdminThread } from '../serve/admin/admin-thread.ts';

// The entry of the server's admin thread (/healthz, /readyz, /metrics on --admin-port).
if (!parentPort) throw new Error('bin/admin-thread.ts runs as a worker thread of the server');
runAdminThread(parentPort, workerData as AdminThreadData);
