import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';

// The checkers `npm test` runs (dependency-cruiser for the import rules, Biome for format and lint),
// each fed deliberate violations in a scratch project, must fail naming them; clean code must pass.

const root = join(import.meta.dirname, '..', '..');
const bin = (name: string): string => join(root, 'node_modules', '.bin', name);

async function scratch(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ganforge-checkers-'));
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  await copyFile(join(root, 'tsconfig.json'), join(dir, 'tsconfig.json'));
  await symlink(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

function depcruise(dir: string): { status: number | null; out: string } {
  const r = spawnSync(bin('depcruise'), ['--config', join(root, '.dependency-cruiser.cjs'), '--output-type', 'err-long', '.'], {
    cwd: dir,
    encoding: 'utf8',
  });
  return { status: r.status, out: r.stdout + r.stderr };
}

test('the import rules fail on each kind of violation, naming the rule and the files', async () => {
  const dir = await scratch({
    'shared/leaky.ts': "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n",
    'lib/heavy.ts': "import * as ort from 'onnxruntime-node';\nexport const y = ort;\n",
    'serve/route.ts': "import { z } from '../train/model.ts';\nimport * as tf from '@tensorflow/tfjs';\nexport const r = [z, tf];\n",
    'train/model.ts': 'export const z = 1;\n',
    'eval/score.ts': "import { z } from '../train/model.ts';\nexport const s = z;\n",
    'web-demo/src/page.ts': "import { join } from 'node:path';\nimport sharp from 'sharp';\nexport const p = [join, sharp];\n",
    'train/export/onnx/convert.ts': "import { z } from '../../gan/models.ts';\nexport const c = z;\n",
    'train/gan/models.ts': 'export const z = 2;\n',
    'train/a.ts': "import { b } from './b.ts';\nexport const a = () => b;\n",
    'train/b.ts': "import { a } from './a.ts';\nexport const b = () => a;\n",
    'train/stale.ts': "import { gone } from './moved-away.ts';\nexport const s = gone;\n",
  });
  const { status, out } = depcruise(dir);
  assert.notEqual(status, 0, out);
  const expected: [string, RegExp][] = [
    ['shared-is-platform-free', /shared-is-platform-free[^\n]*\n?[^\n]*shared\/leaky\.ts/],
    ['lib-has-no-product-or-ml-imports', /lib-has-no-product-or-ml-imports[^\n]*\n?[^\n]*lib\/heavy\.ts/],
    ['serve-is-http-only', /serve-is-http-only[^\n]*\n?[^\n]*serve\/route\.ts/],
    ['tfjs-only-in-train', /tfjs-only-in-train[^\n]*\n?[^\n]*serve\/route\.ts/],
    ['eval-never-imports-train-or-serve', /eval-never-imports-train-or-serve[^\n]*\n?[^\n]*eval\/score\.ts/],
    ['the-page-imports-shared-only', /the-page-imports-shared-only[^\n]*\n?[^\n]*web-demo\/src\/page\.ts/],
    ['sharp-only-in-serve', /sharp-only-in-serve[^\n]*\n?[^\n]*web-demo\/src\/page\.ts/],
    ['converter-stands-alone', /converter-stands-alone[^\n]*\n?[^\n]*train\/export\/onnx\/convert\.ts/],
    ['no-circular', /no-circular[^\n]*\n?[^\n]*train\/(a|b)\.ts/],
    ['no-unresolvable', /no-unresolvable[^\n]*\n?[^\n]*train\/stale\.ts/],
  ];
  for (const [rule, pattern] of expected) assert.match(out, pattern, `${rule} not reported:\n${out}`);
});

test('the import rules pass on code that keeps them', async () => {
  const dir = await scratch({
    'shared/pure.ts': 'export const double = (x: number): number => 2 * x;\n',
    'lib/io.ts': "import { readFile } from 'node:fs/promises';\nimport { double } from '../shared/pure.ts';\nexport const io = [readFile, double];\n",
    'train/model.ts': "import * as tf from '@tensorflow/tfjs';\nimport { io } from '../lib/io.ts';\nexport const m = [tf, io];\n",
    'serve/route.ts':
      "import sharp from 'sharp';\nimport * as ort from 'onnxruntime-node';\nimport { double } from '../shared/pure.ts';\nexport const r = [sharp, ort, double];\n",
    'bin/train.ts': "import { m } from '../train/model.ts';\nconsole.log(m.length);\n",
  });
  const { status, out } = depcruise(dir);
  assert.equal(status, 0, out);
});

async function biome(files: Record<string, string>): Promise<{ status: number | null; out: string }> {
  const config = JSON.parse(await readFile(join(root, 'biome.json'), 'utf8')) as Record<string, unknown>;
  // The scratch folder is not a git checkout: the VCS integration is the one setting left out.
  delete config.vcs;
  delete config.$schema;
  const dir = await scratch({ ...files, 'biome.json': JSON.stringify(config) });
  const r = spawnSync(bin('biome'), ['check', '--max-diagnostics=50', 'src'], { cwd: dir, encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr };
}

test('the format and lint check fails on misformatted code and on lint errors, naming them', async () => {
  const bad = await biome({
    'src/ugly.ts': 'export function f(a:number){return a}\n',
    'src/sloppy.ts': 'export function g(a: number): boolean {\n  debugger;\n  return a == 1;\n}\n',
  });
  assert.notEqual(bad.status, 0, bad.out);
  assert.match(bad.out, /src\/ugly\.ts format/);
  assert.match(bad.out, /lint\/suspicious\/noDebugger/);
  assert.match(bad.out, /lint\/suspicious\/noDoubleEquals/);
  const good = await biome({ 'src/tidy.ts': "export function f(a: number): string {\n  return a === 1 ? 'one' : 'other';\n}\n" });
  assert.equal(good.status, 0, good.out);
});
