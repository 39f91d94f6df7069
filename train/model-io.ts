import * as tf from '@tensorflow/tfjs';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-write.ts';

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
