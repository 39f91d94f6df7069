import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import type { ModelManifest } from '../shared/manifest.ts';
import { writeFileAtomic } from '../train/atomic-write.ts';
import { runCli } from '../train/cli.ts';
import { evalContext, generateSamples, referenceImages, scoreImages, type Evaluation } from './evaluate.ts';

// `npm run eval -- <model name | file.onnx | real | gaussian> [--samples 10000] [--seed 0] [--models-dir models]`
runCli(async () => {
  const argv = process.argv.slice(2);
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: { samples: { type: 'string', default: '10000' }, seed: { type: 'string', default: '0' }, 'models-dir': { type: 'string', default: 'models' } },
  });
  if (positionals.length !== 1) throw new Error(`Expected one model name, .onnx file, 'real' or 'gaussian' but received ${positionals.length} arguments`);
  const target = positionals[0]!;
  const samples = values.samples;
  if (!/^\d+$/.test(samples) || Number(samples) < 2 || Number(samples) > 100000) throw new Error(`Expected integer between 2 and 100000 for --samples but received '${samples}'`);
  if (!/^\d+$/.test(values.seed) || Number(values.seed) > 0xffffffff) throw new Error(`Expected integer between 0 and 4294967295 for --seed but received '${values.seed}'`);
  const n = Number(samples);
  const seed = Number(values.seed);
  const dir = values['models-dir'];
  const command = `npm run eval -- ${argv.join(' ')}`;
  const ctx = await evalContext(dir);
  let result: Evaluation;
  let manifestPath: string | null = null;
  if (target === 'real' || target === 'gaussian') {
    const ref = await referenceImages(ctx, target, n, seed);
    result = await scoreImages(ctx, ref.images, ref.n, { target, seed, command });
  } else {
    const file = target.endsWith('.onnx') ? target : join(dir, `${target}.onnx`);
    const bytes = await readFile(file).catch((err: NodeJS.ErrnoException) => {
      throw new Error(`${file}: cannot read (${err.code ?? err.message}); expected a model name in ${dir}/, an .onnx file, 'real' or 'gaussian'`);
    });
    const generator = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'] });
    const { images, labels } = await generateSamples(generator, n, seed);
    result = await scoreImages(ctx, images, n, { target: basename(file, '.onnx'), seed, command, labels });
    if (!target.endsWith('.onnx')) manifestPath = join(dir, `${target}.json`);
  }
  const name = target.endsWith('.onnx') ? basename(target, '.onnx') : target;
  const out = target.endsWith('.onnx') ? target.replace(/\.onnx$/, '.eval.json') : join(dir, `${target === 'real' || target === 'gaussian' ? `reference-${target}` : target}.eval.json`);
  await writeFileAtomic(out, `${JSON.stringify(result, null, 2)}\n`);
  if (manifestPath) {
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as ModelManifest;
    await writeFileAtomic(manifestPath, `${JSON.stringify({ ...manifest, evaluation: result }, null, 2)}\n`);
  }
  const perClass = result.perClassAccuracy ? `; per-class accuracy [${result.perClassAccuracy.map((a) => (100 * a).toFixed(1)).join(', ')}]%` : '';
  console.log(`${name}: classifier-FID ${result.fid.toFixed(3)}, IS ${result.inceptionScore.toFixed(3)}, confident ${(100 * result.confidentShare).toFixed(1)}%, classes [${result.classHistogram.join(', ')}] over ${result.samples} samples${perClass} -> ${out}`);
});
