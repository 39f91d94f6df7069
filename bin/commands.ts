import cluster from 'node:cluster';
import { type Command, defineCommand } from '../lib/cli/command.ts';

/** `ganforge start` (`npm start`): builds the web demo from the server's models folder when stale, then serves. */
async function startCommand(): Promise<Command> {
  const [{ serveCommand, WEB_DEMO_DIR }, { buildWebDemo, isStale }] = await Promise.all([import('../serve/command.ts'), import('../web-demo/build.ts')]);
  return defineCommand({
    ...serveCommand,
    name: 'start',
    summary: 'build the web demo from the served models when stale, then serve (npm start)',
    async run(args, argv) {
      const modelsDir = args.values['models-dir'];
      // Once, in the first process: the page ships the same models the server loads.
      if (cluster.isPrimary && (await isStale(WEB_DEMO_DIR, modelsDir))) {
        const { buildId, models } = await buildWebDemo(WEB_DEMO_DIR, modelsDir);
        console.log(`web demo built (build ${buildId}; models ${models.join(', ')})`);
      }
      await serveCommand.run(args, argv);
    },
  }) as unknown as Command;
}

/**
 * Every ganforge command, loaded only when run: `ganforge serve` never loads TensorFlow.js, and
 * `ganforge train` never loads onnxruntime. The npm scripts run the same commands through the
 * one-line entry files beside this one.
 */
export const COMMANDS: Readonly<Record<string, () => Promise<Command>>> = {
  train: async () => (await import('../train/commands/train.ts')).trainCommand as unknown as Command,
  'train-export': async () => (await import('../train/commands/export.ts')).trainExportCommand as unknown as Command,
  export: async () => (await import('../train/commands/export.ts')).exportCommand as unknown as Command,
  // The converter checks its output with onnxruntime-node, which training code does not import.
  convert: async () =>
    (await import('../train/commands/convert.ts')).createConvertCommand((await import('../eval/onnx-compare.ts')).runOnnxModel) as unknown as Command,
  'train-classifier': async () => (await import('../train/commands/train-classifier.ts')).trainClassifierCommand as unknown as Command,
  eval: async () => (await import('../eval/command.ts')).evalCommand as unknown as Command,
  start: startCommand,
  serve: async () => (await import('../serve/command.ts')).serveCommand as unknown as Command,
  'build-web': async () => (await import('../web-demo/command.ts')).buildWebCommand as unknown as Command,
  'audit-web': async () => (await import('../web-demo/audit.ts')).auditWebCommand as unknown as Command,
  'bench train': async () => (await import('../train/commands/bench-train.ts')).benchTrainCommand as unknown as Command,
  'bench serve': async () => (await import('../serve/bench.ts')).benchServeCommand as unknown as Command,
  'bench scale': async () => (await import('../serve/bench-scale.ts')).benchScaleCommand as unknown as Command,
};
