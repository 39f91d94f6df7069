import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { PRODUCER } from '../src/graph-builder.ts';
import { saveLayersModel } from '../src/model-io.ts';
import { baseModel, tempDir } from './helpers/convert.ts';

// The `tfjs-to-onnx` executable, run from source in child processes.

const root = join(import.meta.dirname, '..');

/** Runs `tfjs-to-onnx <args>` from source. */
const cli = (args: readonly string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src', 'cli.ts'), ...args], { encoding: 'utf8', cwd: root });

before(async () => {
  tf.env().set('IS_TEST', true);
  await tf.setBackend('cpu');
});

test('tfjs-to-onnx: --opset, --fp16 (with its measured error), --report, --samples 0, bad flags, a refused file, --help', async () => {
  const dir = await tempDir('cli');
  await saveLayersModel(baseModel(), dir);
  const model = join(dir, 'model.json');
  const out = join(dir, 'out.onnx');
  const r = cli([model, out, '--opset', '13', '--fp16', '--report']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(
    r.stdout,
    /^wrote .*out\.onnx \(\d+ bytes, opset 13, \d+ parameters; inputs image \[batch,6,6,2\] float32, label \[batch,1\] int32; outputs head \[batch,3\] float32, aux \[batch,2\] float32\)$/m,
  );
  assert.match(r.stdout, /^checked on 4 random samples: tfjs vs ONNX worst \|difference\| \d\.\de-\d+ \(output \w+\)/m);
  assert.doesNotMatch(r.stdout, /WARNING/);
  assert.match(r.stdout, /^--fp16: \d+ bytes instead of \d+; fp16 vs fp32 worst \|difference\| \d\.\de-\d+/m);
  assert.match(r.stdout, /^conv +Conv2D +Transpose, Conv +\d+$/m);
  assert.match(r.stdout, /^bn +BatchNormalization +\d+ +folded into conv$/m);
  assert.match(r.stdout, /^head\/h1 +Dense +Gemm, Relu +904$/m);
  const proto = fromBinary(ModelProtoSchema, await readFile(out));
  assert.equal(proto.opsetImport[0]!.version, 13n);
  assert.deepEqual([proto.producerName, proto.producerVersion], [PRODUCER.name, PRODUCER.version]);

  const unchecked = cli([model, join(dir, 'again.onnx'), '--samples', '0', '--fp16']);
  assert.equal(unchecked.status, 0, unchecked.stderr);
  assert.match(unchecked.stdout, /wrote .*again\.onnx .*opset 17/);
  assert.match(unchecked.stdout, /^--fp16: \d+ bytes instead of \d+ \(error not measured: --samples 0\)$/m);
  assert.doesNotMatch(unchecked.stdout, /checked on/);

  for (const [args, message] of [
    [[model, out, '--opset', '27'], "error: Expected integer between 13 and 26 for --opset but received '27'"],
    [[model, out, '--samples', 'many'], "error: Expected integer between 0 and 64 for --samples but received 'many'"],
    [[model, out, '--max-parameters', '0'], "error: Expected integer >= 1 for --max-parameters but received '0'"],
    [[model], `error: Expected 2 arguments for <model.json> <out.onnx> but received '${model}'`],
    [[model, out, '--fast'], "error: Unknown option '--fast'"],
  ] as const) {
    const e = cli(args);
    assert.equal(e.status, 1, args.join(' '));
    assert.equal(e.stderr, `${message}\n`);
  }

  // A refused file is one line naming the reason, without a stack.
  const json = JSON.parse(await readFile(model, 'utf8')) as { weightsManifest: { paths: string[] }[] };
  json.weightsManifest[0]!.paths = ['/etc/passwd'];
  await writeFile(join(dir, 'hostile.json'), JSON.stringify(json));
  const hostile = cli([join(dir, 'hostile.json'), out]);
  assert.equal(hostile.status, 1);
  assert.match(
    hostile.stderr,
    /^error: Expected a relative path inside the model's folder \(this one has an absolute path\) for weightsManifest\[0\]\.paths\[0\] in .*hostile\.json but received '\/etc\/passwd'\n$/,
  );

  const help = cli(['--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /^Usage: tfjs-to-onnx <model\.json> <out\.onnx> \[--opset N\] \[--fp16\] \[--report\]$/m);
  assert.match(help.stdout, /--opset <int> +ONNX opset to write \[default: 17\]/);
  assert.match(help.stdout, /--fp16 +store weights as float16/);
  assert.match(help.stdout, /--samples <int> +random inputs the converted model is checked on \(0: no check\) \[default: 4\]/);
});
