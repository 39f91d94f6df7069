import * as tf from '@tensorflow/tfjs';
import { Worker } from 'node:worker_threads';
import type { Dataset } from '../../shared/dataset.ts';
import type { PrngState } from '../../shared/prng.ts';
import type { TrainConfig } from '../config.ts';
import { adamState } from '../run-dir/checkpoint.ts';
import type { BackendName } from '../tfjs/backend.ts';
import { COMMANDS, createSharedBuffer, type ReducerLayout, SharedReducer, shardOf } from './all-reduce.ts';
import { bufferSize, type Replica, type StepState } from './iteration.ts';

// Data-parallel training on CPU: the main thread is rank 0 and runs the loop (reports, evaluations,
// checkpoints); each other rank is a worker thread with its own tfjs backend and a replica of both
// networks and optimizers. Every iteration, each rank trains on its rows of the same batch and all
// apply the same averaged gradients (all-reduce.ts), so the replicas never drift apart.

/** A tensor on the wire between threads. */
export interface WireTensor {
  readonly shape: number[];
  readonly dtype: 'float32' | 'int32';
  readonly data: Float32Array | Int32Array;
}

/** Everything a replica thread starts from (bin/train-replica.ts receives it as workerData). */
export interface ReplicaInit {
  readonly rank: number;
  readonly layout: ReducerLayout;
  readonly shares: readonly number[];
  readonly buffer: SharedArrayBuffer;
  readonly config: TrainConfig;
  readonly backend: BackendName;
  /** The data set, its arrays on shared memory (one copy for all threads). */
  readonly dataset: Dataset;
  readonly iteration: number;
  readonly prng: PrngState;
  readonly generator: WireTensor[];
  readonly discriminator: WireTensor[];
  /** The optimizers' states (see adamState), or null before their first step. */
  readonly gOptimizer: WireTensor[] | null;
  readonly dOptimizer: WireTensor[] | null;
}

/** Tensors as plain arrays for postMessage / workerData. */
export function toWire(tensors: readonly tf.Tensor[]): WireTensor[] {
  return tensors.map((t) => ({ shape: [...t.shape], dtype: t.dtype === 'int32' ? 'int32' : 'float32', data: t.dataSync() as Float32Array | Int32Array }));
}

/** Tensors from {@link toWire}'s arrays (the caller owns them). */
export function fromWire(wire: readonly WireTensor[]): tf.Tensor[] {
  return wire.map((w) => tf.tensor(w.data, w.shape, w.dtype));
}

/** A copy of the data set on shared memory. */
function sharedDataset(d: Dataset): Dataset {
  const images = new Float32Array(new SharedArrayBuffer(d.images.byteLength));
  images.set(d.images);
  let labels: Uint8Array | null = null;
  if (d.labels) {
    labels = new Uint8Array(new SharedArrayBuffer(d.labels.byteLength));
    labels.set(d.labels);
  }
  return { ...d, images, labels };
}

/**
 * How many ranks `--workers` means: 'auto' is one per core on the single-threaded WASM and JS
 * backends and 1 on libtensorflow (which already uses every core); never more than the batch has rows.
 */
export function resolveWorkers(workers: TrainConfig['workers'], backend: BackendName, cores: number, batchSize: number): number {
  const n = workers === 'auto' ? (backend === 'wasm' || backend === 'cpu' ? cores : 1) : workers;
  return Math.max(1, Math.min(n, batchSize));
}

/** The worker threads of a data-parallel run, seen from rank 0. */
export class DataParallel {
  private constructor(
    readonly reducer: SharedReducer,
    private readonly workers: Worker[],
  ) {}

  /**
   * Starts `ranks - 1` replica threads from rank 0's current state (weights, optimizer states, PRNG
   * and iteration) and returns rank 0's replica. Resolves when every thread is ready.
   */
  static async start(state: StepState, ranks: number, backend: BackendName): Promise<{ parallel: DataParallel; replica: Replica }> {
    const { config } = state;
    const params = (vars: tf.Variable[]): number => vars.reduce((n, v) => n + v.size, 0);
    const layout: ReducerLayout = {
      ranks,
      // The gradients and up to two scalars (loss, accuracy) of the larger network.
      capacity: Math.max(params(state.gVars), params(state.dVars)) + 2,
      broadcastCapacity: bufferSize(state),
    };
    const buffer = createSharedBuffer(layout);
    const shares = Array.from({ length: ranks }, (_, r) => shardOf(config.batchSize, ranks, r).count / config.batchSize);
    const resumed = state.iteration > 0;
    const [gOpt, dOpt] = resumed ? await Promise.all([adamState(state.gOptimizer), adamState(state.dOptimizer)]) : [null, null];
    const common = {
      layout,
      shares,
      buffer,
      config,
      backend,
      dataset: sharedDataset(state.dataset),
      iteration: state.iteration,
      prng: state.prng.state(),
      generator: toWire(state.generator.getWeights()),
      discriminator: toWire(state.discriminator.getWeights()),
      gOptimizer: gOpt ? toWire(gOpt) : null,
      dOptimizer: dOpt ? toWire(dOpt) : null,
    };
    // adamState's first tensor (the step count) is the caller's.
    tf.dispose([gOpt?.[0], dOpt?.[0]].filter((t): t is tf.Tensor => t !== undefined));
    const workers: Worker[] = [];
    try {
      for (let rank = 1; rank < ranks; rank++) {
        const init: ReplicaInit = { ...common, rank };
        // No inherited --import flags: the entry registers tsx itself, which a .ts --import would need first.
        workers.push(new Worker(new URL('../../bin/train-replica.js', import.meta.url), { workerData: init, execArgv: [] }));
      }
      await Promise.all(
        workers.map(
          (w, i) =>
            new Promise<void>((resolve, reject) => {
              w.once('message', () => resolve());
              w.once('error', (err) => reject(new Error(`data-parallel worker ${i + 1} could not start: ${err.message}`)));
              w.once('exit', (code) => reject(new Error(`data-parallel worker ${i + 1} exited with code ${code} before it was ready`)));
            }),
        ),
      );
    } catch (err) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw err;
    }
    const reducer = new SharedReducer(buffer, layout, 0, shares);
    return { parallel: new DataParallel(reducer, workers), replica: { reducer, shard: shardOf(config.batchSize, ranks, 0) } };
  }

  /** Starts an iteration on every replica (rank 0 then runs its own step). */
  beginIteration(): void {
    this.reducer.command(COMMANDS.step);
  }

  /** Stops the replicas and ends their threads. */
  async close(): Promise<void> {
    try {
      this.reducer.command(COMMANDS.stop);
    } catch {
      // A failed replica: its error was already thrown where it happened; end the threads anyway.
    }
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
