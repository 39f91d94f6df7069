import { runCommand } from '../lib/cli/command.ts';
import { convertCommand } from '../train/commands/convert.ts';

await runCommand(convertCommand, process.argv.slice(2));
