import { runCommand } from '../lib/cli/command.ts';
import { benchScaleCommand } from '../serve/bench-scale.ts';

await runCommand(benchScaleCommand, process.argv.slice(2));
