import { parentPort, workerData } from 'node:worker_threads';
import type { ReplicaInit } from '../train/gan/data-parallel.ts';
import { runReplica } from '../train/gan/replica.ts';

// The entry of each data-parallel training thread (train/gan/data-parallel.ts starts them).
if (!parentPort) throw new Error('bin/train-replica.ts runs as a worker thread of a training run');
await runReplica(parentPort, workerData as ReplicaInit);
