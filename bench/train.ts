import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineCommand } from '../lib/cli/command.ts';
import { loadMnist } from '../lib/data.ts';
import { DEFAULT_CONFIG, type TrainConfig } from '../train/config.ts';
import { TRAIN_FLAGS } from '../train/flags.ts';
import { resolveWorkers } from '../train/gan/data-parallel.ts';
import { train } from '../train/gan/loop.ts';
import { BACKEND_NAMES, type BackendName } from '../train/tfjs/backend.ts';
import { kernelsFor, startBackend } from '../train/tfjs/setup.ts';

/** The executable a measurement's child process runs (`ganforge bench train --job ...`). */
const GANFORGE = join(import.meta.dirname, '..', 'bin', 'ganforge.js');

/**
 * `npm run bench:train`: ms/iteration of the real training loop (batches, z, D and G steps), dense GAN
 * at batch 128 on every backend that loads, and the DCGAN at the shipped width. Each measurement runs
 * in its own process because a tfjs backend cannot be unloaded.
 */
interface Job {
  readonly backend: BackendName;
  readonly model: 'dense' | 'dcgan';
  readonly batchSize: number;
  readonly width: number;
  readonly iterations: number;
  readonly warmup: number;
  /** Data-parallel threads (tfjs) or intra-op threads (ort). */
  readonly workers: number;
  readonly engine: 'tfjs' | 'ort';
}

/** What one measurement prints: its speed and the process' peak resident memory. */
interface Measured {
  readonly msPerIteration: number;
  readonly peakRssMiB: number;
}

async function measure(job: Job): Promise<void> {
  const selection = await startBackend(job.backend, () => {}, kernelsFor(job.model));
  const dir = await mkdtemp(join(tmpdir(), 'ganforge-bench-'));
  const total = job.warmup + job.iterations;
  const config: TrainConfig = {
    ...DEFAULT_CONFIG,
    model: job.model,
    batchSize: job.batchSize,
    width: job.width,
    iterations: total,
    sampleInterval: total * 10,
    checkpointInterval: total * 10,
    out: dir,
  };
  let startedAt = 0;
  let endedAt = 0;
  await train({
    config,
    runDir: dir,
    dataset: loadMnist(),
    backend: selection.name,
    workers: job.workers,
    engine: job.engine,
    log: () => {},
    tick: (i) => {
      if (i === job.warmup) startedAt = performance.now();
      if (i === total) endedAt = performance.now();
    },
  });
  await rm(dir, { recursive: true, force: true });
  const measured: Measured = { msPerIteration: (endedAt - startedAt) / job.iterations, peakRssMiB: process.resourceUsage().maxRSS / 1024 };
  process.stdout.write(JSON.stringify(measured));
}

/** One measurement in its own process: ms/iteration (and peak RSS), or the reason it could not run. */
function runJob(job: Job, rss: number[]): number | string {
  try {
    const out = execFileSync(process.execPath, [GANFORGE, 'bench', 'train', '--job', JSON.stringify(job)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const measured = JSON.parse(out) as Measured;
    rss.push(measured.peakRssMiB);
    return measured.msPerIteration;
  } catch (err) {
    return `unavailable (${firstError(err)})`;
  }
}

/**
 * The PyTorch peer (bench/peer/train.py, Debian's python3-torch) on the same model and batch. `careful`
 * runs it as a careful user does, with OPENBLAS_NUM_THREADS=1: out of the box OpenBLAS' own thread pool
 * fights OpenMP's for the cores and torch is 2-5x slower here.
 */
function runPeer(job: Job, threads: number, careful: boolean): number | string {
  const env = { ...process.env };
  if (careful) env.OPENBLAS_NUM_THREADS = '1';
  else delete env.OPENBLAS_NUM_THREADS;
  try {
    const args = ['--model', job.model, '--batch-size', String(job.batchSize), '--width', String(job.width)];
    const out = execFileSync(
      PYTHON,
      [PEER, ...args, '--iterations', String(job.iterations), '--warmup', String(job.warmup), '--repeats', '1', '--threads', String(threads)],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        env,
      },
    );
    return (JSON.parse(out) as { msPerIteration: number }).msPerIteration;
  } catch (err) {
    return `unavailable (${firstError(err)}; needs ${PYTHON} with Debian's python3-torch, and libopenblas0 for its BLAS)`;
  }
}

function firstError(err: unknown): string {
  const stderr = String((err as { stderr?: string }).stderr ?? err).trim();
  const lines = stderr.split('\n');
  return lines.find((l) => l.startsWith('error:'))?.slice(7) ?? [...lines].reverse().find((l) => /Error/.test(l)) ?? lines[0] ?? 'failed';
}

const PYTHON = '/usr/bin/python3';
const PEER = join(import.meta.dirname, 'peer', 'train.py');

/** "best (all)" of several measurements, or the first failure. */
function summary(values: (number | string)[]): { best: number | null; text: string } {
  const failed = values.find((v): v is string => typeof v === 'string');
  if (failed) return { best: null, text: failed };
  const ms = values as number[];
  const best = Math.min(...ms);
  return { best, text: `${best.toFixed(1)} ms${ms.length > 1 ? ` (runs ${ms.map((v) => v.toFixed(1)).join(', ')})` : ''}` };
}

/** `ganforge bench train`: training speed per backend and thread count, each measurement in its own process. */
export const benchTrainCommand = defineCommand({
  name: 'bench train',
  summary: 'training ms/iteration per engine, backend and thread count: dense b128, DCGAN at the shipped width and at full width; --peer beside PyTorch',
  usage: '[flags]',
  flags: {
    engines: {
      kind: 'list',
      values: ['ort', 'tfjs'],
      pattern: { regex: /^(ort|tfjs)$/, description: 'engines among ort, tfjs' },
      default: ['ort', 'tfjs'],
      help: 'training engines to measure',
    },
    'ort-threads': {
      kind: 'list',
      pattern: { regex: /^[1-9]\d{0,2}$/, description: 'a comma-separated list of integers between 1 and 256' },
      default: ['1', '2'],
      help: 'intra-op thread counts of the ort rows',
    },
    backends: {
      kind: 'list',
      values: BACKEND_NAMES,
      pattern: { regex: new RegExp(`^(${BACKEND_NAMES.join('|')})$`), description: `backends among ${BACKEND_NAMES.join(', ')}` },
      default: [...BACKEND_NAMES],
      help: 'tfjs backends to measure (the tfjs rows)',
    },
    workers: {
      kind: 'list',
      pattern: { regex: /^(auto|[1-9]\d{0,2})$/, description: 'a comma-separated list of auto or integers between 1 and 256' },
      default: ['1', 'auto'],
      help: 'data-parallel thread counts to measure on the WASM and JS backends (auto = one per core)',
    },
    iterations: { ...TRAIN_FLAGS.iterations, default: 200, help: 'timed dense iterations (after up to 20 warm-up ones)' },
    'dcgan-width': { ...TRAIN_FLAGS.width, default: 0.25, help: 'DCGAN width of the first DCGAN row' },
    'dcgan-batch-size': { ...TRAIN_FLAGS['batch-size'], default: 64, help: 'batch of the first DCGAN row' },
    'dcgan-iterations': {
      ...TRAIN_FLAGS.iterations,
      default: 10,
      help: 'timed tfjs DCGAN iterations at the shipped width (after 2 warm-up; full width: a fifth; ort: 5x and 10 warm-up)',
    },
    'dcgan-cpu': { kind: 'boolean', help: 'also time the DCGAN on the plain JS backend (about 20 s per iteration)' },
    repeats: { kind: 'int', default: 3, min: 1, max: 20, help: "measurements per row, interleaved with the peer's; the best is reported" },
    peer: {
      kind: 'boolean',
      help: 'also time the same models and batches in PyTorch (bench/peer/train.py, Debian python3-torch, CPU), with OPENBLAS_NUM_THREADS=1 and out of the box',
    },
    'peer-threads': { kind: 'int', default: availableParallelism(), min: 1, max: 256, help: 'PyTorch threads', defaultLabel: 'one per core' },
    job: { kind: 'string', hidden: true, help: 'one measurement as JSON (the child process)' },
  },
  async run({ values }) {
    if (values.job) return measure(JSON.parse(values.job) as Job);
    const backends = values.backends as BackendName[];
    const engines = values.engines as Array<'ort' | 'tfjs'>;
    const ortThreads = [...new Set(values['ort-threads'].map(Number))];
    const cores = availableParallelism();
    const iterations = values.iterations;
    const dcganIterations = values['dcgan-iterations'];
    const rows: Omit<Job, 'backend' | 'workers' | 'engine'>[] = [
      { model: 'dense', batchSize: 128, width: 1, iterations, warmup: Math.min(20, iterations) },
      { model: 'dcgan', batchSize: values['dcgan-batch-size'], width: values['dcgan-width'], iterations: dcganIterations, warmup: 2 },
      // The book's full width at batch 128: about 2 s per iteration here.
      { model: 'dcgan', batchSize: 128, width: 1, iterations: Math.max(1, Math.round(dcganIterations / 5)), warmup: 1 },
    ];
    console.log(
      `node ${process.version}, ${process.arch}, ${cores} cores; ms/iteration of the training loop, best of ${values.repeats} (warm-up iterations excluded)`,
    );
    for (const row of rows) {
      const name = row.model === 'dense' ? `dense, batch ${row.batchSize}` : `dcgan x${row.width}, batch ${row.batchSize}`;
      const peer = values.peer ? ([] as (number | string)[]) : null;
      const peerOutOfTheBox = values.peer ? ([] as (number | string)[]) : null;
      const results = new Map<string, (number | string)[]>();
      const rss = new Map<string, number[]>();
      const measureRow = (key: string, job: Job): void => {
        if (!rss.has(key)) rss.set(key, []);
        results.set(key, [...(results.get(key) ?? []), runJob(job, rss.get(key)!)]);
      };
      for (let rep = 0; rep < values.repeats; rep++) {
        // ort iterations are 5-30x shorter: more of them, after a longer warm-up (first-touch page faults).
        if (engines.includes('ort')) {
          for (const threads of ortThreads) {
            const ortRow = row.model === 'dense' ? row : { ...row, iterations: row.iterations * 5, warmup: 10 };
            measureRow(`ort, ${threads} thread${threads > 1 ? 's' : ''}`, { ...ortRow, backend: 'wasm', workers: threads, engine: 'ort' });
          }
        }
        for (const backend of engines.includes('tfjs') ? backends : []) {
          // The plain JS backend takes 20 s per DCGAN iteration at quarter width: only when asked for.
          if (backend === 'cpu' && row.model === 'dcgan' && !values['dcgan-cpu']) continue;
          // libtensorflow uses every core itself; data-parallel threads are for WASM and JS.
          const counts =
            backend === 'wasm' || backend === 'cpu'
              ? [...new Set(values.workers.map((w) => resolveWorkers(w === 'auto' ? 'auto' : Number(w), backend, cores, row.batchSize)))]
              : [1];
          for (const workers of counts) {
            measureRow(`tfjs ${backend}, ${workers} thread${workers > 1 ? 's' : ''}`, { ...row, backend, workers, engine: 'tfjs' });
          }
        }
        const peerJob: Job = { ...row, backend: 'cpu', workers: 1, engine: 'tfjs' };
        peer?.push(runPeer(peerJob, values['peer-threads'], true));
        peerOutOfTheBox?.push(runPeer(peerJob, values['peer-threads'], false));
      }
      const peerSummary = peer ? summary(peer) : null;
      for (const [key, ms] of results) {
        const ours = summary(ms);
        const ratio = ours.best !== null && peerSummary?.best ? ` = x${(ours.best / peerSummary.best).toFixed(2)} PyTorch` : '';
        const peak = Math.max(...(rss.get(key) ?? [0]));
        console.log(`${name}, ${key.padEnd(22)} ${ours.text}${ratio}; peak RSS ${peak.toFixed(0)} MiB`);
      }
      if (peerSummary) console.log(`${name}, PyTorch ${values['peer-threads']} threads, OPENBLAS_NUM_THREADS=1  ${peerSummary.text}`);
      if (peerOutOfTheBox) console.log(`${name}, PyTorch ${values['peer-threads']} threads, out of the box      ${summary(peerOutOfTheBox).text}`);
    }
  },
});
