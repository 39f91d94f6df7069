/** An in-memory image data set, pixels scaled to [-1, 1] like the seed (`x / 127.5 - 1`). Platform-free type. */
export interface Dataset {
  /** [count, height, width, 1] row-major. */
  readonly images: Float32Array;
  /** One label per image, or null when the source has none. */
  readonly labels: Uint8Array | null;
  readonly count: number;
  readonly height: number;
  readonly width: number;
  /** Where it came from, for logs and manifests. */
  readonly source: string;
}
