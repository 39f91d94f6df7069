import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { defineCommand } from '../lib/cli/command.ts';
import { writeJsonAtomic } from '../lib/fs/atomic-write.ts';
import { UsageError } from '../shared/expected.ts';
import type { ModelManifest } from '../shared/manifest.ts';
import { evalContext, generateSamples, referenceImages, scoreImages, type Evaluation } from './evaluate.ts';

/** `ganforge eval <model | file.onnx | real | gaussian>`: classifier-FID, IS, class coverage and per-digit accuracy. */
export const evalCommand = defineCommand({
  name: 'eval',
  summary: 'score a model: classifier-FID, Inception Score, class coverage, per-digit accuracy',
  usage: '<model name | file.onnx | real | gaussian> [flags]',
  description:
    "Generates --samples digits from seeded latents, classifies them with models/classifier and compares them with the held-out real digits. Writes <name>.eval.json (and the manifest's evaluation block for a model in --models-dir).",
  flags: {
    samples: { kind: 'int', min: 2, max: 100000, default: 10000, help: 'samples to generate and score' },
    seed: { kind: 'int', min: 0, max: 0xffffffff, default: 0, help: 'seed of the latents (use a new one for figures the model was never selected on)' },
    'models-dir': { kind: 'string', default: 'models', help: 'folder of the models and the classifier' },
  },
  positionals: { min: 1, max: 1, names: "<model name | file.onnx | 'real' | 'gaussian'>" },
  async run({ values, positionals }, argv) {
    const target = positionals[0]!;
    const { samples: n, seed } = values;
    const dir = values['models-dir'];
    const command = `npm run eval -- ${argv.join(' ')}`;
    const ctx = await evalContext(dir);
    const reference = target === 'real' || target === 'gaussian';
    const onnxFile = target.endsWith('.onnx');
    let result: Evaluation;
    if (reference) {
      const ref = await referenceImages(ctx, target, n, seed);
      result = await scoreImages(ctx, ref.images, ref.n, { target, seed, command });
    } else {
      const file = onnxFile ? target : join(dir, `${target}.onnx`);
      const bytes = await readFile(file).catch((err: NodeJS.ErrnoException) => {
        throw new UsageError(`${file}: cannot read (${err.code ?? err.message}); expected a model name in ${dir}/, an .onnx file, 'real' or 'gaussian'`);
      });
      const generator = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'] });
      const { images, labels } = await generateSamples(generator, n, seed);
      result = await scoreImages(ctx, images, n, { target: basename(file, '.onnx'), seed, command, labels });
    }
    const name = onnxFile ? basename(target, '.onnx') : target;
    const out = onnxFile ? target.replace(/\.onnx$/, '.eval.json') : join(dir, `${reference ? `reference-${target}` : target}.eval.json`);
    await writeJsonAtomic(out, result);
    if (!reference && !onnxFile) {
      const manifestPath = join(dir, `${target}.json`);
      const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as ModelManifest;
      await writeJsonAtomic(manifestPath, { ...manifest, evaluation: result });
    }
    const perClass = result.perClassAccuracy ? `; per-class accuracy [${result.perClassAccuracy.map((a) => (100 * a).toFixed(1)).join(', ')}]%` : '';
    console.log(
      `${name}: classifier-FID ${result.fid.toFixed(3)}, IS ${result.inceptionScore.toFixed(3)}, confident ${(100 * result.confidentShare).toFixed(1)}%, classes [${result.classHistogram.join(', ')}] over ${result.samples} samples${perClass} -> ${out}`,
    );
  },
});
