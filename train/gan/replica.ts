import * as tf from '@tensorflow/tfjs';
import type { MessagePort } from 'node:worker_threads';
import { Prng } from '../../shared/prng.ts';
import { restoreAdam, restoreWeights } from '../run-dir/checkpoint.ts';
import { kernelsFor, startBackend } from '../tfjs/setup.ts';
import { COMMANDS, SharedReducer, shardOf } from './all-reduce.ts';
import { fromWire, type ReplicaInit } from './data-parallel.ts';
import { freshDiscriminator, newStepState, type StepState, step } from './iteration.ts';

/** A replica's networks and optimizers with rank 0's state loaded into them. */
async function replicaState(init: ReplicaInit, reducer: SharedReducer): Promise<StepState> {
  const state = newStepState(init.config, init.dataset, Prng.fromState(init.prng), init.iteration);
  for (const [wire, model, what] of [
    [init.generator, state.generator, 'generator'],
    [init.discriminator, state.discriminator, 'discriminator'],
  ] as const) {
    const tensors = fromWire(wire);
    restoreWeights(model, tensors, what);
    tf.dispose(tensors);
  }
  for (const [wire, optimizer] of [
    [init.gOptimizer, state.gOptimizer],
    [init.dOptimizer, state.dOptimizer],
  ] as const) {
    if (!wire) continue;
    const tensors = fromWire(wire);
    await restoreAdam(optimizer, tensors);
    tf.dispose(tensors);
  }
  state.replica = { reducer, shard: shardOf(init.config.batchSize, init.layout.ranks, init.rank) };
  return state;
}

/**
 * A data-parallel replica thread: the same iterations as rank 0 (step, then the discriminator resets
 * of the config), on its rows of every batch, until rank 0 says stop. Posts one message when ready.
 */
export async function runReplica(port: MessagePort, init: ReplicaInit): Promise<void> {
  const reducer = new SharedReducer(init.buffer, init.layout, init.rank, init.shares);
  try {
    await startBackend(init.backend, () => {}, kernelsFor(init.config.model));
    const state = await replicaState(init, reducer);
    port.postMessage('ready');
    while (reducer.command() === COMMANDS.step) {
      state.iteration += 1;
      const { dReal, dFake, gLoss } = step(state);
      tf.dispose([dReal.loss, dReal.accuracy, dFake.loss, dFake.accuracy, gLoss]);
      if (init.config.resetDiscriminatorAt.includes(state.iteration)) freshDiscriminator(state);
    }
  } catch (err) {
    reducer.fail(err instanceof Error ? err.message : String(err));
    throw err;
  }
}
