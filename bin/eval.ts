import { runCommand } from '../lib/cli/command.ts';
import { evalCommand } from '../eval/command.ts';

await runCommand(evalCommand, process.argv.slice(2));
