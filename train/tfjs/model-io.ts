import * as tf from '@tensorflow/tfjs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../lib/fs/atomic-write.ts';

/**
 * Saves a layers model in tfjs' own format (`model.json` + `weights.bin`, as `model.save('file://')`
 * writes it) without tfjs-node: weights first, then the manifest, each atomically, so a reader that
 * finds `model.json` also finds complete weights.
 */
export async function saveLayersModel(model: tf.LayersModel, dir: string): Promise<void> {
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weights = new Uint8Array(artifacts.weightData as ArrayBuffer);
      await writeFileAtomic(join(dir, 'weights.bin'), weights);
      const manifest = {
        modelTopology: artifacts.modelTopology,
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{ paths: ['./weights.bin'], weights: artifacts.weightSpecs }],
      };
      await writeFileAtomic(join(dir, 'model.json'), JSON.stringify(manifest));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    }),
  );
}

/** Byte size of one element of each weight dtype tfjs writes. */
const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1 };

interface WeightsGroup {
  paths: string[];
  weights: { name: string; shape: number[]; dtype: string; quantization?: unknown }[];
}

/**
 * Loads a tfjs layers model saved as `model.json` + weight files, checking the manifest first so a
 * broken file gets an error naming it and what is wrong (missing file, wrong byte length, unknown
 * dtype, weights that do not match the topology) instead of tfjs' generic failures.
 */
export async function loadLayersModelFile(modelJsonPath: string): Promise<tf.LayersModel> {
  const { readFile } = await import('node:fs/promises');
  const { dirname, resolve } = await import('node:path');
  let json: { modelTopology?: unknown; weightsManifest?: WeightsGroup[]; format?: string };
  try {
    json = JSON.parse(await readFile(modelJsonPath, 'utf8'));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`${modelJsonPath}: ${e.code ? `cannot read (${e.code})` : `invalid JSON (${e.message})`}`);
  }
  if (!json || typeof json !== 'object' || !json.modelTopology) throw new Error(`${modelJsonPath}: no modelTopology: not a tfjs layers model.json`);
  if (json.format && json.format !== 'layers-model')
    throw new Error(`${modelJsonPath}: format '${json.format}' is not a layers model (expected 'layers-model')`);
  if (!Array.isArray(json.weightsManifest)) throw new Error(`${modelJsonPath}: weightsManifest is missing or not an array`);
  const specs: tf.io.WeightsManifestEntry[] = [];
  const buffers: Uint8Array[] = [];
  for (const group of json.weightsManifest) {
    if (!Array.isArray(group?.paths) || !Array.isArray(group?.weights)) throw new Error(`${modelJsonPath}: a weightsManifest group lacks paths or weights`);
    let expected = 0;
    for (const w of group.weights) {
      if (w.quantization) throw new Error(`${modelJsonPath}: weight '${w.name}' is quantized, which is not supported`);
      const bytes = DTYPE_BYTES[w.dtype];
      if (bytes === undefined)
        throw new Error(`${modelJsonPath}: weight '${w.name}' has unknown dtype '${w.dtype}' (expected ${Object.keys(DTYPE_BYTES).join(', ')})`);
      if (!Array.isArray(w.shape) || !w.shape.every((d) => Number.isInteger(d) && d >= 0))
        throw new Error(`${modelJsonPath}: weight '${w.name}' has an invalid shape ${JSON.stringify(w.shape)}`);
      expected += bytes * w.shape.reduce((a, b) => a * b, 1);
      specs.push(w as tf.io.WeightsManifestEntry);
    }
    const parts: Uint8Array[] = [];
    for (const p of group.paths) {
      const file = resolve(dirname(modelJsonPath), p);
      parts.push(
        await readFile(file).catch((err: NodeJS.ErrnoException) => {
          throw new Error(`${file}: cannot read weight file listed in ${modelJsonPath} (${err.code ?? err.message})`);
        }),
      );
    }
    const actual = parts.reduce((s, b) => s + b.length, 0);
    if (actual !== expected) {
      throw new Error(`${modelJsonPath}: weight files ${group.paths.join(', ')} hold ${actual} bytes but the manifest describes ${expected}`);
    }
    buffers.push(...parts);
  }
  const weightData = new Uint8Array(buffers.reduce((s, b) => s + b.length, 0));
  let offset = 0;
  for (const b of buffers) {
    weightData.set(b, offset);
    offset += b.length;
  }
  try {
    return await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology as object, weightSpecs: specs, weightData: weightData.buffer }));
  } catch (err) {
    throw new Error(`${modelJsonPath}: ${(err as Error).message}`);
  }
}
