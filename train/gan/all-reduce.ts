import * as tf from '@tensorflow/tfjs';

// Data-parallel training's only communication: every worker thread (rank) writes its gradients into
// its slot of one SharedArrayBuffer, waits at a barrier, and computes the same weighted average from
// all slots in rank order, so every replica applies bit-identical updates. Two sets of slots alternate,
// so one barrier per reduction is enough: a rank cannot overwrite a slot another is still reading.

const COUNT = 0;
const GENERATION = 1;
const COMMAND = 2;
const FAILED = 3;
const CONTROL_BYTES = 16;
const ERROR_BYTES = 4096;

/** What the shared buffer holds room for. */
export interface ReducerLayout {
  /** Worker threads, the main thread being rank 0. */
  readonly ranks: number;
  /** Floats per rank per reduction (the largest gradient set plus its scalars). */
  readonly capacity: number;
  /** Floats rank 0 can broadcast (batch-norm statistics). */
  readonly broadcastCapacity: number;
}

/** Commands rank 0 gives at the start of each iteration. */
export const COMMANDS = { step: 1, stop: 2 } as const;

/** The shared buffer for a layout. */
export function createSharedBuffer(layout: ReducerLayout): SharedArrayBuffer {
  const floats = 2 * layout.ranks * layout.capacity + layout.broadcastCapacity;
  return new SharedArrayBuffer(CONTROL_BYTES + ERROR_BYTES + 4 * floats);
}

/** One rank's view of the shared buffer: barrier, weighted all-reduce, broadcast from rank 0, failure flag. */
export class SharedReducer {
  readonly #control: Int32Array;
  readonly #error: Uint8Array;
  readonly #slots: Float32Array;
  readonly #broadcast: Float32Array;
  #set = 0;

  /**
   * `shares[r]` is rank r's share of the batch (its rows / batch size): the weights of the average,
   * so that unequal shards still give the gradient of the whole batch's mean loss.
   */
  constructor(
    buffer: SharedArrayBuffer,
    readonly layout: ReducerLayout,
    readonly rank: number,
    readonly shares: readonly number[],
    /** How long a rank waits for the others at a barrier before giving up (ms). */
    readonly timeoutMs = 600_000,
  ) {
    if (shares.length !== layout.ranks) throw new Error(`Expected ${layout.ranks} shares but received ${shares.length}`);
    this.#control = new Int32Array(buffer, 0, CONTROL_BYTES / 4);
    this.#error = new Uint8Array(buffer, CONTROL_BYTES, ERROR_BYTES);
    const floats = CONTROL_BYTES + ERROR_BYTES;
    this.#slots = new Float32Array(buffer, floats, 2 * layout.ranks * layout.capacity);
    this.#broadcast = new Float32Array(buffer, floats + 4 * this.#slots.length, layout.broadcastCapacity);
  }

  /** Waits until every rank has arrived; throws when a rank failed or the wait times out. */
  barrier(timeoutMs = this.timeoutMs): void {
    const c = this.#control;
    const generation = Atomics.load(c, GENERATION);
    if (Atomics.add(c, COUNT, 1) === this.layout.ranks - 1) {
      Atomics.store(c, COUNT, 0);
      Atomics.add(c, GENERATION, 1);
      Atomics.notify(c, GENERATION);
      return;
    }
    // Spin briefly first: the others are usually a fraction of a millisecond behind, and waking
    // from Atomics.wait costs more than that.
    const spinUntil = performance.now() + 1;
    while (Atomics.load(c, GENERATION) === generation && performance.now() < spinUntil);
    const deadline = Date.now() + timeoutMs;
    while (Atomics.load(c, GENERATION) === generation) {
      this.#checkFailed();
      if (Date.now() > deadline) throw new Error(`data-parallel training: the other workers did not answer within ${Math.round(timeoutMs / 1000)} s`);
      Atomics.wait(c, GENERATION, generation, 1000);
    }
    this.#checkFailed();
  }

  /**
   * The share-weighted average over ranks of each tensor (the same shapes on every rank, in the same
   * order), summed in rank order in float64: every rank gets the same floats.
   */
  reduce(tensors: readonly tf.Tensor[]): tf.Tensor[] {
    if (this.layout.ranks === 1) return tensors.map((t) => t.clone());
    const { ranks, capacity } = this.layout;
    const base = this.#set * ranks * capacity;
    this.#set ^= 1;
    const own = this.#slots.subarray(base + this.rank * capacity, base + (this.rank + 1) * capacity);
    let size = 0;
    for (const t of tensors) {
      if (size + t.size > capacity) throw new Error(`data-parallel training: ${size + t.size} floats to reduce, room for ${capacity}`);
      own.set(t.dataSync() as Float32Array, size);
      size += t.size;
    }
    this.barrier();
    const mean = weightedMean(
      Array.from({ length: ranks }, (_, r) => this.#slots.subarray(base + r * capacity, base + r * capacity + size)),
      this.shares,
      size,
    );
    let offset = 0;
    return tensors.map((t) => {
      const out = tf.tensor(mean.subarray(offset, offset + t.size), t.shape, 'float32');
      offset += t.size;
      return out;
    });
  }

  /** Rank 0's values of `tensors` on every rank (rank 0 gets null: it keeps its own). */
  broadcast(tensors: readonly tf.Tensor[]): tf.Tensor[] | null {
    let size = 0;
    if (this.rank === 0) {
      for (const t of tensors) {
        if (size + t.size > this.#broadcast.length)
          throw new Error(`data-parallel training: ${size + t.size} floats to broadcast, room for ${this.#broadcast.length}`);
        this.#broadcast.set(t.dataSync() as Float32Array, size);
        size += t.size;
      }
    }
    this.barrier();
    if (this.rank === 0) {
      // Until every rank has read them, rank 0 must not overwrite them.
      this.barrier();
      return null;
    }
    const out = tensors.map((t) => {
      const values = tf.tensor(this.#broadcast.slice(size, size + t.size), t.shape, 'float32');
      size += t.size;
      return values;
    });
    this.barrier();
    return out;
  }

  /** Rank 0: gives the command of the next iteration. Other ranks: wait for it (as long as it takes). */
  command(command?: number): number {
    if (this.rank === 0) {
      if (command === undefined) throw new Error('rank 0 gives a command');
      Atomics.store(this.#control, COMMAND, command);
      this.barrier();
      return command;
    }
    this.barrier(Number.POSITIVE_INFINITY);
    return Atomics.load(this.#control, COMMAND);
  }

  /** Marks this rank failed with a message the others throw at their next barrier. */
  fail(message: string): void {
    const bytes = new TextEncoder().encode(`worker ${this.rank}: ${message}`).subarray(0, ERROR_BYTES - 1);
    this.#error.fill(0);
    this.#error.set(bytes);
    Atomics.store(this.#control, FAILED, this.rank + 1);
    Atomics.notify(this.#control, GENERATION);
  }

  #checkFailed(): void {
    if (Atomics.load(this.#control, FAILED) === 0) return;
    const end = this.#error.indexOf(0);
    throw new Error(`data-parallel training failed: ${new TextDecoder().decode(this.#error.slice(0, end < 0 ? undefined : end))}`);
  }
}

/**
 * sum_r weights[r] * slots[r][i] for each i, in float64 and rounded once, in rank order: the same
 * floats on every rank. Two ranks (the common case) get their own loop, 3x faster in V8 than the
 * general one on shared memory.
 */
export function weightedMean(slots: readonly Float32Array[], weights: readonly number[], size: number): Float32Array {
  const mean = new Float32Array(size);
  if (slots.length === 2) {
    const [a, b] = slots as [Float32Array, Float32Array];
    const [wa, wb] = weights as [number, number];
    for (let i = 0; i < size; i++) mean[i] = wa * a[i]! + wb * b[i]!;
    return mean;
  }
  for (let i = 0; i < size; i++) {
    let acc = 0;
    for (let r = 0; r < slots.length; r++) acc += weights[r]! * slots[r]![i]!;
    mean[i] = acc;
  }
  return mean;
}

/** Rows [start, start + count) of a batch for `rank` of `ranks`: as equal as possible, in rank order. */
export function shardOf(batchSize: number, ranks: number, rank: number): { start: number; count: number } {
  const base = Math.floor(batchSize / ranks);
  const extra = batchSize % ranks;
  return { start: rank * base + Math.min(rank, extra), count: base + (rank < extra ? 1 : 0) };
}
