import { mkdir, readdir, rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { loadDataset } from '../lib/data.ts';
import { UsageError } from '../shared/expected.ts';
import { removeStaleStaging } from '../lib/fs/atomic-write.ts';
import { createFidMonitor } from './classifier/fid-monitor.ts';
import { DEFAULT_CONFIG, RESUMABLE_KEYS, resolveConfig, type TrainConfig } from './config.ts';
import type { TrainArgs } from './flags.ts';
import { resolveWorkers } from './gan/data-parallel.ts';
import { train, type TrainResult } from './gan/loop.ts';
import { createProgress } from './progress.ts';
import { readRunJson, RUN_FILES } from './run-dir/run-files.ts';
import type { BackendName } from './tfjs/backend.ts';
import { kernelsFor, startBackend } from './tfjs/setup.ts';

/** What a finished `runTraining` reports. */
export interface TrainingOutcome {
  readonly config: TrainConfig;
  readonly runDir: string;
  readonly result: TrainResult;
  readonly backend: string;
}

/** What a training run is asked to do beyond its config. */
export interface RunOptions extends TrainArgs {
  /** Clear the run folder first when it holds another run. */
  readonly overwrite?: boolean;
}

/** Files whose presence means a folder holds a run. */
const RUN_MARKERS = [RUN_FILES.config, RUN_FILES.checkpoint, RUN_FILES.metrics];

/**
 * The config of the run to do: a resumed run's saved config with the few flags a resume may change, or
 * the defaults with the flags (and preset) given, in a folder that holds no other run.
 */
async function runConfig(args: RunOptions): Promise<TrainConfig> {
  if (args.resume) {
    const saved = await readRunJson<Record<string, unknown>>(join(args.resume, RUN_FILES.config));
    if (!saved) throw new UsageError(`${args.resume}: no ${RUN_FILES.config}; is it a run folder?`);
    const base: TrainConfig = { ...DEFAULT_CONFIG, ...pickConfig(saved), out: args.resume };
    // Repeating the run's own values (the same command line plus --resume) is no change.
    const changed = Object.entries(args.overrides)
      .filter(([k, v]) => k !== 'out' && JSON.stringify(v) !== JSON.stringify(base[k as keyof TrainConfig]))
      .map(([k]) => k);
    const fixed = changed.filter((k) => !RESUMABLE_KEYS.includes(k as keyof TrainConfig));
    if (args.preset || fixed.length > 0) {
      throw new UsageError(
        `--resume continues a run with its saved config; only ${RESUMABLE_KEYS.join(', ')} may change, not ${[...(args.preset ? ['preset'] : []), ...fixed].join(', ')}`,
      );
    }
    return resolveConfig(base, args.overrides);
  }
  const config = resolveConfig(DEFAULT_CONFIG, args.overrides);
  if (!config.out) config.out = join('runs', `${new Date().toISOString().replace(/[:.]/g, '-')}-${config.model}`);
  const present = await readdir(config.out).catch(() => [] as string[]);
  const marker = RUN_MARKERS.find((f) => present.includes(f));
  if (marker && !args.overwrite) {
    throw new UsageError(`${config.out} holds another run (${marker}): continue it with --resume ${config.out}, or clear it first with --overwrite`);
  }
  if (marker) await rm(config.out, { recursive: true, force: true });
  return config;
}

/**
 * Selects the backend, loads data and trains, with a progress bar and SIGINT/SIGTERM checkpointing.
 */
export async function runTraining(args: RunOptions): Promise<TrainingOutcome> {
  const config = await runConfig(args);
  await mkdir(config.out, { recursive: true });
  // Temporary files of a write that a SIGKILL interrupted are never going to be renamed.
  for (const dir of ['', RUN_FILES.samples, RUN_FILES.generator, RUN_FILES.discriminator, RUN_FILES.bestGenerator, RUN_FILES.emaGenerator])
    await removeStaleStaging(join(config.out, dir));
  const selection = await startBackend(config.backend, console.log, kernelsFor(config.model));
  const engine = resolveEngine(config.engine, selection.name);
  console.log(
    engine === 'ort'
      ? `engine: ort${config.engine === 'auto' ? ` (auto: no libtensorflow GPU, the tfjs backend ${selection.name} keeps the run's files)` : ''}`
      : `engine: tfjs on ${selection.name}${config.engine === 'auto' ? ' (auto: libtensorflow with a GPU)' : ''}`,
  );
  const dataset = await loadDataset(config.data);
  console.log(`data: ${dataset.source}, ${dataset.count} images of ${dataset.height}x${dataset.width}; run folder: ${config.out}`);

  let stop = false;
  const onSignal = (sig: string): void => {
    if (stop) process.exit(130);
    stop = true;
    console.log(`\n${sig}: finishing the iteration and saving a checkpoint (again to quit now)`);
  };
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  const progress = createProgress(args.progress, 0, config.iterations);
  try {
    const result: TrainResult = await train({
      config,
      runDir: config.out,
      dataset,
      backend: selection.name,
      engine,
      workers:
        engine === 'ort'
          ? config.workers === 'auto'
            ? availableParallelism()
            : config.workers
          : resolveWorkers(config.workers, selection.name, availableParallelism(), config.batchSize),
      log: progress.log,
      tick: progress.tick,
      shouldStop: () => stop,
      resume: args.resume !== null,
      evaluate: config.evalInterval > 0 ? await createFidMonitor('models', config.evalSamples, config.latentDim) : undefined,
    });
    progress.stop();
    const rate = result.iteration > 0 ? ` (${(result.wallMs / Math.max(1, result.iteration)).toFixed(1)} ms/iteration overall)` : '';
    console.log(`${result.stopped ? 'stopped' : 'done'}: ${config.out}${rate}`);
    return { config, runDir: config.out, result, backend: selection.name };
  } finally {
    progress.stop();
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  }
}

/**
 * The engine of a run: `auto` keeps tfjs where libtensorflow runs on a GPU (the design card's CUDA
 * path) and takes ort everywhere else; the Gaussian baseline is fitted, not trained, on tfjs' side.
 */
export function resolveEngine(choice: TrainConfig['engine'], backend: BackendName): 'ort' | 'tfjs' {
  if (choice !== 'auto') return choice;
  return backend === 'tensorflow-gpu' ? 'tfjs' : 'ort';
}

/** Keeps only TrainConfig keys from a saved config.json (which also holds run facts). */
function pickConfig(saved: Record<string, unknown>): Partial<TrainConfig> {
  return Object.fromEntries(
    Object.keys(DEFAULT_CONFIG)
      .filter((k) => k in saved)
      .map((k) => [k, saved[k]]),
  ) as Partial<TrainConfig>;
}
