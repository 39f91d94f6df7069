import { defineCommand } from '../lib/cli/command.ts';
import { buildWebDemo, DEFAULT_MODELS, DEFAULT_OUT, isStale } from './build.ts';

/** `ganforge build-web`: builds the static web demo (page, runtime, models) into a folder any static host serves. */
export const buildWebCommand = defineCommand({
  name: 'build-web',
  summary: 'build the static, offline web demo (npm start does it when stale)',
  usage: '[flags]',
  flags: {
    out: { kind: 'string', default: DEFAULT_OUT, help: 'folder to build into (replaced whole)' },
    'models-dir': { kind: 'string', default: DEFAULT_MODELS, help: 'folder of the generators to ship in the page' },
    'if-stale': { kind: 'boolean', help: 'build only when a source or model is newer than the last build' },
  },
  async run({ values }) {
    if (values['if-stale'] && !(await isStale(values.out, values['models-dir']))) return;
    const { buildId, models } = await buildWebDemo(values.out, values['models-dir']);
    console.log(`web demo built in ${values.out} (build ${buildId}; models ${models.join(', ')})`);
  },
});
