import * as tf from '@tensorflow/tfjs';
import { writeFileAtomic } from './atomic-write.ts';
import { type ConvertLayersModelOptions, convertLayersModel, type LayersModelConversion } from './convert-layers-model.ts';

/** Converts a tfjs layers model file (`model.json` + weights) to an ONNX file, written atomically. */
export async function convertFile(modelJson: string, out: string, options: ConvertLayersModelOptions = {}): Promise<LayersModelConversion> {
  const result = await convertLayersModel(modelJson, options);
  await writeFileAtomic(out, result.onnx);
  return result;
}

/** Uses the plain JS backend for conversion: it needs no native code and is exact. */
export async function conversionBackend(): Promise<void> {
  tf.enableProdMode();
  await tf.setBackend('cpu');
}
