import { runCommand } from '../lib/cli/command.ts';
import { serveCommand } from '../serve/command.ts';

await runCommand(serveCommand, process.argv.slice(2));
