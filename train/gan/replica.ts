import * as tf from '@tensorflow/tfjs';
import type { MessagePort } from 'node:worker_threads';
import { Prng } from '../../shared/prng.ts';
import { restoreAdam, restoreWeights } from '../run-dir/checkpoint.ts';
import { kernelsFor, startBackend } from '../tfjs/setup.ts';
import { COMMANDS, SharedReducer, shardOf } from './all-reduce.ts';
import { fromWire, type ReplicaInit } from './data-parallel.ts';
import { adam, buildOptions, digitHead, freshDiscriminator, type GanKind, type StepState, step } from './iteration.ts';
import { buildDiscriminator, buildGan, CONDITIONAL_KINDS } from './models.ts';
import { trainableVariables } from './steps.ts';

/** Builds a replica's networks and optimizers and loads rank 0's state into them. */
async function replicaState(init: ReplicaInit, reducer: SharedReducer): Promise<StepState> {
  const { config, dataset } = init;
  const kind = config.model as GanKind;
  // The same builders as rank 0 (loop.ts), then rank 0's weights over them.
  const gan = buildGan(kind, buildOptions(config, dataset, config.seed));
  gan.discriminator.dispose();
  const discriminator = buildDiscriminator(kind, buildOptions(config, dataset, (config.seed ^ 0x5bd1e995) >>> 0));
  const load = (wire: ReplicaInit['generator'], into: tf.LayersModel, what: string): void => {
    const tensors = fromWire(wire);
    restoreWeights(into, tensors, what);
    tf.dispose(tensors);
  };
  load(init.generator, gan.generator, 'generator');
  load(init.discriminator, discriminator, 'discriminator');
  const gOptimizer = adam(config);
  const dOptimizer = adam(config);
  for (const [optimizer, wire] of [
    [gOptimizer, init.gOptimizer],
    [dOptimizer, init.dOptimizer],
  ] as const) {
    if (!wire) continue;
    const tensors = fromWire(wire);
    await restoreAdam(optimizer, tensors);
    tf.dispose(tensors);
  }
  const conditional = CONDITIONAL_KINDS.includes(kind);
  return {
    config,
    dataset,
    kind,
    conditional,
    labelledD: kind === 'cgan',
    head: digitHead(kind, config),
    prng: Prng.fromState(init.prng),
    generator: gan.generator,
    discriminator,
    gOptimizer,
    dOptimizer,
    gVars: trainableVariables(gan.generator),
    dVars: trainableVariables(discriminator),
    batch: new Float32Array(config.batchSize * dataset.height * dataset.width),
    labelBuffer: new Int32Array(config.batchSize),
    iteration: init.iteration,
    replica: { reducer, shard: shardOf(config.batchSize, init.layout.ranks, init.rank) },
  };
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
