import { join } from 'node:path';
import { defineCommand } from '../../lib/cli/command.ts';
import { loadDataset } from '../../lib/data.ts';
import { writeFileAtomic, writeJsonAtomic } from '../../lib/fs/atomic-write.ts';
import { sha256Hex } from '../../lib/hash.ts';
import { CLASSIFIER_IO, DIGIT_CLASSES } from '../../shared/classifier.ts';
import { expected } from '../../shared/expected.ts';
import type { ClassifierManifest } from '../../shared/manifest.ts';
import { convertModelToOnnx, DEFAULT_OPSET, saveLayersModel } from 'tfjs-to-onnx';
import { DEFAULT_CLASSIFIER, FEATURES, trainClassifier, type ClassifierConfig } from '../classifier/classifier.ts';
import { GANFORGE_PRODUCER } from '../export/export-run.ts';
import { TRAIN_FLAGS } from '../flags.ts';
import { kernelsFor, startBackend } from '../tfjs/setup.ts';

/** `ganforge train-classifier`: trains the evaluation classifier and writes models/classifier.{onnx,json} and its tfjs weights. */
export const trainClassifierCommand = defineCommand({
  name: 'train-classifier',
  summary: 'train the digit classifier behind the evaluation (models/classifier)',
  usage: '[flags]',
  flags: {
    epochs: { kind: 'int', min: 1, max: 1000, default: DEFAULT_CLASSIFIER.epochs, help: 'passes over the training split' },
    seed: { kind: 'int', min: 0, max: 0xffffffff, default: DEFAULT_CLASSIFIER.seed, help: 'seed of the split, the init, the batches and the shifts' },
    'held-out': { kind: 'int', min: 1, max: 1_000_000, default: DEFAULT_CLASSIFIER.heldOut, help: 'digits held out (the evaluation compares against them)' },
    'batch-size': { kind: 'int', min: 1, max: 4096, default: DEFAULT_CLASSIFIER.batchSize, help: 'images per batch' },
    lr: { kind: 'float', min: 0, default: DEFAULT_CLASSIFIER.lr, help: 'Adam learning rate' },
    data: { ...TRAIN_FLAGS.data, default: 'mnist' },
    backend: TRAIN_FLAGS.backend,
    'models-dir': { kind: 'string', default: 'models', help: 'folder the classifier is written to' },
  },
  async run({ values }, argv) {
    const config: ClassifierConfig = { epochs: values.epochs, seed: values.seed, heldOut: values['held-out'], batchSize: values['batch-size'], lr: values.lr };
    const selection = await startBackend(values.backend, console.log, kernelsFor('dcgan'));
    const data = await loadDataset(values.data);
    if (config.heldOut >= data.count) throw expected(`integer below the data set size (${data.count})`, '--held-out', config.heldOut);
    const t0 = performance.now();
    const { exportModel, heldOutAccuracy } = await trainClassifier(data, config, console.log);
    const { onnx } = convertModelToOnnx(exportModel, {
      inputNames: [CLASSIFIER_IO.image],
      outputNames: [CLASSIFIER_IO.probs, CLASSIFIER_IO.features],
      producer: GANFORGE_PRODUCER,
    });
    const dir = values['models-dir'];
    const manifest: ClassifierManifest = {
      name: 'classifier',
      architecture: 'classifier',
      inputs: [{ name: CLASSIFIER_IO.image, shape: ['batch', data.height, data.width, 1], dtype: 'float32' }],
      outputs: [
        { name: CLASSIFIER_IO.probs, shape: ['batch', DIGIT_CLASSES], dtype: 'float32' },
        { name: CLASSIFIER_IO.features, shape: ['batch', FEATURES], dtype: 'float32' },
      ],
      opset: DEFAULT_OPSET,
      heldOutAccuracy,
      split: { seed: config.seed, train: data.count - config.heldOut, heldOut: config.heldOut },
      epochs: config.epochs,
      backend: selection.name,
      wallTimeMs: Math.round(performance.now() - t0),
      date: new Date().toISOString(),
      sha256: sha256Hex(onnx),
      command: argv.length > 0 ? `npm run train:classifier -- ${argv.join(' ')}` : 'npm run train:classifier',
    };
    await writeFileAtomic(join(dir, 'classifier.onnx'), onnx);
    await saveLayersModel(exportModel, join(dir, 'classifier.tfjs'));
    await writeJsonAtomic(join(dir, 'classifier.json'), manifest);
    console.log(`held-out accuracy ${(100 * heldOutAccuracy).toFixed(2)}%; wrote ${dir}/classifier.onnx and ${dir}/classifier.json`);
  },
});
