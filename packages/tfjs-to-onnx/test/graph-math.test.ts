import * as tf from '@tensorflow/tfjs';
import { after, before, test } from 'node:test';
import { attr, checkGraph, GraphBuilder, printGraphWorst } from './helpers/graph.ts';

// Element-wise graph-model ops (unary, binary with broadcasting, integer arithmetic with tfjs' floor
// semantics, comparisons, logical ops, Select, Cast): one graph per family, converted at opsets 13 and
// 26, run in onnxruntime-node and compared with tfjs' executeAsync on the same model.json.

before(async () => {
  tf.env().set('IS_TEST', true);
  await tf.setBackend('cpu');
});
after(printGraphWorst);

test('unary math and activations match tfjs', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', [-1, 3, 4]);
  const abs = b.op('Abs', [x]);
  const pos = b.op('AddV2', [abs, b.const([0.1], [])]);
  const unit = b.op('Mul', [b.op('Tanh', [x]), b.const([0.9], [])]);
  const cases: [string, string[], Record<string, Record<string, unknown>>?][] = [
    ['Abs', [x]],
    ['Neg', [x]],
    ['Sign', [x]],
    ['Relu', [x]],
    ['Relu6', [b.op('Mul', [x, b.const([5], [])])]],
    ['Round', [b.op('Mul', [x, b.const([2], [])])]],
    ['Square', [x]],
    ['Reciprocal', [pos]],
    ['Acos', [unit]],
    ['Asin', [unit]],
    ['Atan', [x]],
    ['Atanh', [unit]],
    ['Acosh', [b.op('AddV2', [abs, b.const([1.5], [])])]],
    ['Asinh', [x]],
    ['Ceil', [x]],
    ['Floor', [x]],
    ['Cos', [x]],
    ['Cosh', [x]],
    ['Sin', [x]],
    ['Sinh', [x]],
    ['Tan', [unit]],
    ['Tanh', [x]],
    ['Elu', [x]],
    ['Selu', [x]],
    ['Erf', [x]],
    ['Exp', [x]],
    ['Expm1', [x]],
    ['Log', [pos]],
    ['Log1p', [abs]],
    ['Sigmoid', [x]],
    ['Softplus', [x]],
    ['Sqrt', [abs]],
    ['Rsqrt', [pos]],
    ['LeakyRelu', [x], { alpha: attr.f(0.13) }],
    ['IsNan', [b.op('Log', [x])]],
    ['IsInf', [b.op('RealDiv', [b.const([1], []), b.op('Round', [x])])]],
    ['IsFinite', [b.op('RealDiv', [b.const([1], []), b.op('Round', [x])])]],
    ['Softmax', [x]],
    ['LogSoftmax', [x]],
    ['ClipByValue', [x, b.const([-0.3], []), b.const([0.4], [])]],
    ['Cast', [b.op('Mul', [x, b.const([3], [])])], { DstT: attr.type('DT_INT32'), SrcT: attr.type('DT_FLOAT') }],
    ['Cast', [x], { DstT: attr.type(10) }],
    ['StopGradient', [x]],
    ['FakeQuantWithMinMaxVars', [x], { min: attr.f(-1), max: attr.f(1) }],
  ];
  cases.forEach(([op, inputs, attrs], i) => {
    b.output(`${op}_${i}`, b.op(op, inputs, attrs ?? {}));
  });
  // LeakyRelu without alpha: tfjs' default 0.2 (ONNX's is 0.01).
  b.output('leaky_default', b.op('LeakyRelu', [x]));
  await checkGraph('unary', 'unary ops', b, { x: [2, 3, 4] });
});

test('binary arithmetic broadcasts, integer division and modulo floor as tfjs does, comparisons and logic match', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', [-1, 3, 4]);
  const y = b.input('y', [4]);
  const i = b.input('i', [-1, 3], 'DT_INT32');
  const j = b.input('j', [3], 'DT_INT32');
  const signedJ = b.op('Sub', [j, b.const([4, 4, 4], [3], 'int32')]);
  const nonZeroJ = b.op('AddV2', [
    b.op('Mul', [b.op('FloorMod', [signedJ, b.const([2], [], 'int32')]), b.const([0], [], 'int32')]),
    b.op('Select', [b.op('Equal', [signedJ, b.const([0], [], 'int32')]), b.const([3, 3, 3], [3], 'int32'), signedJ]),
  ]);
  const posY = b.op('AddV2', [b.op('Abs', [y]), b.const([0.5], [])]);
  const bin: [string, string, string][] = [
    ['Add', x, y],
    ['AddV2', y, x],
    ['Sub', x, y],
    ['Mul', x, y],
    ['RealDiv', x, posY],
    ['Div', x, posY],
    ['Maximum', x, y],
    ['Minimum', x, y],
    ['Pow', b.op('Abs', [x]), y],
    ['SquaredDifference', x, y],
    ['FloorDiv', x, posY],
    ['FloorMod', b.op('Mul', [x, b.const([3], [])]), b.op('Sub', [posY, b.const([1.2], [])])],
    ['Mod', b.op('Mul', [x, b.const([3], [])]), posY],
    ['DivNoNan', x, b.op('Round', [y])],
    ['Atan2', x, y],
    ['Prelu', x, y],
    ['BiasAdd', x, y],
    ['Equal', b.op('Round', [x]), b.op('Round', [y])],
    ['NotEqual', b.op('Round', [x]), b.op('Round', [y])],
    ['Greater', x, y],
    ['GreaterEqual', x, y],
    ['Less', x, y],
    ['LessEqual', x, y],
    ['FloorDiv', i, nonZeroJ],
    ['FloorMod', i, nonZeroJ],
    ['RealDiv', b.op('Sub', [i, b.const([5], [], 'int32')]), nonZeroJ],
    ['Mod', b.op('Sub', [i, b.const([5], [], 'int32')]), nonZeroJ],
    ['Maximum', i, j],
    ['Mul', i, j],
    ['Sub', i, j],
  ];
  bin.forEach(([op, a, c], k) => {
    b.output(`${op}_${k}`, b.op(op, [a, c]));
  });
  const gt = b.op('Greater', [x, y]);
  const lt = b.op('Less', [x, b.const([0.2], [])]);
  b.output('and', b.op('LogicalAnd', [gt, lt]));
  b.output('or', b.op('LogicalOr', [gt, lt]));
  b.output('not', b.op('LogicalNot', [gt]));
  b.output('select', b.op('Select', [gt, x, b.op('Neg', [x])]));
  b.output('select_v2', b.op('SelectV2', [b.op('Greater', [y, b.const([0], [])]), x, b.const([7], [])]));
  b.output('addn', b.op('AddN', [x, b.op('Mul', [x, y]), b.op('Neg', [x]), x], { N: attr.i(4) }));
  b.output('int_to_float', b.op('Cast', [i], { DstT: attr.type('DT_FLOAT') }));
  b.output('bool_to_int', b.op('Cast', [gt], { DstT: attr.type('DT_INT64') }));
  await checkGraph('binary', 'binary ops', b, { x: [2, 3, 4], y: [4], i: [2, 3], j: [3] }, { intMax: 9 });
});
