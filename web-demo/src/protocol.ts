import type { Feed } from '../../shared/generator.ts';
import type { RuntimeId } from './runtime-files.ts';

/**
 * Failures the page can be told to fake (`?fault=<name>`), so that each fallback from WebGPU to WASM
 * can be tested in a browser that has a working WebGPU adapter.
 */
export const FAULTS = ['no-adapter', 'webgpu-create', 'webgpu-run', 'webgpu-nan'] as const;
export type Fault = (typeof FAULTS)[number];

/** Which runtime runs the generators, and why it is not the first choice (null when it is). */
export interface RuntimeState {
  readonly backend: RuntimeId;
  readonly threads: number;
  readonly crossOriginIsolated: boolean;
  readonly reason: string | null;
}

/** What the page asks of the inference worker. */
export type WorkerRequest =
  | { readonly id: number; readonly type: 'init'; readonly fault: Fault | null }
  | {
      readonly id: number;
      readonly type: 'run';
      /** The model file, relative to the page. */
      readonly model: string;
      readonly feeds: readonly Feed[];
      readonly output: string;
    };

/** The worker's answer to request `id`, with the runtime state after it (a fallback may have happened). */
export type WorkerResponse =
  | { readonly id: number; readonly ok: true; readonly output: Float32Array | null; readonly runtime: RuntimeState }
  | { readonly id: number; readonly ok: false; readonly error: string; readonly runtime: RuntimeState | null };
