import { int, type GraphBuilder } from '../graph-builder.ts';
import { type LayerContext, type LayerConverter, only, physicalAxis, physicalPerm, permute, same, type TensorRef, unsupported, weights } from './context.ts';

/** An activation as an ONNX subgraph: `axis` is the physical axis of the tfjs last axis (softmax). */
type ActivationFn = (g: GraphBuilder, x: string, axis: number) => string;

/** Every activation tfjs-layers registers, with tfjs' formulas (tfjs-layers/src/activations.ts). */
const ACTIVATIONS: Record<string, ActivationFn> = {
  linear: (_g, x) => x,
  relu: (g, x) => g.op('Relu', [x]),
  // tfjs: minimum(6, relu(x)).
  relu6: (g, x) => g.op('Clip', [x, g.scalar(0), g.scalar(6)]),
  tanh: (g, x) => g.op('Tanh', [x]),
  sigmoid: (g, x) => g.op('Sigmoid', [x]),
  // tfjs' hard sigmoid is Keras': clip(0.2 x + 0.5, 0, 1), which is ONNX's HardSigmoid with these values.
  hardsigmoid: (g, x) => g.op('HardSigmoid', [x], { alpha: 0.2, beta: 0.5 }),
  softmax: (g, x, axis) => g.op('Softmax', [x], { axis: int(axis) }),
  logsoftmax: (g, x, axis) => g.op('LogSoftmax', [x], { axis: int(axis) }),
  elu: (g, x) => g.op('Elu', [x], { alpha: 1 }),
  selu: (g, x) => g.op('Selu', [x], { alpha: 1.6732632423543772, gamma: 1.0507009873554805 }),
  softplus: (g, x) => g.op('Softplus', [x]),
  softsign: (g, x) => g.op('Softsign', [x]),
  swish: (g, x) => g.op('Mul', [x, g.op('Sigmoid', [x])]),
  mish: (g, x) => g.op('Mul', [x, g.op('Tanh', [g.op('Softplus', [x])])]),
  // tfjs gelu: x * 0.5 (1 + erf(x / sqrt 2)).
  gelu: (g, x) => {
    const erf = g.op('Erf', [g.op('Mul', [x, g.scalar(Math.SQRT1_2)])]);
    return g.op('Mul', [x, g.op('Mul', [g.scalar(0.5), g.op('Add', [g.scalar(1), erf])])]);
  },
  // tfjs gelu_new: 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))).
  gelu_new: (g, x) => {
    const cube = g.op('Pow', [x, g.scalar(3)]);
    const inner = g.op('Mul', [g.scalar(Math.sqrt(2 / Math.PI)), g.op('Add', [x, g.op('Mul', [g.scalar(0.044715), cube])])]);
    return g.op('Mul', [g.scalar(0.5), g.op('Mul', [x, g.op('Add', [g.scalar(1), g.op('Tanh', [inner])])])]);
  },
};

/** The activation names tfjs accepts (for error messages and the README). */
export const ACTIVATION_NAMES = Object.keys(ACTIVATIONS);

/** The table key of a tfjs activation config name (camelCase or snake_case, or a Keras 3 object). */
export function activationKey(name: unknown): string {
  let raw = name;
  if (raw && typeof raw === 'object') {
    const o = raw as { className?: unknown; class_name?: unknown; config?: unknown };
    raw = typeof o.config === 'string' ? o.config : (o.className ?? o.class_name);
  }
  const key = String(raw ?? 'linear')
    .replace(/_/g, '')
    .toLowerCase();
  return key === 'gelunew' ? 'gelu_new' : key;
}

/** Applies a tfjs activation by its config name to a tensor in any layout. */
export function activation(ctx: LayerContext, name: unknown, x: TensorRef): TensorRef {
  const f = ACTIVATIONS[activationKey(name)];
  if (!f) throw unsupported(ctx.layer, 'activation', name, ACTIVATION_NAMES.join(', '));
  return same(x, f(ctx.g, x.name, physicalAxis(x, -1)));
}

/** Applies an activation to a plain tensor name whose last axis is `axis` (Scan bodies). */
export function activationOn(ctx: LayerContext, name: unknown, g: GraphBuilder, x: string, axis = -1): string {
  const f = ACTIVATIONS[activationKey(name)];
  if (!f) throw unsupported(ctx.layer, 'activation', name, ACTIVATION_NAMES.join(', '));
  return f(g, x, axis);
}

/** Activation: the named activation on a tensor in any layout. */
export const activationLayer: LayerConverter = (ctx, inputs) => [activation(ctx, ctx.config.activation, only(inputs, ctx))];

/** ReLU: Relu, or Clip(0, max value). */
export const relu: LayerConverter = (ctx, inputs) => {
  const x = only(inputs, ctx);
  const max = ctx.config.maxValue;
  const y =
    max === null || max === undefined
      ? ctx.g.op('Relu', [x.name], {}, ctx.layer.name)
      : ctx.g.op('Clip', [x.name, ctx.g.scalar(0), ctx.g.scalar(Number(max))], {}, ctx.layer.name);
  return [same(x, y)];
};

/**
 * Keras' ReLU with threshold and negative slope (tfjs-layers' ReLU drops both, so models that set them
 * are loaded as KerasReLU): max_value if x >= max_value, x if threshold <= x < max_value,
 * negative_slope * (x - threshold) otherwise.
 */
export const kerasRelu: LayerConverter = (ctx, inputs) => {
  const x = only(inputs, ctx);
  const { g } = ctx;
  const threshold = Number(ctx.config.threshold ?? 0);
  const slope = Number(ctx.config.negativeSlope ?? 0);
  const max = ctx.config.maxValue;
  const below = g.op('Mul', [g.scalar(slope), g.op('Sub', [x.name, g.scalar(threshold)])]);
  let y = g.op('Where', [g.op('GreaterOrEqual', [x.name, g.scalar(threshold)]), x.name, below], {}, ctx.layer.name);
  if (max !== null && max !== undefined) y = g.op('Min', [y, g.scalar(Number(max))]);
  return [same(x, y)];
};

/** LeakyReLU (tfjs' default alpha 0.3). */
export const leakyRelu: LayerConverter = (ctx, inputs) => {
  const x = only(inputs, ctx);
  // Always explicit: ONNX's default alpha (0.01) differs from tfjs' (0.3).
  return [same(x, ctx.g.op('LeakyRelu', [x.name], { alpha: Number(ctx.config.alpha ?? 0.3) }, ctx.layer.name))];
};

/** ELU (tfjs only builds alpha 1). */
export const elu: LayerConverter = (ctx, inputs) => {
  const x = only(inputs, ctx);
  return [same(x, ctx.g.op('Elu', [x.name], { alpha: Number(ctx.config.alpha ?? 1) }, ctx.layer.name))];
};

/** ThresholdedReLU. */
export const thresholdedRelu: LayerConverter = (ctx, inputs) => {
  const x = only(inputs, ctx);
  // tfjs: x * (x > theta), ONNX's ThresholdedRelu exactly.
  return [same(x, ctx.g.op('ThresholdedRelu', [x.name], { alpha: Number(ctx.config.theta ?? 1) }, ctx.layer.name))];
};

/** PReLU: alpha has the input's shape without the batch (1 on shared axes), laid out like the tensor. */
export const prelu: LayerConverter = (ctx, inputs) => {
  const x = only(inputs, ctx);
  const [alpha] = weights(ctx.layer);
  const shape = [1, ...alpha!.shape];
  const p = permute(alpha!.data, shape, physicalPerm(x));
  const slope = ctx.g.floats(`${ctx.layer.name}/alpha`, p.data, p.shape);
  return [same(x, ctx.g.op('PRelu', [x.name, slope], {}, ctx.layer.name))];
};

/**
 * The Softmax layer (default axis 1 in tfjs, unlike Keras' -1; several axes: exp(x - logsumexp)). With a
 * mask it adds (1 - mask) * -1e9 first, broadcast as tfjs does.
 */
export const softmaxLayer: LayerConverter = (ctx, inputs) => {
  const { g } = ctx;
  let x = only(inputs, ctx);
  const mask = x.mask;
  if (mask) {
    if ('unsupported' in mask) throw unsupported(ctx.layer, 'mask', 'from its input', `a mask tfjs can pass on (${mask.unsupported})`);
    x = ctx.channelsLast(x);
    const adder = g.op('Mul', [g.op('Sub', [g.scalar(1), mask.name]), g.scalar(-1e9)]);
    x = same(x, g.op('Add', [x.name, adder]));
  }
  const axes = (Array.isArray(ctx.config.axis) ? ctx.config.axis : [ctx.config.axis ?? 1]).map(Number).map((a) => physicalAxis(x, a));
  if (axes.length === 1) return [same(x, g.op('Softmax', [x.name], { axis: int(axes[0]!) }, ctx.layer.name))];
  const lse = g.reduce('ReduceLogSumExp', x.name, axes, true);
  return [same(x, g.op('Exp', [g.op('Sub', [x.name, lse])], {}, ctx.layer.name))];
};
