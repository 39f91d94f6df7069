import { isConditional } from './generator.ts';
import type { TensorSpec } from './tensor-spec.ts';

export type { TensorSpec } from './tensor-spec.ts';

/**
 * The manifest written beside every exported model (`models/<name>.json`). Platform-free: the server
 * and the browser read it to know how to feed and interpret the ONNX file.
 */

export interface ModelManifest {
  readonly name: string;
  /** dense, dcgan, ... */
  readonly architecture: string;
  readonly latentDim: number;
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  /** Range of the image output; [-1, 1] for tanh generators. */
  readonly valueRange: readonly [number, number];
  /** Image layout of the output. */
  readonly layout: 'NHWC';
  readonly opset: number;
  /** The training config the weights came from. */
  readonly training: Record<string, unknown>;
  readonly iterations: number;
  readonly finalLosses: { readonly dLoss: number; readonly dAccuracy: number; readonly gLoss: number } | null;
  readonly backend: string;
  /** The training engine that ran ('ort' or 'tfjs'; absent in manifests older than the ort engine). */
  readonly engine?: string;
  /** Training threads (ort: intra-op threads; tfjs: data-parallel replicas). */
  readonly threads?: number;
  readonly wallTimeMs: number;
  /** ISO date of the export. */
  readonly date: string;
  /** sha256 of the ONNX file, hex. */
  readonly sha256: string;
  /** The command that produced the model. */
  readonly command: string;
  /** The `train/presets.ts` preset that reproduces the model (`npm run train:export -- --preset <name>`). */
  readonly preset?: string;
  /** Evaluation figures, when measured. */
  readonly evaluation?: Record<string, unknown>;
  /** Set when the export took the run's best generator (`--generator best`) instead of its last. */
  readonly selected?: {
    /** The --keep-best metric. */
    readonly by: string;
    readonly iteration: number;
    /** The training-time classifier-FID at that iteration. */
    readonly fid: number;
    readonly classAccuracy?: readonly number[];
  };
}

/** Which shipped model is served by default (server and static web demo), best first. */
export const DEFAULT_PREFERENCE: readonly string[] = ['dcgan-x1', 'dcgan', 'dense-burn-in', 'dense'];

/** Shipped conditional models, the best measured first: the default for a request with a digit and no model. */
export const CONDITIONAL_PREFERENCE: readonly string[] = ['cgan-aux2', 'cgan-aux', 'cgan', 'acgan'];

/**
 * The model a request for a digit uses when it names none: the default model if it is conditional,
 * else the preferred conditional one, else any; null when no conditional model is loaded.
 */
export function chooseConditionalDefault(manifests: readonly ModelManifest[], defaultModel: string): string | null {
  const conditional = manifests.filter(isConditional).map((m) => m.name);
  if (conditional.includes(defaultModel)) return defaultModel;
  return CONDITIONAL_PREFERENCE.find((n) => conditional.includes(n)) ?? conditional.sort()[0] ?? null;
}

/** Picks the default model among those available, or the requested one (which must be available). */
export function chooseDefault(available: readonly string[], requested: string | null = null): string {
  if (requested !== null) {
    if (!available.includes(requested)) throw new Error(`The default model '${requested}' is not loaded (loaded: ${available.join(', ') || 'none'})`);
    return requested;
  }
  const found = DEFAULT_PREFERENCE.find((n) => available.includes(n)) ?? available[0];
  if (found === undefined) throw new Error('No model available');
  return found;
}

/** The manifest of the digit classifier used by the evaluation (`models/classifier.json`). */
export interface ClassifierManifest {
  readonly name: string;
  readonly architecture: 'classifier';
  readonly inputs: readonly TensorSpec[];
  /** `probs` [batch, 10] then `features` [batch, F] (the penultimate layer). */
  readonly outputs: readonly TensorSpec[];
  readonly opset: number;
  readonly heldOutAccuracy: number;
  /** How the embedded digits were split: the same seed reproduces the split in the evaluation. */
  readonly split: { readonly seed: number; readonly train: number; readonly heldOut: number };
  readonly epochs: number;
  readonly backend: string;
  readonly wallTimeMs: number;
  readonly date: string;
  readonly sha256: string;
  readonly command: string;
}

/** Whether a file name in a models folder is a manifest (`<name>.json`; not `<name>.eval.json`). */
export function isManifestFile(file: string): boolean {
  return /^[a-z0-9][a-z0-9_-]*\.json$/.test(file);
}

/** Names a model may have: they become file names and URL parameters, so no path can be smuggled in. */
export const MODEL_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/** How {@link MODEL_NAME} reads in an error message. */
export const MODEL_NAME_DESCRIPTION = "1-64 lowercase letters, digits, '-' or '_' (starting with a letter or digit)";
