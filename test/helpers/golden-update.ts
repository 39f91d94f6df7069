import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { defineCommand } from '../../lib/cli/command.ts';
import { writeFileAtomic } from '../../lib/fs/atomic-write.ts';
import { expected } from '../../shared/expected.ts';
import { MODEL_NAME } from '../../shared/manifest.ts';
import { GOLDEN_DIR, GOLDEN_N, GOLDEN_SEEDS, type Golden, generate, MODELS_DIR, shippedGenerators, toBase64 } from './golden.ts';

/**
 * `npm run golden:update`: records the shipped generators' ONNX outputs for the golden seeds. Run it only
 * when a model in models/ was deliberately replaced; the golden tests then guard the new outputs.
 */
export const goldenUpdateCommand = defineCommand({
  name: 'golden-update',
  summary: "record the shipped generators' golden outputs (test/golden/) after a deliberate model change",
  usage: '[flags]',
  flags: {
    models: { kind: 'list', pattern: { regex: MODEL_NAME, description: 'model names' }, help: 'only these shipped generators', defaultLabel: 'all' },
  },
  async run({ values }) {
    const all = await shippedGenerators();
    const unknown = (values.models ?? []).filter((n) => !all.some((m) => m.name === n));
    if (unknown.length > 0) throw expected(`shipped generators (${all.map((m) => m.name).join(', ')})`, '--models', unknown.join(','));
    for (const m of all.filter((g) => !values.models || values.models.includes(g.name))) {
      const session = await ort.InferenceSession.create(await readFile(join(MODELS_DIR, `${m.name}.onnx`)), { executionProviders: ['cpu'] });
      const outputs: string[] = [];
      for (const seed of GOLDEN_SEEDS) outputs.push(toBase64(await generate(session, m, seed)));
      const golden: Golden = { model: m.name, sha256: m.sha256, seeds: GOLDEN_SEEDS, n: GOLDEN_N, outputs };
      await writeFileAtomic(join(GOLDEN_DIR, `${m.name}.json`), `${JSON.stringify(golden, null, 1)}\n`);
      await session.release();
      console.log(`test/golden/${m.name}.json: ${GOLDEN_SEEDS.length} seeds x ${GOLDEN_N} images`);
    }
  },
});
