import { runCommand } from '../lib/cli/command.ts';
import { trainClassifierCommand } from '../train/commands/train-classifier.ts';

await runCommand(trainClassifierCommand, process.argv.slice(2));
