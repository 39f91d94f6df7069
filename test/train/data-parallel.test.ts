import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseTrainArgs } from '../../train/flags.ts';
import { createSharedBuffer, SharedReducer, shardOf, weightedMean } from '../../train/gan/all-reduce.ts';
import { resolveWorkers } from '../../train/gan/data-parallel.ts';

// Data-parallel training: worker threads, each with a replica, averaging gradients through shared memory.
// Here its pieces; whole multi-thread runs are in data-parallel.slow.test.ts.

test('weighted means, shards and the thread count', () => {
  const a = Float32Array.from([1, 2, 3]);
  const b = Float32Array.from([3, 6, 9]);
  const c = Float32Array.from([0, 0, 3]);
  assert.deepEqual(Array.from(weightedMean([a, b], [0.5, 0.5], 3)), [2, 4, 6]);
  assert.deepEqual(Array.from(weightedMean([a, b, c], [0.5, 0.25, 0.25], 3)), [1.25, 2.5, 4.5]);
  // Unequal shards cover the batch in order.
  assert.deepEqual(
    [0, 1, 2].map((r) => shardOf(10, 3, r)),
    [
      { start: 0, count: 4 },
      { start: 4, count: 3 },
      { start: 7, count: 3 },
    ],
  );
  assert.equal(resolveWorkers('auto', 'wasm', 2, 128), 2);
  assert.equal(resolveWorkers('auto', 'tensorflow', 8, 128), 1, 'libtensorflow already uses every core');
  assert.equal(resolveWorkers(4, 'wasm', 2, 3), 3, 'never more threads than rows');
  assert.deepEqual(parseTrainArgs(['--workers', '3']).overrides.workers, 3);
  assert.deepEqual(parseTrainArgs(['--workers', 'auto']).overrides.workers, 'auto');
  assert.throws(() => parseTrainArgs(['--workers', '0']), /^ParameterError: Expected auto or an integer between 1 and 256 for --workers but received '0'$/);
  assert.throws(() => parseTrainArgs(['--workers', 'many']), /Expected auto or an integer between 1 and 256 for --workers but received 'many'/);
});

test("a failed replica's error reaches the others at their next barrier, naming the worker", () => {
  const layout = { ranks: 2, capacity: 4, broadcastCapacity: 0 };
  const buffer = createSharedBuffer(layout);
  const main = new SharedReducer(buffer, layout, 0, [0.5, 0.5]);
  new SharedReducer(buffer, layout, 1, [0.5, 0.5]).fail('out of memory');
  assert.throws(() => main.barrier(), /^Error: data-parallel training failed: worker 1: out of memory$/);
  const lonely = new SharedReducer(createSharedBuffer(layout), layout, 0, [0.5, 0.5]);
  assert.throws(() => lonely.barrier(50), /the other workers did not answer within 0 s/);
});
