import { parseArgs } from 'node:util';
import { runCli } from '../train/cli.ts';
import { buildWebDemo, DEFAULT_MODELS, DEFAULT_OUT, isStale } from './build.ts';

// `npm run build:web -- [--out web-demo/dist] [--models-dir models] [--if-stale]`
runCli(async () => {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    strict: true,
    options: { out: { type: 'string', default: DEFAULT_OUT }, 'models-dir': { type: 'string', default: DEFAULT_MODELS }, 'if-stale': { type: 'boolean', default: false } },
  });
  if (values['if-stale'] && !(await isStale(values.out, values['models-dir']))) return;
  const { buildId, models } = await buildWebDemo(values.out, values['models-dir']);
  console.log(`web demo built in ${values.out} (build ${buildId}; models ${models.join(', ')})`);
});
