import { runCommand } from '../lib/cli/command.ts';
import { trainExportCommand } from '../train/commands/export.ts';

await runCommand(trainExportCommand, process.argv.slice(2));
