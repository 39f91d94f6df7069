/**
 * The ops of tfjs-converter 4.22's op list (tfjs-converter/src/operations/op_list/*.ts) this converter
 * does not convert, each with the reason given when a model needs it. Every other op of that list
 * converts (see ops/index.ts); a test checks the two lists cover tfjs-converter's exactly.
 */

const TF1_CONTROL_FLOW =
  'TF1 control flow left where it could not be restructured into If/Loop (inside a TF2 library function, or in a structure TensorFlow does not build)';
const COMPLEX = 'complex64 tensors: ONNX has no complex element type';
const SPECTRAL = 'it needs complex64 tensors, which ONNX lacks (ONNX DFT keeps real and imaginary parts in a trailing axis tfjs does not)';
const RANDOM =
  "random values: an ONNX random op cannot reproduce tfjs' generator, so the model could not be checked against tfjs; pass the noise in as an input instead";
const HASH_TABLE = "hash tables (the model initializer's lookup tables): ONNX has no mutable tables";
const STRING = 'string processing has no ONNX counterpart';
const RAGGED = 'ragged tensors have no ONNX counterpart';
const SPARSE = 'sparse tensors (indices, values, dense shape) have no ONNX counterpart';
const TFDF = 'TensorFlow Decision Forests models run inside their own WebAssembly resource, not as tensor ops';

export const REFUSED_OPS: Readonly<Record<string, string>> = {
  LoopCond: TF1_CONTROL_FLOW,
  Switch: TF1_CONTROL_FLOW,
  Merge: TF1_CONTROL_FLOW,
  Enter: TF1_CONTROL_FLOW,
  Exit: TF1_CONTROL_FLOW,
  NextIteration: TF1_CONTROL_FLOW,
  Complex: COMPLEX,
  ComplexAbs: COMPLEX,
  Real: COMPLEX,
  Imag: COMPLEX,
  FFT: SPECTRAL,
  IFFT: SPECTRAL,
  RFFT: SPECTRAL,
  IRFFT: SPECTRAL,
  RandomStandardNormal: RANDOM,
  RandomUniform: RANDOM,
  RandomUniformInt: RANDOM,
  TruncatedNormal: RANDOM,
  Multinomial: RANDOM,
  Dilation2D: 'grayscale morphological dilation has no ONNX op',
  CropAndResize: "no ONNX op samples boxes with TensorFlow's extrapolation rules (RoiAlign averages bins, GridSample pads differently)",
  ImageProjectiveTransformV3: "projective warps with TensorFlow's fill modes have no ONNX op",
  HashTable: HASH_TABLE,
  HashTableV2: HASH_TABLE,
  LookupTableImport: HASH_TABLE,
  LookupTableImportV2: HASH_TABLE,
  LookupTableFind: HASH_TABLE,
  LookupTableFindV2: HASH_TABLE,
  LookupTableSize: HASH_TABLE,
  LookupTableSizeV2: HASH_TABLE,
  InitializeTable: HASH_TABLE,
  InitializeTableV2: HASH_TABLE,
  StaticRegexReplace: STRING,
  StringNGrams: STRING,
  StringSplit: STRING,
  StringToHashBucketFast: STRING,
  RaggedGather: RAGGED,
  RaggedRange: RAGGED,
  RaggedTensorToTensor: RAGGED,
  SparseFillEmptyRows: SPARSE,
  SparseReshape: SPARSE,
  SparseSegmentMean: SPARSE,
  SparseSegmentSum: SPARSE,
  SimpleMLCreateModelResource: TFDF,
  SimpleMLLoadModelFromPathWithHandle: TFDF,
  SimpleMLInferenceOpWithHandle: TFDF,
};

/** Ops the driver itself reads (weights and graph inputs). */
export const DRIVER_OPS: readonly string[] = ['Const', 'Placeholder'];
