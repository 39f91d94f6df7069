import * as ort from 'onnxruntime-node';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generate, GOLDEN_DIR, GOLDEN_N, GOLDEN_SEEDS, MODELS_DIR, shippedGenerators, toBase64, type Golden } from '../test/helpers/golden.ts';

// `npm run golden:update`: records the shipped generators' ONNX outputs for the golden seeds. Run it only
// when a model in models/ was deliberately replaced; the golden tests then guard the new outputs.
for (const m of await shippedGenerators()) {
  const session = await ort.InferenceSession.create(await readFile(join(MODELS_DIR, `${m.name}.onnx`)), { executionProviders: ['cpu'] });
  const outputs: string[] = [];
  for (const seed of GOLDEN_SEEDS) outputs.push(toBase64(await generate(session, m, seed)));
  const golden: Golden = { model: m.name, sha256: m.sha256, seeds: GOLDEN_SEEDS, n: GOLDEN_N, outputs };
  await writeFile(join(GOLDEN_DIR, `${m.name}.json`), `${JSON.stringify(golden, null, 1)}\n`);
  console.log(`test/golden/${m.name}.json: ${GOLDEN_SEEDS.length} seeds x ${GOLDEN_N} images`);
}
