/** One graph input or output. `batch` is the dynamic batch dimension. */
export interface TensorSpec {
  readonly name: string;
  readonly shape: ReadonlyArray<number | 'batch'>;
  readonly dtype: 'float32' | 'int32';
}

/** A tensor's values, platform-free (what the converter's sample inputs and checks pass around). */
export interface TensorData {
  readonly dtype: 'float32' | 'int32';
  readonly shape: readonly number[];
  readonly data: Float32Array | Int32Array;
}

/** Tensors by graph input or output name. */
export type NamedTensors = Record<string, TensorData>;
