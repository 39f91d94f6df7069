import * as tf from '@tensorflow/tfjs';
import { writeFileAtomic } from '../../../lib/fs/atomic-write.ts';
import { loadLayersModelFile } from '../../tfjs/model-io.ts';
import { convertToOnnx, defaultNames } from './convert.ts';

/** Converts any tfjs layers model file (`model.json` + weights) to an ONNX file with its own input and output names. */
export async function convertFile(modelJson: string, out: string): Promise<{ bytes: number; inputs: string[]; outputs: string[] }> {
  const model = await loadLayersModelFile(modelJson);
  try {
    const onnx = convertToOnnx(model);
    await writeFileAtomic(out, onnx);
    return { bytes: onnx.length, ...defaultNames(model) };
  } finally {
    model.dispose();
  }
}

/** Uses the plain JS backend for conversion: it needs no native code and is exact. */
export async function conversionBackend(): Promise<void> {
  tf.enableProdMode();
  await tf.setBackend('cpu');
}
