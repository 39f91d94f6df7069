import { runCommand } from '../lib/cli/command.ts';
import { COMMANDS } from './commands.ts';

await runCommand(await COMMANDS.start!(), process.argv.slice(2));
