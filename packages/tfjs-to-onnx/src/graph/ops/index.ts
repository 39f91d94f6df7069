import { input, type OpConverter } from './common.ts';
import { CONTROL_OPS, TENSOR_ARRAY_OPS } from './control.ts';
import { DYNAMIC_OPS } from './dynamic.ts';
import { MATH_OPS } from './math.ts';
import { MATRIX_OPS } from './matrix.ts';
import { NN_OPS } from './nn.ts';
import { REDUCE_OPS } from './reduce.ts';
import { SHAPE_OPS } from './shape.ts';

export type { OpConverter } from './common.ts';

/** Identity-like ops: the value passes through (no ONNX node). */
const identity: OpConverter = (ctx, _node, inputs) => [input(ctx, inputs, 0)];

const GRAPH_OPS: Record<string, OpConverter> = {
  Identity: identity,
  StopGradient: identity,
  Snapshot: identity,
  IdentityN: (_ctx, _node, inputs) => inputs,
  // Without a signature entry tfjs runs the default.
  PlaceholderWithDefault: identity,
  Print: (ctx, node, inputs) => {
    ctx.note(`Print node '${node.name}' dropped (tfjs logs its data; the ONNX model passes its input through)`);
    return [input(ctx, inputs, 0)];
  },
  FakeQuantWithMinMaxVars: (ctx, node, inputs) => {
    ctx.note(`FakeQuantWithMinMaxVars node '${node.name}' is an identity, as tfjs runs it (TensorFlow would quantize)`);
    return [input(ctx, inputs, 0)];
  },
  NoOp: () => [],
};

/**
 * Every tfjs graph-model op this converter converts (Const and Placeholder are read by the driver),
 * by TensorFlow op name.
 */
export const OP_CONVERTERS: Readonly<Record<string, OpConverter>> = {
  ...GRAPH_OPS,
  ...MATH_OPS,
  ...NN_OPS,
  ...MATRIX_OPS,
  ...SHAPE_OPS,
  ...REDUCE_OPS,
  ...DYNAMIC_OPS,
  ...CONTROL_OPS,
  ...TENSOR_ARRAY_OPS,
};
