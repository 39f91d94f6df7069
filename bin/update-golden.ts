import { runCommand } from '../lib/cli/command.ts';
import { goldenUpdateCommand } from '../test/helpers/golden-update.ts';

await runCommand(goldenUpdateCommand, process.argv.slice(2));
