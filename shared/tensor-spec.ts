/** One graph input or output. `batch` is the dynamic batch dimension. */
export interface TensorSpec {
  readonly name: string;
  readonly shape: ReadonlyArray<number | 'batch'>;
  readonly dtype: 'float32' | 'int32';
}
