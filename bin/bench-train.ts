import { runCommand } from '../lib/cli/command.ts';
import { benchTrainCommand } from '../train/commands/bench-train.ts';

await runCommand(benchTrainCommand, process.argv.slice(2));
