import type * as tfType from '@tensorflow/tfjs';
import { expected } from '../../shared/expected.ts';

/** Backends in the order `auto` tries them. */
export const BACKEND_NAMES = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
/** A backend a user may ask for. */
export type BackendName = (typeof BACKEND_NAMES)[number];
export type BackendChoice = BackendName | 'auto';

/** One row of the backend table: how to load it and how to tell a user to install it. */
export interface BackendCandidate {
  readonly name: BackendName;
  /** The tfjs backend name that `tf.setBackend` takes. */
  readonly tfName: string;
  readonly install: string;
  /** Loads the backend's package and registers it; throws with the reason when it cannot. */
  readonly load: () => Promise<void>;
  /** Extra check once the backend runs (e.g. CUDA really visible); returns a reason to skip, or null. */
  readonly verify?: (tf: typeof tfType) => Promise<string | null>;
}

/** What {@link selectBackend} chose and why each earlier candidate was passed over. */
export interface BackendSelection {
  readonly name: BackendName;
  readonly skipped: ReadonlyArray<{ readonly name: BackendName; readonly reason: string }>;
}

function message(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0] ?? text;
}

/**
 * The default table. tfjs-node-gpu quietly runs on CPU when libcudnn is missing, so its row verifies
 * that TensorFlow actually sees a GPU before accepting it.
 */
export function defaultCandidates(): BackendCandidate[] {
  return [
    {
      name: 'tensorflow-gpu',
      tfName: 'tensorflow',
      install: 'npm install @tensorflow/tfjs-node-gpu (needs CUDA 11.2 and cuDNN 8.1, see README "Enabling CUDA")',
      load: async () => {
        await import('@tensorflow/tfjs-node-gpu' as string);
      },
      verify: async (tf) => {
        const gpus = tf.env().getBool('IS_NODE') ? await listGpus() : [];
        return gpus.length > 0 ? null : 'libtensorflow loaded but sees no CUDA GPU';
      },
    },
    {
      name: 'tensorflow',
      tfName: 'tensorflow',
      install: 'npm install @tensorflow/tfjs-node (downloads libtensorflow at install time)',
      load: async () => {
        await import('@tensorflow/tfjs-node' as string);
      },
    },
    {
      name: 'wasm',
      tfName: 'wasm',
      install: 'npm install @tensorflow/tfjs-backend-wasm',
      load: async () => {
        await import('@tensorflow/tfjs-backend-wasm');
        // Kernel replacements go in before any check of the kernel registry.
        (await import('./wasm-kernels.ts')).registerWasmKernels();
        (await import('./wasm-conv-kernels.ts')).registerWasmConvKernels();
      },
    },
    {
      name: 'cpu',
      tfName: 'cpu',
      install: 'npm install @tensorflow/tfjs',
      load: async () => {},
    },
  ];
}

/** GPUs visible to libtensorflow, via nvidia's device files (no extra native dependency). */
async function listGpus(): Promise<string[]> {
  const { readdir } = await import('node:fs/promises');
  const devs = await readdir('/dev').catch(() => [] as string[]);
  return devs.filter((d) => /^nvidia\d+$/.test(d));
}

/**
 * Selects a tfjs backend. `auto` walks the table in order and takes the first that loads and
 * initialises and has every kernel in `requiredKernels`, recording why each earlier one was skipped; an explicit choice that fails throws an
 * error saying how to install it.
 */
export async function selectBackend(
  tf: typeof tfType,
  choice: BackendChoice,
  candidates: readonly BackendCandidate[] = defaultCandidates(),
  requiredKernels: readonly string[] = [],
): Promise<BackendSelection> {
  const rows = choice === 'auto' ? candidates : candidates.filter((c) => c.name === choice);
  if (rows.length === 0) {
    throw expected(`one of auto, ${BACKEND_NAMES.join(', ')}`, '--backend', choice);
  }
  const skipped: { name: BackendName; reason: string }[] = [];
  for (const row of rows) {
    let reason: string | null;
    let missing: string[] = [];
    try {
      await row.load();
      const ok = await tf.setBackend(row.tfName);
      missing = ok ? requiredKernels.filter((k) => !tf.getKernel(k, row.tfName)) : [];
      reason = !ok
        ? `tfjs could not initialise the '${row.tfName}' backend`
        : missing.length > 0
          ? `it has no ${missing.join(', ')} kernel, which training this model needs`
          : ((await row.verify?.(tf)) ?? null);
    } catch (err) {
      reason = message(err);
    }
    if (reason === null) {
      await tf.ready();
      return { name: row.name, skipped };
    }
    if (choice !== 'auto') {
      throw new Error(
        missing.length > 0
          ? `Backend '${row.name}' cannot train this model: ${reason}; choose another --backend`
          : `Backend '${row.name}' is not available: ${reason}. Install it with: ${row.install}`,
      );
    }
    skipped.push({ name: row.name, reason });
  }
  throw new Error(`No tfjs backend could start: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}`);
}

/** One log line describing a selection, e.g. "backend: wasm (skipped tensorflow-gpu: ...)". */
export function describeSelection(sel: BackendSelection): string {
  const why = sel.skipped.map((s) => `${s.name}: ${s.reason}`).join('; ');
  return `backend: ${sel.name}${why ? ` (skipped ${why})` : ''}`;
}
