import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BACKEND_NAMES, type BackendName } from '../tfjs/backend.ts';

import { DEFAULT_CONFIG, TRAIN_FLAGS, type TrainConfig } from '../config.ts';
import { loadMnist } from '../../lib/data.ts';
import { train } from '../gan/loop.ts';
import { defineCommand } from '../../lib/cli/command.ts';
import { kernelsFor, startBackend } from '../tfjs/setup.ts';

/** The entry file a measurement's child process runs. */
const ENTRY = join(import.meta.dirname, '..', '..', 'bin', 'bench-train.ts');

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
    log: () => {},
    tick: (i) => {
      if (i === job.warmup) startedAt = performance.now();
      if (i === total) endedAt = performance.now();
    },
  });
  await rm(dir, { recursive: true, force: true });
  process.stdout.write(JSON.stringify({ msPerIteration: (endedAt - startedAt) / job.iterations }));
}

function runJob(job: Job): string {
  try {
    const out = execFileSync(process.execPath, ['--import', 'tsx', ENTRY, '--job', JSON.stringify(job)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return `${(JSON.parse(out) as { msPerIteration: number }).msPerIteration.toFixed(1)} ms/iteration`;
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? err);
    return `unavailable (${
      stderr
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('error:'))
        .at(0)
        ?.slice(7) ?? stderr.trim().split('\n')[0]
    })`;
  }
}

/** `ganforge bench train`: training speed per backend, each measurement in its own process. */
export const benchTrainCommand = defineCommand({
  name: 'bench train',
  summary: 'training ms/iteration per backend: dense b128, DCGAN at the shipped width and at full width',
  usage: '[flags]',
  flags: {
    backends: {
      kind: 'list',
      values: BACKEND_NAMES,
      pattern: { regex: new RegExp(`^(${BACKEND_NAMES.join('|')})$`), description: `backends among ${BACKEND_NAMES.join(', ')}` },
      default: [...BACKEND_NAMES],
      help: 'backends to measure',
    },
    iterations: { ...TRAIN_FLAGS.iterations, default: 200, help: 'timed dense iterations (after up to 20 warm-up ones)' },
    'dcgan-width': { ...TRAIN_FLAGS.width, default: 0.25, help: 'DCGAN width of the first DCGAN row' },
    'dcgan-batch-size': { ...TRAIN_FLAGS['batch-size'], default: 64, help: 'batch of the first DCGAN row' },
    'dcgan-iterations': { ...TRAIN_FLAGS.iterations, default: 3, help: 'timed DCGAN iterations (after 1 warm-up)' },
    'dcgan-cpu': { kind: 'boolean', help: 'also time the DCGAN on the plain JS backend (about 20 s per iteration)' },
    job: { kind: 'string', hidden: true, help: 'one measurement as JSON (the child process)' },
  },
  async run({ values }) {
    if (values.job) return measure(JSON.parse(values.job) as Job);
    const backends = values.backends as BackendName[];
    const iterations = values.iterations;
    const dcgan: Job = {
      backend: 'cpu',
      model: 'dcgan',
      width: values['dcgan-width'],
      batchSize: values['dcgan-batch-size'],
      iterations: values['dcgan-iterations'],
      warmup: 1,
    };
    console.log(`node ${process.version}, ${process.arch}; timings exclude ${Math.min(20, iterations)} warm-up iterations`);
    for (const backend of backends) {
      const job: Job = { backend, model: 'dense', batchSize: 128, width: 1, iterations, warmup: Math.min(20, iterations) };
      console.log(`dense GAN, batch 128, ${backend.padEnd(14)} ${runJob(job)}`);
    }
    // The shipped width, then the book's full width at batch 128. The plain JS backend takes 20 s per
    // iteration at quarter width (minutes at full width), so it is measured only when asked for.
    for (const job of [dcgan, { ...dcgan, width: 1, batchSize: 128 }]) {
      for (const backend of backends) {
        if (backend === 'cpu' && !values['dcgan-cpu']) continue;
        console.log(`dcgan x${job.width}, batch ${job.batchSize}, ${backend.padEnd(14)} ${runJob({ ...job, backend })}`);
      }
    }
  },
});
