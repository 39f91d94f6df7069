/** A tensor's values as plain typed arrays (the sample inputs and outputs a conversion is checked on). */
export interface TensorData {
  readonly dtype: 'float32' | 'int32';
  readonly shape: readonly number[];
  readonly data: Float32Array | Int32Array;
}

/** Tensors by graph input or output name. */
export type NamedTensors = Record<string, TensorData>;

/** A tensor of a graph model's inputs or outputs, which may also be bool (as 0/1 bytes). */
export interface GraphTensorData {
  readonly dtype: 'float32' | 'int32' | 'bool';
  readonly shape: readonly number[];
  readonly data: Float32Array | Int32Array | Uint8Array;
}

/** Graph-model tensors by input or output name. */
export type GraphTensors = Record<string, GraphTensorData>;
