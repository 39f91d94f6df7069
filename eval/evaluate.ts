import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { cycleLabels, feedRecord, GENERATOR_IO, generatorFeeds, isConditional, isGenerator } from '../shared/generator.ts';
import { CLASSIFIER_IO, DIGIT_CLASSES } from '../shared/classifier.ts';
import { UsageError } from '../shared/expected.ts';
import type { ClassifierManifest } from '../shared/manifest.ts';
import { classCoverage, fitFeatures, frechetDistance, inceptionScore, perClassAccuracy, type GaussianFit } from '../shared/metrics.ts';
import { Prng, sampleLatents } from '../shared/prng.ts';
import { gatherImages, loadMnist, splitIndices, type Dataset } from '../lib/data.ts';
import { fitGaussian, sampleGaussian } from '../shared/gaussian.ts';

/** What `npm run eval` reports for one model. */
export interface Evaluation {
  readonly target: string;
  readonly samples: number;
  readonly seed: number;
  /** Classifier-FID against the held-out real digits (lower is better). */
  readonly fid: number;
  /** Classifier Inception Score (10 at best). */
  readonly inceptionScore: number;
  /** Predicted digit counts, 0-9. */
  readonly classHistogram: number[];
  /** Share of samples the classifier labels with probability >= 0.9. */
  readonly confidentShare: number;
  /** Conditional models: per requested digit 0-9, the share the classifier recognises as that digit. */
  readonly perClassAccuracy?: number[];
  readonly classifierSha256: string;
  readonly date: string;
  readonly command: string;
}

/** The classifier's session and the real-digit reference it defines. */
export interface EvalContext {
  readonly classifier: ort.InferenceSession;
  readonly manifest: ClassifierManifest;
  readonly data: Dataset;
  readonly heldOut: Float32Array;
  readonly train: Float32Array;
  /** Gaussian fit of the held-out digits' features. */
  readonly heldOutFit: GaussianFit;
}

const BATCH = 500;

/** Runs images through the classifier: class probabilities and penultimate features. */
export async function classify(
  ctx: Pick<EvalContext, 'classifier' | 'manifest'>,
  images: Float32Array,
  n: number,
): Promise<{ probs: Float32Array; features: Float32Array }> {
  const [, h, w] = ctx.manifest.inputs[0]!.shape as [unknown, number, number];
  const featureSize = ctx.manifest.outputs[1]!.shape[1] as number;
  const probs = new Float32Array(n * DIGIT_CLASSES);
  const features = new Float32Array(n * featureSize);
  for (let start = 0; start < n; start += BATCH) {
    const count = Math.min(BATCH, n - start);
    const x = new ort.Tensor('float32', images.subarray(start * h * w, (start + count) * h * w), [count, h, w, 1]);
    const out = await ctx.classifier.run({ [CLASSIFIER_IO.image]: x });
    probs.set(out[CLASSIFIER_IO.probs]!.data as Float32Array, start * DIGIT_CLASSES);
    features.set(out[CLASSIFIER_IO.features]!.data as Float32Array, start * featureSize);
  }
  return { probs, features };
}

/** Loads the classifier and the data split it was trained on, and fits the held-out features. */
export async function evalContext(modelsDir: string): Promise<EvalContext> {
  const manifest = JSON.parse(
    await readFile(join(modelsDir, 'classifier.json'), 'utf8').catch(() => {
      throw new UsageError(`${modelsDir}/classifier.json is missing: run npm run train:classifier first`);
    }),
  ) as ClassifierManifest;
  const classifier = await ort.InferenceSession.create(await readFile(join(modelsDir, 'classifier.onnx')), { executionProviders: ['cpu'] });
  const data = loadMnist();
  const split = splitIndices(data.count, manifest.split.heldOut, manifest.split.seed);
  const heldOut = gatherImages(data, split.heldOut);
  const train = gatherImages(data, split.train);
  const featureSize = manifest.outputs[1]!.shape[1] as number;
  const { features } = await classify({ classifier, manifest }, heldOut, split.heldOut.length);
  return { classifier, manifest, data, heldOut, train, heldOutFit: fitFeatures(features, split.heldOut.length, featureSize) };
}

/** Scores a set of images (values in [-1, 1], [n, h, w, 1]) against the held-out real digits. */
export async function scoreImages(
  ctx: EvalContext,
  images: Float32Array,
  n: number,
  meta: { target: string; seed: number; command: string; labels?: Int32Array },
): Promise<Evaluation> {
  const { probs, features } = await classify(ctx, images, n);
  const featureSize = ctx.manifest.outputs[1]!.shape[1] as number;
  const coverage = classCoverage(probs, n, DIGIT_CLASSES);
  const perClass = meta.labels ? perClassAccuracy(probs, meta.labels) : undefined;
  return {
    target: meta.target,
    samples: n,
    seed: meta.seed,
    fid: frechetDistance(fitFeatures(features, n, featureSize), ctx.heldOutFit),
    inceptionScore: inceptionScore(probs, n, DIGIT_CLASSES),
    classHistogram: coverage.histogram,
    confidentShare: coverage.confident,
    ...(perClass ? { perClassAccuracy: perClass } : {}),
    classifierSha256: ctx.manifest.sha256,
    date: new Date().toISOString(),
    command: meta.command,
  };
}

/**
 * Generates n samples from an ONNX generator with latents from the shared seeded PRNG, in batches.
 * Conditional generators (a second `label` input) get the digits 0-9 in turn; the labels are returned.
 */
export async function generateSamples(generator: ort.InferenceSession, n: number, seed: number): Promise<{ images: Float32Array; labels?: Int32Array }> {
  const input = generator.inputMetadata[0]!;
  const output = generator.outputMetadata[0]!;
  if (!input.isTensor || !output.isTensor) throw new Error('Expected a generator with a tensor input and output');
  const latentDim = input.shape[1];
  const [, h, w] = output.shape;
  if (typeof latentDim !== 'number' || typeof h !== 'number' || typeof w !== 'number') {
    throw new Error(
      `Expected a generator [batch, latent] -> [batch, h, w, 1] but the graph has ${input.name}[${input.shape}] -> ${output.name}[${output.shape}]`,
    );
  }
  const iface = { latentDim, inputs: generator.inputNames.map((name) => ({ name })), outputs: [{ name: output.name, shape: output.shape }] };
  if (!isGenerator(iface) || iface.inputs.length > 2 || (iface.inputs.length === 2 && !isConditional(iface))) {
    throw new Error(
      `Expected a ganforge generator with inputs ${GENERATOR_IO.latent}[, ${GENERATOR_IO.label}] but the graph has ${generator.inputNames.join(', ')}`,
    );
  }
  // One latent matrix for all samples, so the numbers do not depend on the batch size.
  const z = sampleLatents(seed, n, latentDim);
  const labels = isConditional(iface) ? cycleLabels(n) : undefined;
  const out = new Float32Array(n * h * w);
  for (let start = 0; start < n; start += BATCH) {
    const count = Math.min(BATCH, n - start);
    const feeds = generatorFeeds(iface, z.subarray(start * latentDim, (start + count) * latentDim), count, labels?.subarray(start, start + count) ?? null);
    const res = await generator.run(feedRecord(feeds, (f) => new ort.Tensor(f.type, f.data, [...f.dims])));
    out.set(res[output.name]!.data as Float32Array, start * h * w);
  }
  return { images: out, labels };
}

/** The reference rows: held-out real digits against the training digits, and the seed's Gaussian baseline. */
export async function referenceImages(
  ctx: EvalContext,
  target: 'real' | 'gaussian',
  n: number,
  seed: number,
): Promise<{ images: Float32Array; n: number; fit?: GaussianFit }> {
  const size = ctx.data.height * ctx.data.width;
  if (target === 'real') return { images: ctx.train, n: ctx.train.length / size };
  const trainSet: Dataset = { ...ctx.data, images: ctx.train, labels: null, count: ctx.train.length / size };
  return { images: sampleGaussian(fitGaussian(trainSet), n, new Prng(seed)), n };
}
