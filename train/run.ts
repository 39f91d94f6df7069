import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_CONFIG, parseTrainArgs, RESUMABLE_KEYS, resolveConfig, trainHelp, type TrainConfig } from './config.ts';
import { loadDataset } from './data.ts';
import { RUN_FILES, train, type TrainResult } from './loop.ts';
import { createProgress } from './progress.ts';
import { createFidMonitor } from './fid-monitor.ts';
import { kernelsFor, startBackend } from './setup.ts';

/** What a finished `runTraining` reports. */
export interface TrainingOutcome {
  readonly config: TrainConfig;
  readonly runDir: string;
  readonly result: TrainResult;
  readonly backend: string;
}

/**
 * Parses training flags, selects the backend, loads data and trains, with a progress bar and
 * SIGINT/SIGTERM checkpointing. Returns null for --help.
 */
export async function runTraining(argv: string[]): Promise<TrainingOutcome | null> {
  const args = parseTrainArgs(argv);
  if (args.help) {
    console.log(trainHelp());
    return null;
  }
  let config: TrainConfig;
  if (args.resume) {
    const fixed = Object.keys(args.overrides).filter((k) => !RESUMABLE_KEYS.includes(k as keyof TrainConfig));
    if (fixed.length > 0) throw new Error(`--resume continues a run with its saved config; only ${RESUMABLE_KEYS.join(', ')} may change, not ${fixed.join(', ')}`);
    const saved = JSON.parse(await readFile(join(args.resume, RUN_FILES.config), 'utf8').catch(() => {
      throw new Error(`${args.resume}: no ${RUN_FILES.config}; is it a run folder?`);
    })) as Record<string, unknown>;
    config = resolveConfig({ ...DEFAULT_CONFIG, ...pickConfig(saved), out: args.resume }, args.overrides);
  } else {
    config = resolveConfig(DEFAULT_CONFIG, args.overrides);
    if (!config.out) config.out = join('runs', `${new Date().toISOString().replace(/[:.]/g, '-')}-${config.model}`);
  }
  await mkdir(config.out, { recursive: true });
  const selection = await startBackend(config.backend, console.log, kernelsFor(config.model));
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

/** Keeps only TrainConfig keys from a saved config.json (which also holds run facts). */
function pickConfig(saved: Record<string, unknown>): Partial<TrainConfig> {
  return Object.fromEntries(Object.keys(DEFAULT_CONFIG).filter((k) => k in saved).map((k) => [k, saved[k]])) as Partial<TrainConfig>;
}
