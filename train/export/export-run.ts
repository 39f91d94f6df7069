import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { removeStaleStaging, writeFileAtomic, writeJsonAtomic } from '../../lib/fs/atomic-write.ts';
import { sha256Hex } from '../../lib/hash.ts';
import { expected, UsageError } from '../../shared/expected.ts';
import { GENERATOR_IO, generatorSpecs } from '../../shared/generator.ts';
import { MODEL_NAME, MODEL_NAME_DESCRIPTION, type ModelManifest } from '../../shared/manifest.ts';
import { isReport, readBest, readMetrics, readRunJson, RUN_FILES } from '../run-dir/run-files.ts';
import { convertModelToOnnx, DEFAULT_OPSET, loadLayersModelFile, type Producer } from 'tfjs-to-onnx';

/** The producer_name and producer_version of ganforge's ONNX files (the converter's default names itself). */
export const GANFORGE_PRODUCER: Producer = { name: 'ganforge', version: '0.1.0' };

/** Training config keys a manifest records: those that decide the exported weights. */
const TRAINING_KEYS = [
  'model',
  'data',
  'iterations',
  'batchSize',
  'latentDim',
  'lr',
  'beta1',
  'beta2',
  'seed',
  'width',
  'resetDiscriminatorAt',
  'fakeMode',
  'labelSmoothing',
  'auxWeight',
  'auxFakes',
  'initGenerator',
  'dWarmup',
  'emaDecay',
  'augment',
  'labelEmbeddingInit',
  'evalInterval',
  'evalSamples',
  'keepBest',
  'dataSource',
];

/** What {@link exportRun} needs. */
export interface ExportOptions {
  readonly runDir: string;
  readonly name: string;
  readonly modelsDir: string;
  /** The command line that produced the model, recorded in the manifest. */
  readonly command: string;
  /**
   * 'final' (default): the generator at the run's end; 'best': the one `--keep-best` kept (the
   * average's best with --ema-decay); 'ema': the moving average of its weights at the end.
   */
  readonly generator?: 'final' | 'best' | 'ema';
  /** Replace a model of the same name. */
  readonly force?: boolean;
  /** The preset the run was trained with, recorded in the manifest. */
  readonly preset?: string;
}

/** Throws unless `name` is a valid model name and (without `force`) no model of that name exists in `modelsDir`. */
export async function checkExportTarget(name: string, modelsDir: string, force = false): Promise<void> {
  if (!MODEL_NAME.test(name)) throw expected(MODEL_NAME_DESCRIPTION, '--name', name);
  const manifest = join(modelsDir, `${name}.json`);
  const exists = await access(manifest).then(
    () => true,
    () => false,
  );
  if (exists && !force) throw new UsageError(`${manifest} exists: a model named '${name}' is already there; choose another --name, or replace it with --force`);
}

/**
 * Exports a finished run's generator: `<models>/<name>.onnx`, its tfjs weights in
 * `<models>/<name>.tfjs/`, and the manifest `<models>/<name>.json`, written last so that a manifest
 * always describes complete files. Every write is atomic and durable. An existing model of the same
 * name is replaced only with `force`.
 */
export async function exportRun({
  runDir,
  name,
  modelsDir,
  command,
  generator: which = 'final',
  force = false,
  preset,
}: ExportOptions): Promise<ModelManifest> {
  await checkExportTarget(name, modelsDir, force);
  // Staging files of an export that was killed (their process is gone) are never going to be renamed.
  for (const dir of [modelsDir, join(modelsDir, `${name}.tfjs`)]) await removeStaleStaging(dir);
  const config = await readRunJson<Record<string, unknown>>(join(runDir, RUN_FILES.config));
  if (!config) throw new UsageError(`${runDir}: no ${RUN_FILES.config}; is it a run folder?`);
  if (config.model === 'gaussian') throw new UsageError(`${runDir}: the gaussian baseline has no generator network to export`);
  const best = which === 'best' ? await readBest(runDir) : null;
  if (which === 'best' && !best) {
    throw new UsageError(
      `${runDir}: no ${RUN_FILES.bestGenerator}/${RUN_FILES.best}; --generator best needs a run trained with --keep-best and --eval-interval`,
    );
  }
  if (which === 'ema' && !(Number(config.emaDecay ?? 0) > 0)) {
    throw new UsageError(`${runDir}: --generator ema needs a run trained with --ema-decay (this one has none)`);
  }
  const generatorDir = join(runDir, best ? RUN_FILES.bestGenerator : which === 'ema' ? RUN_FILES.emaGenerator : RUN_FILES.generator);
  const generator = await loadLayersModelFile(join(generatorDir, 'model.json')).catch((err: Error) => {
    throw new Error(
      !best && config.iterationsDone === undefined
        ? `${runDir}: the run has not finished (no generator saved); resume it with npm run train -- --resume ${runDir}`
        : err.message,
    );
  });
  // The losses reported at the exported generator's iteration.
  const reports = best ? (await readMetrics(runDir)).filter(isReport).filter((l) => l.iteration <= best.iteration) : [];
  const report = reports.find((l) => l.iteration === best?.iteration);
  // A best generator's wall time is the run's time to reach it (its last report at or before it).
  const wallMs = best ? (reports.at(-1)?.elapsedMs ?? 0) : Number(config.wallMs ?? 0);
  try {
    const latentDim = generator.inputs[0]!.shape[1] as number;
    const outShape = generator.outputs[0]!.shape.slice(1) as number[];
    // Conditional generators take the digit label as a second input.
    const { inputs, outputs } = generatorSpecs(latentDim, outShape, generator.inputs.length === 2);
    const { onnx } = convertModelToOnnx(generator, {
      inputNames: inputs.map((i) => i.name),
      outputNames: [GENERATOR_IO.image],
      metadata: { 'ganforge.architecture': String(config.model) },
      producer: GANFORGE_PRODUCER,
    });
    const final = best
      ? report
        ? { dLoss: report.dLoss, dAccuracy: report.dAccuracy, gLoss: report.gLoss }
        : null
      : (config.final as ModelManifest['finalLosses'] | undefined);
    const manifest: ModelManifest = {
      name,
      architecture: String(config.model),
      latentDim,
      inputs,
      outputs,
      valueRange: [-1, 1],
      layout: 'NHWC',
      opset: DEFAULT_OPSET,
      training: Object.fromEntries(TRAINING_KEYS.filter((k) => k in config).map((k) => [k, config[k]])),
      iterations: best ? best.iteration : Number(config.iterationsDone ?? 0),
      finalLosses: final ?? null,
      backend: String(config.backend),
      engine: String(config.engineUsed ?? 'tfjs'),
      ...(typeof config.threads === 'number' ? { threads: config.threads } : {}),
      wallTimeMs: wallMs,
      date: new Date().toISOString(),
      sha256: sha256Hex(onnx),
      command,
      ...(preset ? { preset } : {}),
      ...(best ? { selected: { by: String(config.keepBest), ...best } } : {}),
    };
    await writeFileAtomic(join(modelsDir, `${name}.onnx`), onnx);
    for (const file of ['model.json', 'weights.bin']) {
      await writeFileAtomic(join(modelsDir, `${name}.tfjs`, file), await readFile(join(generatorDir, file)));
    }
    await writeJsonAtomic(join(modelsDir, `${name}.json`), manifest);
    return manifest;
  } finally {
    generator.dispose();
  }
}
