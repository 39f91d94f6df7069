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
  });
}

/**
 * Every ganforge command, loaded only when run: `ganforge serve` never loads TensorFlow.js, and
 * `ganforge train` never loads onnxruntime. The npm scripts run these same commands
 * (`node bin/ganforge.js <command>`). The benchmarks (bench/) import dev dependencies, so they run from a
 * full install, not from `npm ci --omit=dev`; `golden-update` is a maintainer's tool kept with the tests.
 */
export const COMMANDS: Readonly<Record<string, () => Promise<Command>>> = {
  train: async () => (await import('../train/commands/train.ts')).trainCommand,
  'train-export': async () => (await import('../train/commands/export.ts')).trainExportCommand,
  export: async () => (await import('../train/commands/export.ts')).exportCommand,
  // tfjs-to-onnx's own command (packages/tfjs-to-onnx: same flag table, checks and output as its executable);
  // its run() takes the values and positionals that runCommand parses with that same table.
  convert: async () => {
    const { convertCommand } = await import('tfjs-to-onnx');
    return defineCommand({ ...convertCommand, run: (args, argv) => convertCommand.run(args, argv) });
  },
  'train-classifier': async () => (await import('../train/commands/train-classifier.ts')).trainClassifierCommand,
  eval: async () => (await import('../eval/command.ts')).evalCommand,
  start: startCommand,
  serve: async () => (await import('../serve/command.ts')).serveCommand,
  'build-web': async () => (await import('../web-demo/command.ts')).buildWebCommand,
  'audit-web': async () => (await import('../bench/audit-web.ts')).auditWebCommand,
  'bench train': async () => (await import('../bench/train.ts')).benchTrainCommand,
  'bench serve': async () => (await import('../bench/serve.ts')).benchServeCommand,
  'bench scale': async () => (await import('../bench/scale.ts')).benchScaleCommand,
  'bench png': async () => (await import('../bench/png.ts')).benchPngCommand,
  'golden-update': async () => (await import('../test/helpers/golden-update.ts')).goldenUpdateCommand,
};
