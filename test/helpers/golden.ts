import * as ort from 'onnxruntime-node';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { cycleLabels, feedRecord, generatorFeeds, imageOutput, isConditional, isGenerator } from '../../shared/generator.ts';
import { isManifestFile, type ModelManifest } from '../../shared/manifest.ts';
import { sampleLatents } from '../../shared/prng.ts';

export const MODELS_DIR = join(import.meta.dirname, '..', '..', 'models');
export const GOLDEN_DIR = join(import.meta.dirname, '..', 'golden');
/** Seeds whose generator outputs are committed, and latents per seed. */
export const GOLDEN_SEEDS = [0, 1, 42];
export const GOLDEN_N = 2;

/** A committed expected output of a shipped generator. */
export interface Golden {
  readonly model: string;
  readonly sha256: string;
  readonly seeds: number[];
  readonly n: number;
  /** Per seed: base64 of the float32 output [n, h, w, c]. */
  readonly outputs: string[];
}

/** Manifests of the shipped generators (models with a latent input). */
export async function shippedGenerators(): Promise<ModelManifest[]> {
  const files = (await readdir(MODELS_DIR)).filter(isManifestFile).sort();
  const manifests = await Promise.all(files.map(async (f) => JSON.parse(await readFile(join(MODELS_DIR, f), 'utf8')) as ModelManifest));
  return manifests.filter(isGenerator);
}

/** Runs a generator on ORT's CPU provider for the golden latents of `seed`. */
export async function generate(session: ort.InferenceSession, m: ModelManifest, seed: number, n = GOLDEN_N): Promise<Float32Array> {
  const z = sampleLatents(seed, n, m.latentDim);
  const out = await session.run(feedRecord(generatorFeeds(m, z, n), (f) => new ort.Tensor(f.type, f.data, [...f.dims])));
  return out[imageOutput(m)]!.data as Float32Array;
}

export const toBase64 = (a: Float32Array): string => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
export const fromBase64 = (s: string): Float32Array => {
  const b = Buffer.from(s, 'base64');
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};

/** The tfjs copy of a shipped generator's output for the golden latents of `seed` (the reference ONNX is checked against). */
export function tfjsReference(g: tf.LayersModel, m: ModelManifest, seed: number, n = GOLDEN_N): Float32Array {
  return tf.tidy(() => {
    const z = tf.tensor2d(sampleLatents(seed, n, m.latentDim), [n, m.latentDim]);
    const input = isConditional(m) ? [z, tf.tensor2d(cycleLabels(n), [n, 1], 'int32')] : z;
    return (g.predict(input) as tf.Tensor).dataSync() as Float32Array;
  });
}
