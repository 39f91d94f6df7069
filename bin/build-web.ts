import { runCommand } from '../lib/cli/command.ts';
import { buildWebCommand } from '../web-demo/command.ts';

await runCommand(buildWebCommand, process.argv.slice(2));
