import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEFAULT_CONFIG, resolveConfig } from '../../train/config.ts';
import { parseTrainArgs } from '../../train/flags.ts';
import { PRESETS } from '../../train/presets.ts';
import { MODELS_DIR, shippedGenerators } from '../helpers/golden.ts';

test('every shipped model has a preset that reproduces its recorded training config', async () => {
  const shipped = await shippedGenerators();
  assert.ok(shipped.length >= 6);
  for (const m of shipped) {
    assert.equal(m.preset, m.name, `${m.name}: the manifest records its preset`);
    const preset = PRESETS[m.name as keyof typeof PRESETS];
    assert.ok(preset, `${m.name}: a preset of that name`);
    assert.equal('name' in preset ? preset.name : undefined, m.name, `${m.name}: train:export --preset writes that model`);
    assert.equal(
      'generator' in preset ? preset.generator : 'final',
      m.selected ? 'best' : 'final',
      `${m.name}: exports the generator the shipped model came from`,
    );
    const config = resolveConfig(DEFAULT_CONFIG, parseTrainArgs(['--preset', m.name]).overrides);
    for (const [key, value] of Object.entries(m.training)) {
      if (key === 'dataSource') continue;
      assert.deepEqual(config[key as keyof typeof config], value, `${m.name}: --preset gives ${key} = ${JSON.stringify(value)}`);
    }
    // A fine-tune starts from a shipped generator that is itself reproducible.
    if (config.initGenerator) await readFile(join(MODELS_DIR, '..', config.initGenerator));
  }
});

test('the README gives the one preset command of every shipped model', async () => {
  const readme = await readFile(join(MODELS_DIR, '..', 'README.md'), 'utf8');
  for (const m of await shippedGenerators()) assert.ok(readme.includes(`npm run train:export -- --preset ${m.name}`), m.name);
});
