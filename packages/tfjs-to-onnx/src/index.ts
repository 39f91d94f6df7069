/**
 * tfjs-to-onnx: converts TensorFlow.js layers and graph models to ONNX, in TypeScript. The API, one name per
 * thing; the graph builder, the layer converters and the Converter class are the subpaths
 * `tfjs-to-onnx/graph-builder`, `tfjs-to-onnx/layers` and `tfjs-to-onnx/convert`.
 */

// Conversion: from a file or in-memory artifacts (checked, with an optional sample), to a file, or a model in memory.
export { type ConvertLayersModelOptions, convertLayersModel, type LayersModelConversion, type Sample } from './convert-layers-model.ts';
export { type ConvertFileOptions, conversionBackend, convertFile, type ModelConversion } from './convert-file.ts';
export {
  type ConvertGraphModelOptions,
  convertGraphModel,
  type GraphIoSpec,
  type GraphModelConversion,
  type GraphOpReport,
  type GraphSample,
  parseInputShapes,
  parseSampleValues,
} from './graph/convert-graph.ts';
export { REFUSED_OPS } from './graph/refused.ts';
export { OP_CONVERTERS as GRAPH_OP_CONVERTERS } from './graph/ops/index.ts';
export { type ConvertOptions, type ConvertResult, convertModelToOnnx, type IoSpec, type LayerReport } from './convert.ts';
export { DEFAULT_OPSET, MAX_OPSET, MIN_OPSET, PRODUCER, type Producer } from './graph-builder.ts';
export { formatGraphReport, formatReport } from './report.ts';

// Reading and writing layers models with the same checks (Keras layers tfjs lacks are registered on load).
export {
  DEFAULT_MAX_PARAMETERS,
  type LoadOptions,
  loadLayersModelFile,
  type ModelKind,
  modelKindOf,
  readGraphModelArtifacts,
  saveLayersModel,
} from './model-io.ts';
export { registerKerasLayers } from './keras-layers.ts';

// Checking a conversion against tfjs: onnxruntime-node (optional peer) and the tolerance.
export { runOnnxGraph, runOnnxModel } from './onnxruntime.ts';
export { compareOutputs, type Difference, difference, type OutputDifference, TOLERANCE, withinTolerance } from './compare.ts';
export type { GraphTensorData, GraphTensors, NamedTensors, TensorData } from './tensor-data.ts';

// The command line (`tfjs-to-onnx`, and `ganforge convert`, which mounts the same command).
export { CONVERT_FLAGS, type ConvertArgs, type ConvertCommand, type ConvertFlagValues, convertCommand } from './command.ts';
export { ParameterError } from './expected.ts';
