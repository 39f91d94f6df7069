import * as tf from '@tensorflow/tfjs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadLayersModelFile } from 'tfjs-to-onnx';
import { cycleLabels } from '../../shared/generator.ts';
import type { ClassifierManifest } from '../../shared/manifest.ts';
import { fitFeatures, frechetDistance, perClassAccuracy, type GaussianFit } from '../../shared/metrics.ts';
import { sampleLatents } from '../../shared/prng.ts';
import { gatherImages, loadMnist, splitIndices } from '../../lib/data.ts';
import { forward } from '../gan/forward.ts';

/** Seed of the fixed latents the training-time FID uses (independent of the run seed). */
const FID_SEED = 31337;

/** One training-time evaluation of a generator. */
export interface TrainingEvaluation {
  /** Classifier-FID against the held-out digits (lower is better). */
  readonly fid: number;
  /** Conditional generators: the share of samples of each digit the classifier recognises as that digit. */
  readonly classAccuracy: number[] | null;
}

function concat(parts: readonly Float32Array[]): Float32Array {
  const all = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    all.set(p, offset);
    offset += p.length;
  }
  return all;
}

/** Classifier class probabilities and features of images, in batches. */
function classify(classifier: tf.LayersModel, images: Float32Array, n: number, h: number, w: number): { probs: Float32Array; features: Float32Array } {
  const probs: Float32Array[] = [];
  const features: Float32Array[] = [];
  for (let start = 0; start < n; start += 500) {
    const count = Math.min(500, n - start);
    tf.tidy(() => {
      const out = classifier.predict(tf.tensor4d(images.subarray(start * h * w, (start + count) * h * w), [count, h, w, 1])) as tf.Tensor[];
      probs.push(out[0]!.dataSync() as Float32Array);
      features.push(out[1]!.dataSync() as Float32Array);
    });
  }
  return { probs: concat(probs), features: concat(features) };
}

/**
 * The classifier-FID (and, for conditional generators, per-class accuracy) during training (`--eval-interval`): the tfjs copy of the shipped classifier
 * (`models/classifier.tfjs`), the held-out split its manifest records, and `samples` generator outputs
 * from fixed latents. Returns a function of the generator; the numbers are comparable along a run,
 * and with `npm run eval` up to the smaller sample count.
 */
export async function createFidMonitor(modelsDir: string, samples: number, latentDim: number): Promise<(generator: tf.LayersModel) => TrainingEvaluation> {
  const manifest = JSON.parse(
    await readFile(join(modelsDir, 'classifier.json'), 'utf8').catch(() => {
      throw new Error(`--eval-interval needs the classifier: ${modelsDir}/classifier.json is missing (npm run train:classifier)`);
    }),
  ) as ClassifierManifest;
  const classifier = await loadLayersModelFile(join(modelsDir, 'classifier.tfjs', 'model.json'));
  const data = loadMnist();
  const split = splitIndices(data.count, manifest.split.heldOut, manifest.split.seed);
  const featureSize = manifest.outputs[1]!.shape[1] as number;
  const classes = manifest.outputs[0]!.shape[1] as number;
  const real: GaussianFit = fitFeatures(
    classify(classifier, gatherImages(data, split.heldOut), split.heldOut.length, data.height, data.width).features,
    split.heldOut.length,
    featureSize,
  );
  const z = sampleLatents(FID_SEED, samples, latentDim);
  // Conditional generators get the digits 0-9 in turn.
  const labels = cycleLabels(samples);
  return (generator) => {
    const images = tf.tidy(() => {
      const zt = tf.tensor2d(z, [samples, latentDim]);
      const input = generator.inputs.length === 2 ? [zt, tf.tensor2d(labels, [samples, 1], 'int32')] : zt;
      return forward(generator, input, false).dataSync() as Float32Array;
    });
    const [, h, w] = generator.outputs[0]!.shape as [null, number, number];
    const { probs, features } = classify(classifier, images, samples, h, w);
    const conditional = generator.inputs.length === 2;
    return {
      fid: frechetDistance(fitFeatures(features, samples, featureSize), real),
      classAccuracy: conditional ? perClassAccuracy(probs, labels, classes) : null,
    };
  };
}
