import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ClassifierManifest } from '../shared/manifest.ts';
import { writeFileAtomic } from './atomic-write.ts';
import type { BackendChoice } from './backend.ts';
import { DEFAULT_CLASSIFIER, FEATURES, trainClassifier, type ClassifierConfig } from './classifier.ts';
import { runCli } from './cli.ts';
import { parseFlagValue } from './config.ts';
import { loadDataset } from './data.ts';
import { saveLayersModel } from './model-io.ts';
import { convertToOnnx, ONNX_OPSET } from './onnx/convert.ts';
import { kernelsFor, startBackend } from './setup.ts';

// `npm run train:classifier -- [--epochs N] [--seed S] [--held-out N] [--batch-size B] [--lr X]
//   [--data mnist] [--backend auto] [--models-dir models]`: trains the evaluation classifier and writes
// models/classifier.{onnx,json} and its tfjs weights.
runCli(async () => {
  const argv = process.argv.slice(2);
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      epochs: { type: 'string' },
      seed: { type: 'string' },
      'held-out': { type: 'string' },
      'batch-size': { type: 'string' },
      lr: { type: 'string' },
      data: { type: 'string', default: 'mnist' },
      backend: { type: 'string', default: 'auto' },
      'models-dir': { type: 'string', default: 'models' },
    },
  });
  const int = (flag: string, raw: string | undefined, fallback: number, min: number, max: number): number => {
    if (raw === undefined) return fallback;
    if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) throw new Error(`Expected integer between ${min} and ${max} for --${flag} but received '${raw}'`);
    return Number(raw);
  };
  const config: ClassifierConfig = {
    epochs: int('epochs', values.epochs, DEFAULT_CLASSIFIER.epochs, 1, 1000),
    seed: int('seed', values.seed, DEFAULT_CLASSIFIER.seed, 0, 0xffffffff),
    heldOut: int('held-out', values['held-out'], DEFAULT_CLASSIFIER.heldOut, 1, 1_000_000),
    batchSize: int('batch-size', values['batch-size'], DEFAULT_CLASSIFIER.batchSize, 1, 4096),
    lr: values.lr === undefined ? DEFAULT_CLASSIFIER.lr : (parseFlagValue('lr', values.lr) as number),
  };
  const backend = parseFlagValue('backend', values.backend) as BackendChoice;
  const selection = await startBackend(backend, console.log, kernelsFor('dcgan'));
  const data = await loadDataset(values.data);
  if (config.heldOut >= data.count) throw new Error(`Expected --held-out below the data set size (${data.count}) but received ${config.heldOut}`);
  const t0 = performance.now();
  const { exportModel, heldOutAccuracy } = await trainClassifier(data, config, console.log);
  const onnx = convertToOnnx(exportModel, { inputNames: ['image'], outputNames: ['probs', 'features'] });
  const dir = values['models-dir'];
  const manifest: ClassifierManifest = {
    name: 'classifier',
    architecture: 'classifier',
    inputs: [{ name: 'image', shape: ['batch', data.height, data.width, 1], dtype: 'float32' }],
    outputs: [
      { name: 'probs', shape: ['batch', 10], dtype: 'float32' },
      { name: 'features', shape: ['batch', FEATURES], dtype: 'float32' },
    ],
    opset: ONNX_OPSET,
    heldOutAccuracy,
    split: { seed: config.seed, train: data.count - config.heldOut, heldOut: config.heldOut },
    epochs: config.epochs,
    backend: selection.name,
    wallTimeMs: Math.round(performance.now() - t0),
    date: new Date().toISOString(),
    sha256: createHash('sha256').update(onnx).digest('hex'),
    command: argv.length > 0 ? `npm run train:classifier -- ${argv.join(' ')}` : 'npm run train:classifier',
  };
  await writeFileAtomic(join(dir, 'classifier.onnx'), onnx);
  await saveLayersModel(exportModel, join(dir, 'classifier.tfjs'));
  await writeFileAtomic(join(dir, 'classifier.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  console.log(`held-out accuracy ${(100 * heldOutAccuracy).toFixed(2)}%; wrote ${dir}/classifier.onnx and ${dir}/classifier.json`);
});
