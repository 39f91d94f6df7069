import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { GraphBuilder, serialiseModel } from 'tfjs-to-onnx/graph-builder';
import { DiffGraph, type IntT, type T } from '../../train/ort/tape.ts';
import { TRAIN_OPSET } from '../../train/ort/step-graph.ts';
import { Prng } from '../../shared/prng.ts';

// Every backward rule of the ort engine against central finite differences. The forward runs in
// float32 on onnxruntime; the loss L = sum(y * r) (r fixed random weights) is summed in float64 here,
// and for each input three random directions u compare <dL/dx, u> with (L(x + h u) - L(x - h u)) / 2h.
// Linear ops are exact up to float32 rounding; smooth ones carry an O(h^2) term. Inputs of ops with a
// kink (LeakyRelu, Relu, the loss clips) are drawn away from it by more than h, the usual surrogate.

/** The relative tolerance of every check: |fd - analytic| <= TOL * max(|fd|, scale of the gradient). */
const TOL = 2e-3;
const H = 1e-2;

interface Case {
  readonly name: string;
  /** Float inputs (shape and how to draw them) and integer inputs. */
  readonly inputs: ReadonlyArray<{ shape: number[]; draw?: (p: Prng) => number }>;
  readonly ints?: ReadonlyArray<{ shape: number[]; values: number[] }>;
  /** Builds the op; returns its output (a scalar loss is used as is). */
  readonly build: (d: DiffGraph, xs: T[], ints: IntT[]) => T;
}

const normal = (p: Prng): number => p.nextNormal();
/** Away from 0 by at least 0.2 (kinks at 0). */
const offZero = (p: Prng): number => {
  const v = p.nextNormal();
  return v >= 0 ? v + 0.2 : v - 0.2;
};
const prob = (p: Prng): number => 0.05 + 0.9 * p.nextFloat();

async function check(c: Case): Promise<void> {
  const prng = new Prng(7);
  const g = new GraphBuilder(TRAIN_OPSET);
  const d = new DiffGraph(g);
  const xs = c.inputs.map((spec, i) => d.input(`x${i}`, spec.shape));
  const ints = (c.ints ?? []).map((spec, i) => d.intInput(`i${i}`, spec.shape));
  const y = c.build(d, xs, ints);
  const r = Float32Array.from({ length: y.shape.reduce((a, b) => a * b, 1) }, () => prng.nextNormal());
  const rT: T = { name: g.floats('r', r, [...y.shape]), shape: y.shape };
  const loss = y.shape.length === 0 ? y : d.sum(d.mul(y, rT));
  const grads = d.gradients([[loss, 1]], xs);
  d.output(y, 'y');
  grads.forEach((grad, i) => {
    assert.ok(grad, `${c.name}: input ${i} has a gradient`);
    d.output({ name: grad, shape: xs[i]!.shape }, `grad${i}`);
  });
  const session = await ort.InferenceSession.create(serialiseModel(g, { graphName: c.name }));
  const values = c.inputs.map((spec) => Float32Array.from({ length: spec.shape.reduce((a, b) => a * b, 1) }, () => (spec.draw ?? normal)(prng)));
  const run = async (vs: Float32Array[]): Promise<ort.InferenceSession.OnnxValueMapType> => {
    const feeds: Record<string, ort.Tensor> = {};
    vs.forEach((v, i) => {
      feeds[`x${i}`] = new ort.Tensor('float32', v, c.inputs[i]!.shape);
    });
    (c.ints ?? []).forEach((spec, i) => {
      feeds[`i${i}`] = new ort.Tensor('int32', Int32Array.from(spec.values), spec.shape);
    });
    return session.run(feeds);
  };
  const lossOf = (out: ort.InferenceSession.OnnxValueMapType): number => {
    const yv = out.y!.data as Float32Array;
    if (y.shape.length === 0) return yv[0]!;
    let s = 0;
    for (let k = 0; k < yv.length; k++) s += yv[k]! * r[k]!;
    return s;
  };
  const base = await run(values);
  for (let i = 0; i < xs.length; i++) {
    const grad = base[`grad${i}`]!.data as Float32Array;
    const scale = Math.sqrt(grad.reduce((a, b) => a + b * b, 0));
    for (let dir = 0; dir < 3; dir++) {
      const u = Float32Array.from(grad, () => prng.nextNormal() / Math.sqrt(grad.length));
      const shifted = (sign: number): Float32Array[] => values.map((v, k) => (k === i ? Float32Array.from(v, (x, j) => x + sign * H * u[j]!) : v));
      const fd = (lossOf(await run(shifted(1))) - lossOf(await run(shifted(-1)))) / (2 * H);
      const analytic = grad.reduce((a, gv, j) => a + gv * u[j]!, 0);
      const err = Math.abs(fd - analytic);
      assert.ok(
        err <= TOL * Math.max(Math.abs(fd), scale),
        `${c.name}, input ${i}, direction ${dir}: finite differences ${fd}, backward rule ${analytic} (|diff| ${err.toExponential(2)}, gradient norm ${scale.toExponential(2)})`,
      );
    }
  }
  await session.release();
}

const CASES: Case[] = [
  { name: 'Gemm (x, w, b)', inputs: [{ shape: [5, 4] }, { shape: [4, 3] }, { shape: [3] }], build: (d, [x, w, b]) => d.gemm(x!, w!, b) },
  { name: 'Add with broadcasting', inputs: [{ shape: [2, 3, 4] }, { shape: [3, 1] }], build: (d, [a, b]) => d.add(a!, b!) },
  { name: 'Mul', inputs: [{ shape: [3, 4] }, { shape: [3, 4] }], build: (d, [a, b]) => d.mul(a!, b!) },
  { name: 'MatMul, batched (a, b)', inputs: [{ shape: [3, 4, 5] }, { shape: [3, 5, 2] }], build: (d, [a, b]) => d.matMul(a!, b!) },
  { name: 'Mul by a constant', inputs: [{ shape: [6] }], build: (d, [a]) => d.scale(a!, -2.5) },
  { name: 'Reshape', inputs: [{ shape: [2, 12] }], build: (d, [a]) => d.tanh(d.reshape(a!, [2, 3, 4])) },
  { name: 'Transpose', inputs: [{ shape: [2, 3, 4, 5] }], build: (d, [a]) => d.transpose(a!, [0, 3, 1, 2]) },
  { name: 'Concat', inputs: [{ shape: [2, 1, 3, 3] }, { shape: [2, 2, 3, 3] }], build: (d, [a, b]) => d.concat([a!, b!], 1) },
  {
    name: 'Gather (embedding, a row used twice)',
    inputs: [{ shape: [10, 6] }],
    ints: [{ shape: [4, 1], values: [3, 7, 3, 0] }],
    build: (d, [table], [ids]) => d.gather(table!, ids!),
  },
  ...[
    { s: 2, k: 3, hw: 8 },
    { s: 1, k: 3, hw: 5 },
    { s: 2, k: 3, hw: 7 },
  ].flatMap(({ s, k, hw }) => {
    const pads = samePadsOf(hw, k, s);
    return [
      {
        name: `Conv ${k}x${k} stride ${s} on ${hw}x${hw} (x, w, b)`,
        inputs: [{ shape: [2, 3, hw, hw] }, { shape: [4, 3, k, k] }, { shape: [4] }],
        build: (d: DiffGraph, [x, w, b]: T[]) => d.conv(x!, w!, b, { kernel: [k, k], strides: [s, s], pads }),
      },
      {
        name: `ConvTranspose ${k}x${k} stride ${s} to ${hw}x${hw} (x, w, b)`,
        inputs: [{ shape: [2, 3, Math.ceil(hw / s), Math.ceil(hw / s)] }, { shape: [3, 4, k, k] }, { shape: [4] }],
        build: (d: DiffGraph, [x, w, b]: T[]) => d.convTranspose(x!, w!, b, { kernel: [k, k], strides: [s, s], pads }, [hw, hw] as const),
      },
    ];
  }),
  {
    name: "Conv 3x3 stride 2, 'valid' on 8x8 (the last row and column unused)",
    inputs: [{ shape: [2, 2, 8, 8] }, { shape: [3, 2, 3, 3] }],
    build: (d, [x, w]) => d.conv(x!, w!, undefined, { kernel: [3, 3], strides: [2, 2], pads: [0, 0, 0, 0] }),
  },
  {
    name: 'Conv 3x3 stride 1 on one input channel',
    inputs: [{ shape: [2, 1, 6, 6] }, { shape: [3, 1, 3, 3] }],
    build: (d, [x, w]) => d.conv(x!, w!, undefined, { kernel: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1] }),
  },
  {
    name: 'BatchNormalization, training mode, NCHW (x, gamma, beta)',
    inputs: [{ shape: [4, 3, 2, 2] }, { shape: [3] }, { shape: [3] }],
    build: (d, [x, gamma, beta]) => d.batchNorm(x!, gamma!, beta!, 1e-3).y,
  },
  {
    name: 'BatchNormalization, training mode, [batch, features]',
    inputs: [{ shape: [6, 5] }, { shape: [5] }, { shape: [5] }],
    build: (d, [x, gamma, beta]) => d.batchNorm(x!, gamma!, beta!, 1e-3).y,
  },
  {
    name: 'BatchNormalization, inference mode (x, gamma, beta)',
    inputs: [{ shape: [2, 3, 2, 2] }, { shape: [3] }, { shape: [3] }],
    build: (d, [x, gamma, beta]) => {
      const g = d.g;
      const mean = { name: g.floats('mm', [0.1, -0.2, 0.3], [3]), shape: [3] };
      const variance = { name: g.floats('mv', [0.5, 1.5, 2], [3]), shape: [3] };
      return d.batchNormInference(x!, gamma!, beta!, mean, variance, 1e-3);
    },
  },
  { name: 'LeakyRelu', inputs: [{ shape: [3, 5], draw: offZero }], build: (d, [x]) => d.leakyRelu(x!, 0.01) },
  { name: 'Relu', inputs: [{ shape: [3, 5], draw: offZero }], build: (d, [x]) => d.relu(x!) },
  { name: 'Tanh', inputs: [{ shape: [3, 5] }], build: (d, [x]) => d.tanh(x!) },
  { name: 'Sigmoid', inputs: [{ shape: [3, 5] }], build: (d, [x]) => d.sigmoid(x!) },
  { name: 'Softmax', inputs: [{ shape: [3, 10] }], build: (d, [x]) => d.softmax(x!) },
  {
    name: 'Dropout with a fed mask',
    inputs: [{ shape: [4, 6] }],
    build: (d, [x]) =>
      d.dropout(
        x!,
        {
          name: d.g.floats(
            'mask',
            Array.from({ length: 24 }, (_, i) => (i % 3 === 0 ? 0 : 1)),
            [4, 6],
          ),
          shape: [4, 6],
        },
        0.25,
      ),
  },
  ...[1, 0, 0.9].map((target) => ({
    name: `binary cross-entropy, target ${target}`,
    inputs: [{ shape: [8, 1], draw: prob }],
    build: (d: DiffGraph, [p]: T[]) => d.binaryCrossEntropy(p!, target, 1e-7),
  })),
  {
    name: 'categorical cross-entropy of softmax rows',
    inputs: [{ shape: [4, 10] }],
    ints: [{ shape: [4, 1], values: [1, 9, 0, 1] }],
    build: (d, [x], [ids]) => d.categoricalCrossEntropy(d.softmax(x!), d.oneHot(ids!, 10), 1e-7),
  },
  {
    name: 'rejection loss of softmax rows',
    inputs: [{ shape: [4, 10] }],
    ints: [{ shape: [4, 1], values: [2, 2, 5, 7] }],
    build: (d, [x], [ids]) => d.rejectionLoss(d.softmax(x!), d.oneHot(ids!, 10), 1e-7),
  },
];

/** tfjs' 'same' pads of one spatial axis, both axes alike. */
function samePadsOf(hw: number, k: number, s: number): [number, number, number, number] {
  const total = Math.max((Math.ceil(hw / s) - 1) * s + k - hw, 0);
  const before = Math.floor(total / 2);
  return [before, before, total - before, total - before];
}

for (const c of CASES) test(`backward rule: ${c.name} matches central finite differences`, () => check(c));

test('the loss clip passes no gradient where the probability was clipped (as tfjs clipByValue)', async () => {
  const g = new GraphBuilder(TRAIN_OPSET);
  const d = new DiffGraph(g);
  const p = d.input('p', [3, 1]);
  const [grad] = d.gradients([[d.binaryCrossEntropy(p, 1, 1e-7), 1]], [p]);
  d.output({ name: grad!, shape: [3, 1] }, 'grad');
  const session = await ort.InferenceSession.create(serialiseModel(g, { graphName: 'clip' }));
  const out = await session.run({ p: new ort.Tensor('float32', Float32Array.of(0, 0.5, 1), [3, 1]) });
  const values = Array.from(out.grad!.data as Float32Array);
  // p = 0 and p = 1 lie outside [1e-7, 1 - 1e-7]: clipped, no gradient (0 or -0).
  assert.ok(values[0] === 0 && values[2] === 0, String(values));
  assert.ok(Math.abs(values[1]! - -1 / (3 * 0.5)) < 1e-6, String(values[1]));
});
