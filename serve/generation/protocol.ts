/**
 * What the server's main thread and its generator threads say to each other. A job is one batch for one
 * model: several requests' latents run in one onnxruntime `run()`, then each request's images are laid
 * out and encoded in the same thread, so the event loop only parses requests and writes bytes.
 */

/** A response body as the generator produces it. */
export type Body = Uint8Array<ArrayBuffer>;

/** How one request's generated images become its response body. */
export type RenderSpec =
  | { readonly kind: 'grid'; readonly cols: number; readonly scale: number; readonly padding: number }
  | { readonly kind: 'animation'; readonly format: 'gif' | 'webp'; readonly scale: number; readonly delay: number };

/** One request's share of a job. */
export interface JobItem {
  /**
   * Row-major [n, latentDim], or a seed whose latents (`sampleLatents(seed, n, latentDim)`) the generator
   * thread draws itself: the event loop never spends time on the PRNG.
   */
  readonly latents: Float32Array | { readonly seed: number };
  /** Conditional models: one digit per image (null: 0-9 in turn). */
  readonly labels: Int32Array | null;
  readonly n: number;
  readonly render: RenderSpec;
}

/** A job sent to a generator thread. */
export interface JobRequest {
  readonly id: number;
  readonly model: string;
  readonly items: readonly JobItem[];
}

/** A generator thread's answer: one encoded body per item, or the error. */
export type JobResponse =
  /** The model has run: the thread takes the next job while this one's bodies are encoded. */
  | { readonly id: number; readonly inferred: true }
  | { readonly id: number; readonly ok: true; readonly bodies: Body[] }
  | { readonly id: number; readonly ok: false; readonly error: string };

/** What a generator thread is started with. */
export interface WorkerInit {
  readonly models: ReadonlyArray<{ readonly name: string; readonly bytes: Uint8Array; readonly manifest: import('../../shared/manifest.ts').ModelManifest }>;
  /** onnxruntime session options chosen by the main thread's provider selection. */
  readonly sessionOptions: Record<string, unknown>;
}

/** The first message of a generator thread: ready, or why it could not start. */
export type WorkerReady = { readonly ready: true } | { readonly ready: false; readonly error: string };
