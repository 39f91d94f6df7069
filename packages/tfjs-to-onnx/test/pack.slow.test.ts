import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cp, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { saveLayersModel } from '../src/model-io.ts';
import { tempDir } from './helpers/convert.ts';

// `npm pack` gives a tarball that, installed into an empty folder, converts a model there in plain Node
// (no tsx, no TypeScript): through `npx tfjs-to-onnx` and through `import ... from 'tfjs-to-onnx'`.

const root = join(import.meta.dirname, '..');
const repoModules = join(root, '..', '..', 'node_modules');

/** The environment for npm and node children: none of the npm_* variables an enclosing `npm test` sets (they would point npm at this repository). */
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));

function run(command: string, args: readonly string[], cwd: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(command, args, { cwd, env, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('npm pack: the tarball installs into an empty folder and converts there with npx tfjs-to-onnx and with an import', { timeout: 180_000 }, async (t) => {
  const t0 = performance.now();
  const tmp = await tempDir('pack');
  // The install holds @tensorflow/tfjs and its dependencies (about 100 MB): not left behind.
  t.after(() => rm(tmp, { recursive: true, force: true }));
  // Packed from a copy, so the build (prepack) writes no dist/ into the working tree.
  const copy = join(tmp, 'package');
  await mkdir(copy);
  for (const name of ['package.json', 'README.md', 'LICENSE', 'tsconfig.build.json', 'src']) await cp(join(root, name), join(copy, name), { recursive: true });
  await symlink(repoModules, join(copy, 'node_modules'), 'dir');
  const pack = run('npm', ['pack', '--json', '--pack-destination', tmp], copy);
  assert.equal(pack.status, 0, pack.stderr);
  // The JSON report follows the lifecycle scripts' output (prepack: the build).
  const packed = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('\n[') + 1)) as [{ filename: string; files: { path: string }[] }];
  const files = packed[0].files.map((f) => f.path).sort();
  for (const f of [
    'LICENSE',
    'README.md',
    'package.json',
    'dist/index.js',
    'dist/index.d.ts',
    'dist/cli.js',
    'dist/graph-builder.js',
    'dist/layers.js',
    'dist/convert.js',
  ]) {
    assert.ok(files.includes(f), `${f} missing from the tarball: ${files.join(', ')}`);
  }
  assert.deepEqual(
    files.filter((f) => !/^dist\/.+\.(js|d\.ts)$/.test(f) && !['LICENSE', 'README.md', 'package.json'].includes(f)),
    [],
    'only the build, the README, the licence and package.json are packed',
  );

  const app = join(tmp, 'app');
  await mkdir(app);
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  // npm 11 installs the peer @tensorflow/tfjs with it (from the cache when it can); onnxruntime-node is an optional peer.
  const install = run('npm', ['install', join(tmp, packed[0].filename), '--prefer-offline', '--no-audit', '--no-fund'], app);
  assert.equal(install.status, 0, install.stderr);

  // A tiny functional model (conv, batch norm, dense) saved in tfjs' layout.
  tf.env().set('IS_TEST', true);
  await tf.setBackend('cpu');
  const input = tf.input({ shape: [5, 5, 2], name: 'pixels' });
  let x = tf.layers.conv2d({ filters: 3, kernelSize: 3, name: 'conv' }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'bn' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.flatten({ name: 'flat' }).apply(x) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 4, activation: 'softmax', name: 'probs' }).apply(x) as tf.SymbolicTensor });
  await saveLayersModel(model, join(app, 'model'));

  // The executable: without onnxruntime-node the check says what to do; --samples 0 converts without it.
  const missing = run('npx', ['--no', 'tfjs-to-onnx', 'model/model.json', 'out.onnx'], app);
  assert.equal(missing.status, 1, missing.stdout);
  assert.match(
    missing.stderr,
    /^error: checking the ONNX model against tfjs needs onnxruntime-node, an optional peer dependency of tfjs-to-onnx: install it \(npm install onnxruntime-node\), or skip the check \(--samples 0\)$/m,
  );
  const unchecked = run('npx', ['--no', 'tfjs-to-onnx', 'model/model.json', 'unchecked.onnx', '--samples', '0'], app);
  assert.equal(unchecked.status, 0, unchecked.stderr);
  // With onnxruntime-node present (this repository's), the default command converts and checks.
  await symlink(join(repoModules, 'onnxruntime-node'), join(app, 'node_modules', 'onnxruntime-node'), 'dir');
  const cli = run('npx', ['--no', 'tfjs-to-onnx', 'model/model.json', 'out.onnx'], app);
  assert.equal(cli.status, 0, cli.stderr);
  assert.match(
    cli.stdout,
    /^wrote out\.onnx \(\d+ bytes, opset 17, 181 parameters; inputs pixels \[batch,5,5,2\] float32; outputs probs \[batch,4\] float32\)$/m,
  );
  assert.match(cli.stdout, /^checked on 4 random samples: tfjs vs ONNX worst \|difference\| \d\.\de-\d+ \(output probs\)$/m);

  // The API in plain Node: the main entry and the three subpaths.
  await writeFile(
    join(app, 'use.mjs'),
    [
      "import * as tf from '@tensorflow/tfjs';",
      "import { writeFile } from 'node:fs/promises';",
      "import { conversionBackend, convertLayersModel, PRODUCER } from 'tfjs-to-onnx';",
      "import { GraphBuilder } from 'tfjs-to-onnx/graph-builder';",
      "import { LAYER_CONVERTERS } from 'tfjs-to-onnx/layers';",
      "import { Converter } from 'tfjs-to-onnx/convert';",
      'await conversionBackend();',
      "const r = await convertLayersModel('model/model.json');",
      "await writeFile('api.onnx', r.onnx);",
      'console.log(JSON.stringify({ producer: PRODUCER, ops: r.ops, graphBuilder: typeof GraphBuilder, dense: typeof LAYER_CONVERTERS.Dense, converter: typeof Converter, tf: tf.version_core }));',
    ].join('\n'),
  );
  const api = run(process.execPath, ['use.mjs'], app);
  assert.equal(api.status, 0, api.stderr);
  const used = JSON.parse(api.stdout) as { producer: { name: string }; ops: Record<string, number>; graphBuilder: string; dense: string; converter: string };
  assert.deepEqual([used.producer.name, used.graphBuilder, used.dense, used.converter], ['tfjs-to-onnx', 'function', 'function', 'function']);
  assert.equal(used.ops.BatchNormalization, undefined, 'the batch norm is folded into the Conv');

  // The executable and the import write the same bytes, and onnxruntime-node runs them as tfjs runs the model.
  const [viaCli, viaApi, viaUnchecked] = await Promise.all([
    readFile(join(app, 'out.onnx')),
    readFile(join(app, 'api.onnx')),
    readFile(join(app, 'unchecked.onnx')),
  ]);
  assert.deepEqual(viaApi, viaCli);
  assert.deepEqual(viaUnchecked, viaCli);
  const pixels = tf.randomNormal([3, 5, 5, 2], 0, 1, 'float32', 7);
  const expected = (model.predict(pixels) as tf.Tensor).dataSync();
  const session = await ort.InferenceSession.create(viaCli);
  const got = (await session.run({ pixels: new ort.Tensor('float32', pixels.dataSync() as Float32Array, [3, 5, 5, 2]) })).probs!.data as Float32Array;
  await session.release();
  assert.equal(got.length, expected.length);
  for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i]! - expected[i]!) <= 1e-5, `output ${i}: ONNX ${got[i]} vs tfjs ${expected[i]}`);

  // TypeScript consumers get the declarations through the exports map.
  await writeFile(
    join(app, 'typed.ts'),
    [
      "import { convertLayersModel, type LayersModelConversion } from 'tfjs-to-onnx';",
      "import { GraphBuilder } from 'tfjs-to-onnx/graph-builder';",
      "export const conversion: Promise<LayersModelConversion> = convertLayersModel('model/model.json', { opset: 13, fp16: true });",
      'export const opset: number = new GraphBuilder(17).opset;',
      '// @ts-expect-error: opset is a number',
      "convertLayersModel('model/model.json', { opset: '17' });",
    ].join('\n'),
  );
  const tsc = run(
    process.execPath,
    [
      join(repoModules, 'typescript', 'bin', 'tsc'),
      '--noEmit',
      '--strict',
      '--skipLibCheck',
      '--module',
      'nodenext',
      '--target',
      'es2022',
      '--types',
      'node',
      'typed.ts',
    ],
    app,
  );
  assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
  pixels.dispose();
  model.dispose();
  console.log(`# pack, install and convert: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
});
