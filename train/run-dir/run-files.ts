import { appendFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeJsonAtomic } from '../../lib/fs/atomic-write.ts';
import type { Dataset } from '../../shared/dataset.ts';
import type { TrainConfig } from '../config.ts';
import type { MetricRecord } from './plot.ts';

/** Files of a run folder. */
export const RUN_FILES = {
  config: 'config.json',
  metrics: 'metrics.jsonl',
  checkpoint: 'checkpoint.bin',
  curves: 'curves.png',
  samples: 'samples',
  generator: 'generator',
  discriminator: 'discriminator',
  /** `--keep-best`: the best generator so far, with `best.json` (which iteration, its scores). */
  bestGenerator: 'generator-best',
  /** `--ema-decay`: the moving average of the generator's weights at the run's end. */
  emaGenerator: 'generator-ema',
  best: 'best.json',
} as const;

/** A metrics file line: a report, a classifier-FID, or an event such as a discriminator reset. */
export type MetricsLine = (MetricRecord & { readonly elapsedMs: number }) | EvaluationRecord | { readonly iteration: number; readonly event: string };

/** A training-time evaluation as the metrics file and `best.json` hold it. */
export interface EvaluationRecord {
  readonly iteration: number;
  readonly fid: number;
  /** Conditional models: per digit, the share of samples the classifier recognises as asked. */
  readonly classAccuracy?: number[];
}

/** True for a loss report line. */
export function isReport(line: MetricsLine): line is MetricRecord & { elapsedMs: number } {
  return 'dLoss' in line;
}

/** True for an evaluation line. */
export function isEvaluation(line: MetricsLine): line is EvaluationRecord {
  return 'fid' in line;
}

/** Whether `candidate` beats `best` by the --keep-best metric (worst-digit accuracy ties go to the lower FID). */
export function isBetterEvaluation(metric: 'fid' | 'class-accuracy', candidate: EvaluationRecord, best: EvaluationRecord | null): boolean {
  if (!best) return true;
  if (metric === 'class-accuracy') {
    const worst = (r: EvaluationRecord): number => Math.min(...(r.classAccuracy ?? [Number.NEGATIVE_INFINITY]));
    if (worst(candidate) !== worst(best)) return worst(candidate) > worst(best);
  }
  return candidate.fid < best.fid;
}

/** The log line of a training-time evaluation. */
export function formatEvaluation(r: EvaluationRecord, samples: number): string {
  const line = `${r.iteration} [classifier-FID: ${r.fid.toFixed(3)} over ${samples} samples]`;
  const acc = r.classAccuracy;
  if (!acc) return line;
  const worst = acc.reduce((w, a, digit) => (a < acc[w]! ? digit : w), 0);
  return `${line} [digit accuracy: ${acc.map((a) => (100 * a).toFixed(0)).join('/')}%, worst ${worst}: ${(100 * acc[worst]!).toFixed(1)}%]`;
}

/** The seed's report line: `iteration [D loss: x, acc.: y%] [G loss: z]`. */
export function formatReport(r: MetricRecord): string {
  return `${r.iteration} [D loss: ${r.dLoss.toFixed(6)}, acc.: ${(100 * r.dAccuracy).toFixed(2)}%] [G loss: ${r.gLoss.toFixed(6)}]`;
}

/** Reads a JSON file of a run folder, naming the file in every error; null when it does not exist. */
export async function readRunJson<T>(path: string): Promise<T | null> {
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw new Error(`${path}: cannot read (${err.code ?? err.message})`);
  });
  if (text === null) return null;
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new Error(`${path}: invalid JSON (${(err as Error).message})`);
  }
}

/** Reads `best.json` of a run's best generator, or null when there is none. */
export function readBest(runDir: string): Promise<EvaluationRecord | null> {
  return readRunJson<EvaluationRecord>(join(runDir, RUN_FILES.bestGenerator, RUN_FILES.best));
}

/**
 * Reads a run's metrics file (missing file: no lines). A last line without its newline is what a crash
 * in the middle of an append leaves: it is dropped, and `onTorn` is told. Any other bad line is an
 * error naming the file and the line.
 */
export async function readMetrics(runDir: string, onTorn: (message: string) => void = () => {}): Promise<MetricsLine[]> {
  const file = join(runDir, RUN_FILES.metrics);
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return '';
    throw new Error(`${file}: cannot read (${err.code ?? err.message})`);
  });
  const lines = text.split('\n');
  const complete = text.endsWith('\n') || text === '';
  const out: MetricsLine[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    const torn = !complete && i === lines.length - 1;
    try {
      const value = JSON.parse(line) as MetricsLine;
      if (typeof value !== 'object' || value === null || typeof value.iteration !== 'number') throw new Error('not a metrics record');
      if (torn) throw new Error('no final newline');
      out.push(value);
    } catch (err) {
      if (torn) {
        onTorn(`${file}:${i + 1}: dropped a torn last line (${line.length} bytes) left by an interrupted write`);
        continue;
      }
      throw new Error(`${file}:${i + 1}: invalid metrics line (${(err as Error).message})`);
    }
  }
  return out;
}

/** Appends one line to the run's metrics file. */
export async function appendMetrics(runDir: string, line: MetricsLine): Promise<void> {
  await appendFile(join(runDir, RUN_FILES.metrics), `${JSON.stringify(line)}\n`);
}

/** Writes the run's `config.json`: the config, the data set it ran on, the backend, and run facts. */
export async function writeRunConfig(
  runDir: string,
  config: TrainConfig,
  dataset: Dataset,
  backend: string,
  extra: Record<string, unknown> = {},
): Promise<void> {
  await writeJsonAtomic(join(runDir, RUN_FILES.config), {
    ...config,
    dataSource: dataset.source,
    imageShape: [dataset.height, dataset.width, 1],
    backend,
    ...extra,
  });
}
