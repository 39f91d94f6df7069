import * as tf from '@tensorflow/tfjs';
import { writeFileAtomic } from './atomic-write.ts';
import { type ConvertLayersModelOptions, convertLayersModel, type LayersModelConversion } from './convert-layers-model.ts';
import { expected } from './expected.ts';
import { type ConvertGraphModelOptions, convertGraphModel, type GraphModelConversion } from './graph/convert-graph.ts';
import { modelKindOfFile } from './model-io.ts';

/** Options for {@link convertFile}: those of both kinds of model (`inputShapes` and `sampleValues` are for graph models). */
export interface ConvertFileOptions extends ConvertLayersModelOptions, Pick<ConvertGraphModelOptions, 'inputShapes' | 'sampleValues'> {}

/** What {@link convertFile} returns, by the kind of model the file held. */
export type ModelConversion = LayersModelConversion | GraphModelConversion;

/**
 * Converts a tfjs model file (`model.json` + weights) to an ONNX file, written atomically: a layers
 * model or a graph model, told apart by content (the topology: a Keras model or a GraphDef).
 */
export async function convertFile(modelJson: string, out: string, options: ConvertFileOptions = {}): Promise<ModelConversion> {
  const kind = await modelKindOfFile(modelJson);
  let result: ModelConversion;
  if (kind === 'graph-model') {
    result = await convertGraphModel(modelJson, options);
  } else {
    if (options.inputShapes && Object.keys(options.inputShapes).length) {
      throw expected('a graph model (layers models keep the shapes of their input layers)', 'inputShapes / --input-shape', `${modelJson} (a layers model)`);
    }
    if (options.sampleValues && Object.keys(options.sampleValues).length) {
      throw expected('a graph model (layers models are checked on random inputs)', 'sampleValues / --sample-value', `${modelJson} (a layers model)`);
    }
    result = await convertLayersModel(modelJson, options);
  }
  await writeFileAtomic(out, result.onnx);
  return result;
}

/** Uses the plain JS backend for conversion: it needs no native code and is exact. */
export async function conversionBackend(): Promise<void> {
  tf.enableProdMode();
  await tf.setBackend('cpu');
}
