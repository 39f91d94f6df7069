import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { saveLayersModel } from 'tfjs-to-onnx';
import { baseModel, tempDir } from '../../packages/tfjs-to-onnx/test/helpers/convert.ts';

// `ganforge convert` (and `npm run convert`): tfjs-to-onnx's command under ganforge's runner keeps its
// flags, output and one-line errors. The converter's own command-line test is packages/tfjs-to-onnx/test/cli.slow.test.ts.

const root = join(import.meta.dirname, '..', '..');

/** `ganforge convert <args>` through the executable npm scripts and npx run (bin/ganforge.js). */
const convert = (args: readonly string[]) =>
  spawnSync(process.execPath, [join(root, 'bin', 'ganforge.js'), 'convert', ...args], { encoding: 'utf8', cwd: root });

before(async () => {
  tf.env().set('IS_TEST', true);
  await tf.setBackend('cpu');
});

test('ganforge convert: --opset, --fp16 (with its measured error), --report, bad flags, a refused file, --help', async () => {
  const dir = await tempDir('ganforge-convert');
  await saveLayersModel(baseModel(), dir);
  const model = join(dir, 'model.json');
  const out = join(dir, 'out.onnx');
  const r = convert([model, out, '--opset', '13', '--fp16', '--report']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(
    r.stdout,
    /^wrote .*out\.onnx \(\d+ bytes, opset 13, \d+ parameters; inputs image \[batch,6,6,2\] float32, label \[batch,1\] int32; outputs head \[batch,3\] float32, aux \[batch,2\] float32\)$/m,
  );
  assert.match(r.stdout, /^checked on 4 random samples: tfjs vs ONNX worst \|difference\| \d\.\de-\d+ \(output \w+\)/m);
  assert.doesNotMatch(r.stdout, /WARNING/);
  assert.match(r.stdout, /^--fp16: \d+ bytes instead of \d+; fp16 vs fp32 worst \|difference\| \d\.\de-\d+/m);
  assert.match(r.stdout, /^head\/h1 +Dense +Gemm, Relu +904$/m);
  const again = convert([model, join(dir, 'again.onnx')]);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /wrote .*again\.onnx .*opset 17/);

  const bad = convert([model, out, '--opset', '27']);
  assert.equal(bad.status, 1);
  assert.equal(bad.stderr, "error: Expected integer between 13 and 26 for --opset but received '27'\n");
  // The converter's parameter errors are ganforge's too: one line, no stack.
  const json = JSON.parse(await readFile(model, 'utf8')) as { weightsManifest: { paths: string[] }[] };
  json.weightsManifest[0]!.paths = ['/etc/passwd'];
  await writeFile(join(dir, 'hostile.json'), JSON.stringify(json));
  const hostile = convert([join(dir, 'hostile.json'), out]);
  assert.equal(hostile.status, 1);
  assert.match(
    hostile.stderr,
    /^error: Expected a relative path inside the model's folder \(this one has an absolute path\) for weightsManifest\[0\]\.paths\[0\] in .*hostile\.json but received '\/etc\/passwd'\n$/,
  );

  const help = convert(['--help']);
  assert.match(help.stdout, /^Usage: ganforge convert <model\.json> <out\.onnx> \[--opset N\] \[--fp16\] \[--report\]$/m);
  assert.match(help.stdout, /--opset <int> +ONNX opset to write \[default: 17\]/);
  assert.match(help.stdout, /--fp16 +store weights as float16/);
});
