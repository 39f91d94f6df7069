import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModelManifest } from '../shared/manifest.ts';
import { writeFileAtomic } from './atomic-write.ts';
import { readBest, readMetrics, RUN_FILES } from './loop.ts';
import type { MetricRecord } from './plot.ts';
import { loadLayersModelFile } from './model-io.ts';
import { convertToOnnx, defaultNames, ONNX_OPSET } from './onnx/convert.ts';

/** Names a model may have: they become file names and URL parameters. */
const NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/** Throws unless `name` is a valid model name. */
export function assertModelName(name: string, flag = '--name'): void {
  if (!NAME.test(name)) {
    throw new Error(`Expected 1-64 lowercase letters, digits, '-' or '_' (starting with a letter or digit) for ${flag} but received '${name}'`);
  }
}

/** Graph interface of exported generators. */
export const LATENT_INPUT = 'latent';
export const LABEL_INPUT = 'label';
export const IMAGE_OUTPUT = 'image';

/** What {@link exportRun} needs. */
export interface ExportOptions {
  readonly runDir: string;
  readonly name: string;
  readonly modelsDir: string;
  /** The command line that produced the model, recorded in the manifest. */
  readonly command: string;
  /** 'final' (default): the generator at the run's end; 'best': the one `--keep-best` kept. */
  readonly generator?: 'final' | 'best';
}

/**
 * Exports a finished run's generator: `<models>/<name>.onnx`, its tfjs weights in
 * `<models>/<name>.tfjs/`, and the manifest `<models>/<name>.json`, written last so that a manifest
 * always describes complete files. Every write is atomic.
 */
export async function exportRun({ runDir, name, modelsDir, command, generator: which = 'final' }: ExportOptions): Promise<ModelManifest> {
  assertModelName(name);
  const configPath = join(runDir, RUN_FILES.config);
  const config = JSON.parse(await readFile(configPath, 'utf8').catch(() => {
    throw new Error(`${runDir}: no ${RUN_FILES.config}; is it a run folder?`);
  })) as Record<string, unknown>;
  if (config.model === 'gaussian') throw new Error(`${runDir}: the gaussian baseline has no generator network to export`);
  const best = which === 'best' ? await readBest(runDir) : null;
  if (which === 'best' && !best) {
    throw new Error(`${runDir}: no ${RUN_FILES.bestGenerator}/${RUN_FILES.best}; --generator best needs a run trained with --keep-best and --eval-interval`);
  }
  const generatorDir = join(runDir, best ? RUN_FILES.bestGenerator : RUN_FILES.generator);
  const modelJson = join(generatorDir, 'model.json');
  const generator = await loadLayersModelFile(modelJson).catch((err: Error) => {
    throw new Error(!best && config.iterationsDone === undefined ? `${runDir}: the run has not finished (no generator saved); resume it with npm run train -- --resume ${runDir}` : err.message);
  });
  // The losses reported at the exported generator's iteration.
  const reports = best ? ((await readMetrics(runDir)).filter((l) => 'dLoss' in l && l.iteration <= best.iteration) as (MetricRecord & { elapsedMs: number })[]) : [];
  const report = reports.find((l) => l.iteration === best?.iteration);
  // A best generator's wall time is the run's time to reach it (its last report at or before it).
  const wallMs = best ? (reports.at(-1)?.elapsedMs ?? 0) : Number(config.wallMs ?? 0);
  try {
    const latentDim = generator.inputs[0]!.shape[1] as number;
    const outShape = generator.outputs[0]!.shape.slice(1) as number[];
    // Conditional generators take the digit label as a second input.
    const conditional = generator.inputs.length === 2;
    const inputs: ModelManifest['inputs'] = [
      { name: LATENT_INPUT, shape: ['batch', latentDim], dtype: 'float32' },
      ...(conditional ? [{ name: LABEL_INPUT, shape: ['batch', 1] as const, dtype: 'int32' as const }] : []),
    ];
    const onnx = convertToOnnx(generator, {
      inputNames: inputs.map((i) => i.name),
      outputNames: [IMAGE_OUTPUT],
      metadata: { 'ganforge.architecture': String(config.model) },
    });
    const sha256 = createHash('sha256').update(onnx).digest('hex');
    const final = best ? (report ? { dLoss: report.dLoss, dAccuracy: report.dAccuracy, gLoss: report.gLoss } : null) : (config.final as ModelManifest['finalLosses'] | undefined);
    const manifest: ModelManifest = {
      name,
      architecture: String(config.model),
      latentDim,
      inputs,
      outputs: [{ name: IMAGE_OUTPUT, shape: ['batch', ...outShape], dtype: 'float32' }],
      valueRange: [-1, 1],
      layout: 'NHWC',
      opset: ONNX_OPSET,
      training: Object.fromEntries(
        ['model', 'data', 'iterations', 'batchSize', 'latentDim', 'lr', 'beta1', 'beta2', 'seed', 'width', 'resetDiscriminatorAt', 'fakeMode', 'labelSmoothing', 'auxWeight', 'auxFakes', 'initGenerator', 'dataSource']
          .filter((k) => k in config)
          .map((k) => [k, config[k]]),
      ),
      iterations: best ? best.iteration : Number(config.iterationsDone ?? 0),
      finalLosses: final ?? null,
      backend: String(config.backend),
      wallTimeMs: wallMs,
      date: new Date().toISOString(),
      sha256,
      command,
      ...(best ? { selected: { by: String(config.keepBest), ...best } } : {}),
    };
    await writeFileAtomic(join(modelsDir, `${name}.onnx`), onnx);
    for (const file of ['model.json', 'weights.bin']) {
      await writeFileAtomic(join(modelsDir, `${name}.tfjs`, file), await readFile(join(generatorDir, file)));
    }
    await writeFileAtomic(join(modelsDir, `${name}.json`), `${JSON.stringify(manifest, null, 2)}\n`);
    return manifest;
  } finally {
    generator.dispose();
  }
}

/** Converts any tfjs layers model file to ONNX with its own input and output names. */
export async function convertFile(modelJson: string, out: string): Promise<{ bytes: number; inputs: string[]; outputs: string[] }> {
  const model = await loadLayersModelFile(modelJson);
  try {
    const onnx = convertToOnnx(model);
    await writeFileAtomic(out, onnx);
    return { bytes: onnx.length, ...defaultNames(model) };
  } finally {
    model.dispose();
  }
}

/** Uses the plain JS backend for conversion: it needs no native code and is exact. */
export async function conversionBackend(): Promise<void> {
  tf.enableProdMode();
  await tf.setBackend('cpu');
}
