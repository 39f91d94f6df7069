/**
 * tfjs-to-onnx: converts TensorFlow.js layers models to ONNX, in TypeScript. The API, one name per
 * thing; the graph builder, the layer converters and the Converter class are the subpaths
 * `tfjs-to-onnx/graph-builder`, `tfjs-to-onnx/layers` and `tfjs-to-onnx/convert`.
 */

// Conversion: from a file or in-memory artifacts (checked, with an optional sample), to a file, or a model in memory.
export { type ConvertLayersModelOptions, convertLayersModel, type LayersModelConversion, type Sample } from './convert-layers-model.ts';
export { conversionBackend, convertFile } from './convert-file.ts';
export { type ConvertOptions, type ConvertResult, convertModelToOnnx, type IoSpec, type LayerReport } from './convert.ts';
export { DEFAULT_OPSET, MAX_OPSET, MIN_OPSET, PRODUCER, type Producer } from './graph-builder.ts';
export { formatReport } from './report.ts';

// Reading and writing layers models with the same checks (Keras layers tfjs lacks are registered on load).
export { DEFAULT_MAX_PARAMETERS, type LoadOptions, loadLayersModelFile, saveLayersModel } from './model-io.ts';
export { registerKerasLayers } from './keras-layers.ts';

// Checking a conversion against tfjs: onnxruntime-node (optional peer) and the tolerance.
export { runOnnxModel } from './onnxruntime.ts';
export { type Difference, difference, TOLERANCE, withinTolerance } from './compare.ts';
export type { NamedTensors, TensorData } from './tensor-data.ts';

// The command line (`tfjs-to-onnx`, and `ganforge convert`, which mounts the same command).
export { CONVERT_FLAGS, type ConvertArgs, type ConvertCommand, type ConvertFlagValues, convertCommand } from './command.ts';
export { ParameterError } from './expected.ts';
