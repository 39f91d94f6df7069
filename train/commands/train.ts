import { defineCommand } from '../../lib/cli/command.ts';
import { TRAIN_COMMAND_FLAGS, trainArgs } from '../flags.ts';
import { runTraining } from '../run.ts';

/** Flags of a run folder's lifecycle, shared by `train` and `train-export`. */
export const RUN_FOLDER_FLAGS = {
  overwrite: { kind: 'boolean', help: 'clear the --out folder first when it holds another run' },
} as const;

/** `ganforge train`: trains a GAN (or fits the gaussian baseline) into a run folder. */
export const trainCommand = defineCommand({
  name: 'train',
  summary: 'train a GAN (or fit the gaussian baseline) into a run folder',
  usage: '[flags]',
  description:
    "Trains with the seed's loop: reports, 4x4 grids, checkpoints every --checkpoint-interval and on SIGINT/SIGTERM, --resume. A folder that holds another run is refused unless --resume or --overwrite.",
  flags: { ...TRAIN_COMMAND_FLAGS, ...RUN_FOLDER_FLAGS },
  async run(args) {
    await runTraining({ ...trainArgs(args), overwrite: args.values.overwrite });
  },
});
