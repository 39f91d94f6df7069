import { runCommand } from '../lib/cli/command.ts';
import { benchServeCommand } from '../serve/bench.ts';

await runCommand(benchServeCommand, process.argv.slice(2));
