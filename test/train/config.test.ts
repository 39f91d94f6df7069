import assert from 'node:assert/strict';
import { test } from 'node:test';
import { commandHelp } from '../../lib/cli/command.ts';
import { DEFAULT_CONFIG, RESUMABLE_KEYS, resolveConfig } from '../../train/config.ts';
import { parseTrainArgs } from '../../train/flags.ts';
import { trainCommand } from '../../train/commands/train.ts';

test('defaults are the seed figures', () => {
  const { overrides } = parseTrainArgs([]);
  const c = resolveConfig(DEFAULT_CONFIG, overrides);
  assert.deepEqual(
    [c.model, c.iterations, c.batchSize, c.sampleInterval, c.latentDim, c.lr, c.beta1, c.beta2, c.data],
    ['dense', 20000, 128, 1000, 100, 0.001, 0.9, 0.999, 'mnist'],
  );
});

test('typed flags, lists and presets', () => {
  const a = parseTrainArgs([
    '--iterations',
    '500',
    '--lr=0.0002',
    '--reset-discriminator-at',
    '300,100',
    '--reset-discriminator-at',
    '200',
    '--model',
    'dcgan',
    '--width',
    '0.25',
  ]);
  assert.deepEqual(a.overrides, { iterations: 500, lr: 0.0002, resetDiscriminatorAt: [100, 200, 300], model: 'dcgan', width: 0.25 });
  const p = resolveConfig(DEFAULT_CONFIG, parseTrainArgs(['--preset', 'seed-burn-in']).overrides);
  assert.deepEqual([p.iterations, p.resetDiscriminatorAt], [40000, [20000]]);
  // Explicit flags win over the preset.
  assert.equal(resolveConfig(DEFAULT_CONFIG, parseTrainArgs(['--preset', 'seed-burn-in', '--iterations', '30000']).overrides).iterations, 30000);
});

test('unknown and ill-typed flags are errors naming the flag and what was expected', () => {
  const cases: [string[], RegExp][] = [
    [['--iterationz', '5'], /Unknown option '--iterationz'/],
    [['--iterations', 'abc'], /Expected integer >= 1 for --iterations but received 'abc'/],
    [['--iterations', '1.5'], /Expected integer >= 1 for --iterations but received '1.5'/],
    [['--iterations', '0'], /Expected integer >= 1 for --iterations but received '0'/],
    [['--batch-size', ''], /Expected integer between 1 and 65536 for --batch-size but received ''/],
    [['--beta1', '2'], /Expected number between 0 and 1 for --beta1 but received '2'/],
    [['--lr', 'NaN'], /Expected number >= 0 for --lr but received 'NaN'/],
    [['--model', 'vae'], /Expected one of dense, dcgan, cgan, acgan, gaussian for --model but received 'vae'/],
    [['--label-smoothing', '0.7'], /Expected number between 0 and 0.5 for --label-smoothing but received '0.7'/],
    [['--backend', 'metal'], /Expected one of auto, tensorflow-gpu, tensorflow, wasm, cpu for --backend but received 'metal'/],
    [['--seed=-1'], /Expected integer between 0 and 4294967295 for --seed but received '-1'/],
    [['--reset-discriminator-at', '10,x'], /Expected integer >= 1 for --reset-discriminator-at but received 'x'/],
    [['--preset', 'fast'], /Expected one of dense, dense-burn-in, seed-burn-in, dcgan, dcgan-x1, cgan, cgan-aux, cgan-aux2 for --preset but received 'fast'/],
    [['--progress', 'fancy'], /Expected one of auto, bar, plain for --progress but received 'fancy'/],
    [['stray'], /Unexpected argument 'stray'/],
    [['--iterations'], /argument missing/],
  ];
  for (const [argv, pattern] of cases) assert.throws(() => parseTrainArgs(argv), pattern, argv.join(' '));
});

test('resets must fall inside the run', () => {
  assert.throws(
    () => resolveConfig(DEFAULT_CONFIG, parseTrainArgs(['--iterations', '100', '--reset-discriminator-at', '100']).overrides),
    /Expected values below --iterations \(100\) for --reset-discriminator-at but received '100'/,
  );
});

test('--keep-best needs evaluations, and class-accuracy needs the conditional model', () => {
  const resolve = (argv: string[]) => resolveConfig(DEFAULT_CONFIG, parseTrainArgs(argv).overrides);
  assert.throws(() => resolve(['--keep-best', 'fid']), /--keep-best fid needs --eval-interval N/);
  assert.throws(
    () => resolve(['--keep-best', 'class-accuracy', '--eval-interval', '100']),
    /Expected --model cgan or acgan for --keep-best class-accuracy .* but received 'dense'/,
  );
  assert.throws(() => parseTrainArgs(['--keep-best', 'loss']), /Expected one of none, fid, class-accuracy for --keep-best but received 'loss'/);
  assert.equal(resolve(['--model', 'cgan', '--keep-best', 'class-accuracy', '--eval-interval', '100']).keepBest, 'class-accuracy');
});

test('--aux-weight is for cgan only', () => {
  const resolve = (argv: string[]) => resolveConfig(DEFAULT_CONFIG, parseTrainArgs(argv).overrides);
  assert.throws(
    () => resolve(['--model', 'acgan', '--aux-weight', '1']),
    /Expected --model cgan for --aux-weight \(acgan always has its digit head\) but received 'acgan'/,
  );
  assert.equal(resolve(['--model', 'cgan', '--aux-weight', '0.5']).auxWeight, 0.5);
});

test('help lists every flag with its default', () => {
  const help = commandHelp(trainCommand);
  for (const flag of [
    '--iterations',
    '--batch-size',
    '--sample-interval',
    '--latent-dim',
    '--lr',
    '--beta1',
    '--seed',
    '--out',
    '--resume',
    '--preset',
    '--reset-discriminator-at',
    '--checkpoint-interval',
    '--backend',
    '--data',
    '--width',
    '--keep-best',
    '--label-smoothing',
    '--aux-weight',
    '--aux-fakes',
    '--init-generator',
    '--d-warmup',
    '--eval-interval',
    '--eval-samples',
    '--fake-mode',
  ]) {
    assert.ok(help.includes(flag), flag);
  }
  assert.match(help, /--iterations\s+.*\[default: 20000\]/);
});

test('a run saved before --augment and --label-embedding-init existed resumes with the old behaviour; neither is resumable', () => {
  const { augment: _a, labelEmbeddingInit: _l, ...saved } = DEFAULT_CONFIG;
  assert.deepEqual(resolveConfig(saved as typeof DEFAULT_CONFIG, {}).augment, []);
  assert.deepEqual(resolveConfig(DEFAULT_CONFIG, { augment: ['cutout'] }).augment, ['cutout']);
  assert.ok(!RESUMABLE_KEYS.includes('augment'));
  assert.equal(resolveConfig(saved as typeof DEFAULT_CONFIG, {}).labelEmbeddingInit, 'book');
  assert.equal(resolveConfig(DEFAULT_CONFIG, parseTrainArgs(['--label-embedding-init', 'identity']).overrides).labelEmbeddingInit, 'identity');
  assert.throws(() => parseTrainArgs(['--label-embedding-init', 'zero']), /Expected one of book, identity for --label-embedding-init but received 'zero'/);
});
