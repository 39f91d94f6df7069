import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BACKEND_NAMES, type BackendName } from './backend.ts';
import { DEFAULT_CONFIG, parseFlagValue, type TrainConfig } from './config.ts';
import { loadMnist } from './data.ts';
import { train } from './loop.ts';
import { runCli } from './cli.ts';
import { kernelsFor, startBackend } from './setup.ts';

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
  const config: TrainConfig = { ...DEFAULT_CONFIG, model: job.model, batchSize: job.batchSize, width: job.width, iterations: total, sampleInterval: total * 10, checkpointInterval: total * 10, out: dir };
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
    const out = execFileSync(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname, '--job', JSON.stringify(job)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return `${(JSON.parse(out) as { msPerIteration: number }).msPerIteration.toFixed(1)} ms/iteration`;
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? err);
    return `unavailable (${stderr.trim().split('\n').filter((l) => l.startsWith('error:')).at(0)?.slice(7) ?? stderr.trim().split('\n')[0]})`;
  }
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      job: { type: 'string' },
      backends: { type: 'string', default: BACKEND_NAMES.join(',') },
      iterations: { type: 'string', default: '200' },
      'dcgan-width': { type: 'string', default: '0.25' },
      'dcgan-batch-size': { type: 'string', default: '64' },
      'dcgan-iterations': { type: 'string', default: '3' },
      'dcgan-cpu': { type: 'boolean', default: false },
    },
  });
  if (values.job) return measure(JSON.parse(values.job) as Job);
  const backends = values.backends.split(',').map((b) => parseFlagValue('backend', b) as BackendName);
  const iterations = parseFlagValue('iterations', values.iterations) as number;
  const dcgan: Job = {
    backend: 'cpu',
    model: 'dcgan',
    width: parseFlagValue('width', values['dcgan-width']) as number,
    batchSize: parseFlagValue('batch-size', values['dcgan-batch-size']) as number,
    iterations: parseFlagValue('iterations', values['dcgan-iterations']) as number,
    warmup: 1,
  };
  console.log(`node ${process.version}, ${process.arch}; timings exclude ${Math.min(20, iterations)} warm-up iterations`);
  for (const backend of backends) {
    const job: Job = { backend, model: 'dense', batchSize: 128, width: 1, iterations, warmup: Math.min(20, iterations) };
    console.log(`dense GAN, batch 128, ${backend.padEnd(14)} ${runJob(job)}`);
  }
  // The shipped width, then the book's full width at batch 128. The plain JS backend takes 20 s per
  // iteration at quarter width (minutes at full width), so it is measured only when asked for.
  const dcgans = [dcgan, { ...dcgan, width: 1, batchSize: 128 }];
  for (const job of dcgans) {
    for (const backend of backends) {
      if (backend === 'cpu' && !values['dcgan-cpu']) continue;
      console.log(`dcgan x${job.width}, batch ${job.batchSize}, ${backend.padEnd(14)} ${runJob({ ...job, backend })}`);
    }
  }
}

runCli(() => main(process.argv.slice(2)));
