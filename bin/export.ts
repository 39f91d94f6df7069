import { runCommand } from '../lib/cli/command.ts';
import { exportCommand } from '../train/commands/export.ts';

await runCommand(exportCommand, process.argv.slice(2));
