import { runCommand } from '../lib/cli/command.ts';
import { trainCommand } from '../train/commands/train.ts';

await runCommand(trainCommand, process.argv.slice(2));
