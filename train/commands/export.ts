import { basename } from 'node:path';
import { conversionBackend } from 'tfjs-to-onnx';
import { defineCommand } from '../../lib/cli/command.ts';
import { UsageError } from '../../shared/expected.ts';
import { MODEL_NAME, MODEL_NAME_DESCRIPTION } from '../../shared/manifest.ts';
import { TRAIN_COMMAND_FLAGS, trainArgs } from '../flags.ts';
import { checkExportTarget, exportRun, type ExportOptions } from '../export/export-run.ts';
import { PRESET_NAMES, PRESETS } from '../presets.ts';
import { runTraining } from '../run.ts';
import { RUN_FOLDER_FLAGS } from './train.ts';

/** Where and what an export writes. */
const EXPORT_FLAGS = {
  name: {
    kind: 'string',
    pattern: { regex: MODEL_NAME, description: MODEL_NAME_DESCRIPTION },
    help: 'model name: the files <models-dir>/<name>.{onnx,json} and <name>.tfjs/',
  },
  'models-dir': { kind: 'string', default: 'models', help: 'folder the model is written to' },
  generator: {
    kind: 'enum',
    values: ['final', 'best', 'ema'],
    help: "the run's last generator, the one --keep-best kept, or (--ema-decay) the moving average of its weights",
    defaultLabel: "final (a preset's choice with --preset)",
  },
  force: { kind: 'boolean', help: 'replace a model of the same name (and its golden outputs go stale)' },
} as const;

function printExported(manifest: { name: string; sha256: string }, modelsDir: string): void {
  console.log(`exported ${modelsDir}/${manifest.name}.onnx (sha256 ${manifest.sha256.slice(0, 12)}...) and ${modelsDir}/${manifest.name}.json`);
}

/** `ganforge export <run folder>`: exports a finished run's generator. */
export const exportCommand = defineCommand({
  name: 'export',
  summary: "export a finished run's generator to ONNX (with its manifest and tfjs weights)",
  usage: '<run folder> [flags]',
  flags: {
    ...EXPORT_FLAGS,
    preset: { kind: 'enum', values: PRESET_NAMES, help: 'the preset the run was trained with, recorded in the manifest (train:export records it itself)' },
  },
  positionals: { min: 1, max: 1, names: '<run folder>' },
  async run({ values, positionals }, argv) {
    const runDir = positionals[0]!;
    const name =
      values.name ??
      basename(runDir)
        .toLowerCase()
        .replace(/[^a-z0-9_-]/g, '-');
    await conversionBackend();
    const options: ExportOptions = {
      runDir,
      name,
      modelsDir: values['models-dir'],
      command: `npm run export -- ${argv.join(' ')}`,
      generator: values.generator ?? 'final',
      force: values.force,
      preset: values.preset,
    };
    printExported(await exportRun(options), values['models-dir']);
  },
});

/** `ganforge train-export`: trains, then exports; `--preset <model>` reproduces a shipped model. */
export const trainExportCommand = defineCommand({
  name: 'train-export',
  summary: 'train, then export the generator (--preset <model> reproduces a shipped model)',
  usage: '[train flags] [--name <name>] [flags]',
  description: "Takes every train flag, then exports like `ganforge export`. With --preset, the model name and the exported generator default to the preset's.",
  flags: { ...TRAIN_COMMAND_FLAGS, ...RUN_FOLDER_FLAGS, ...EXPORT_FLAGS },
  async run(args, argv) {
    const train = trainArgs(args);
    const preset = train.preset ? PRESETS[train.preset] : null;
    const name = args.values.name ?? (preset && 'name' in preset ? preset.name : undefined);
    if (!name) throw new UsageError('Expected --name <name> for npm run train:export (the model file name under models/), or a --preset that names its model');
    const modelsDir = args.values['models-dir'];
    const generator = args.values.generator ?? (preset && 'generator' in preset ? preset.generator : 'final');
    // Refused before training, not after hours of it.
    await checkExportTarget(name, modelsDir, args.values.force);
    const outcome = await runTraining({ ...train, overwrite: args.values.overwrite });
    if (outcome.result.stopped)
      throw new UsageError(
        `training was stopped; resume with npm run train -- --resume ${outcome.runDir}, then npm run export -- ${outcome.runDir} --name ${name}`,
      );
    await conversionBackend();
    const command = `npm run train:export -- ${argv.join(' ')}`;
    printExported(
      await exportRun({ runDir: outcome.runDir, name, modelsDir, command, generator, force: args.values.force, preset: train.preset ?? undefined }),
      modelsDir,
    );
  },
});
