import { runCli } from './cli.ts';
import { runTraining } from './run.ts';

// `npm run train -- [flags]`
runCli(async () => {
  await runTraining(process.argv.slice(2));
});
