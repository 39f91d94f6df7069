import * as ort from 'onnxruntime-node';

/** What `--device` accepts. */
export const DEVICES = ['auto', 'cuda', 'cpu'] as const;
export type Device = (typeof DEVICES)[number];

/** One row of the execution-provider table. */
export interface ProviderRow {
  readonly name: 'cuda' | 'cpu';
  readonly executionProviders: ort.InferenceSession.SessionOptions['executionProviders'];
}

/** Tried in order by `auto`: ORT does not fall back from CUDA by itself, so ganforge does. */
export const PROVIDERS: readonly ProviderRow[] = [
  { name: 'cuda', executionProviders: ['cuda'] },
  { name: 'cpu', executionProviders: ['cpu'] },
];

/** How to get ORT's CUDA provider, for the error an explicit `--device cuda` gives. */
export const CUDA_INSTALL =
  'install the CUDA binaries with `node node_modules/onnxruntime-node/script/install --onnxruntime-node-install=cuda12` (needs CUDA 12 and cuDNN 9; see README "Enabling CUDA")';

export type SessionFactory = (model: Uint8Array, options: ort.InferenceSession.SessionOptions) => Promise<ort.InferenceSession>;

/** ORT's own factory. */
export const ortFactory: SessionFactory = (model, options) => ort.InferenceSession.create(model, options);

/**
 * Chooses execution providers once and creates sessions with them. `auto` tries CUDA and, when its
 * libraries are missing, logs the reason and uses the CPU from then on; an explicit `cuda` that fails
 * is an error saying how to install CUDA support.
 */
export class ProviderSelector {
  private chosen: ProviderRow | null = null;
  /** Why CUDA was skipped, when it was. */
  fallbackReason: string | null = null;

  constructor(
    private readonly device: Device,
    private readonly factory: SessionFactory = ortFactory,
    private readonly log: (line: string) => void = console.log,
  ) {}

  /** The provider in use once a session exists. */
  get provider(): string | null {
    return this.chosen?.name ?? null;
  }

  /** The session options of the chosen provider, for generator threads' own sessions (null before the first session). */
  sessionOptions(): ort.InferenceSession.SessionOptions | null {
    return this.chosen ? this.options(this.chosen) : null;
  }

  /** Creates a session on the chosen provider (choosing it on the first call). */
  async create(model: Uint8Array): Promise<ort.InferenceSession> {
    // A failed CUDA probe is reported by ganforge with its reason; ORT would also print it natively as
    // a multi-line error. Every ORT failure reaches ganforge as an exception, so its own log is muted.
    ort.env.logLevel = 'fatal';
    if (this.chosen) return this.factory(model, this.options(this.chosen));
    const rows = this.device === 'auto' ? PROVIDERS : PROVIDERS.filter((p) => p.name === this.device);
    let lastError: unknown;
    for (const row of rows) {
      try {
        const session = await this.factory(model, this.options(row));
        this.chosen = row;
        this.log(`execution provider: ${row.name}${this.fallbackReason ? ` (CUDA unavailable: ${this.fallbackReason})` : ''}`);
        return session;
      } catch (err) {
        lastError = err;
        const reason = firstLine(err);
        if (row.name === 'cuda') {
          if (this.device === 'cuda') throw new Error(`--device cuda: onnxruntime-node could not start its CUDA provider (${reason}); ${CUDA_INSTALL}`);
          this.fallbackReason = reason;
          continue;
        }
        throw err;
      }
    }
    throw lastError;
  }

  private options(row: ProviderRow): ort.InferenceSession.SessionOptions {
    // One intra-op thread without spinning: on a small machine the second core is busy encoding PNGs
    // (sharp) and serving sockets, and a spinning ORT pool steals it. Batching gives ORT its work.
    return {
      executionProviders: row.executionProviders,
      graphOptimizationLevel: 'all',
      intraOpNumThreads: 1,
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    };
  }
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return (text.split('\n')[0] ?? text).trim();
}
