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
  // Which packages are devDependencies comes from the package.json.
  await copyFile(join(root, 'package.json'), join(dir, 'package.json'));
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
    // The converter package imports only itself, its declared packages and Node; ganforge reaches it by name, from train/.
    'packages/tfjs-to-onnx/src/convert.ts':
      "import { readFile } from 'node:fs/promises';\nimport { z } from '../../../train/gan/models.ts';\nimport { zod } from 'zod';\nexport const c = [readFile, z, zod];\n",
    'packages/tfjs-to-onnx/src/index.ts': "export { c } from './convert.ts';\n",
    'train/export/run.ts': "import { c } from '../../packages/tfjs-to-onnx/src/convert.ts';\nexport const e = c;\n",
    'serve/convert.ts': "import { c } from 'tfjs-to-onnx';\nexport const s = c;\n",
    'train/gan/models.ts': 'export const z = 2;\n',
    'train/a.ts': "import { b } from './b.ts';\nexport const a = () => b;\n",
    'train/b.ts': "import { a } from './a.ts';\nexport const b = () => a;\n",
    'train/stale.ts': "import { gone } from './moved-away.ts';\nexport const s = gone;\n",
    'serve/load.ts': "import autocannon from 'autocannon';\nexport const l = autocannon;\n",
    'lib/browser.ts': "export const browser = async () => (await import('@sparticuz/chromium')).default;\n",
    'eval/timing.ts': "import { t } from '../bench/timer.ts';\nexport const e = t;\n",
    'bench/timer.ts': 'export const t = 3;\n',
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
    ['tfjs-to-onnx-stands-alone', /tfjs-to-onnx-stands-alone[^\n]*\n?[^\n]*packages\/tfjs-to-onnx\/src\/convert\.ts → train\/gan\/models\.ts/],
    ['tfjs-to-onnx-stands-alone', /tfjs-to-onnx-stands-alone[^\n]*\n?[^\n]*packages\/tfjs-to-onnx\/src\/convert\.ts → node_modules\/zod\//],
    ['tfjs-to-onnx-by-its-name', /tfjs-to-onnx-by-its-name[^\n]*\n?[^\n]*train\/export\/run\.ts/],
    ['tfjs-to-onnx-only-in-train', /tfjs-to-onnx-only-in-train[^\n]*\n?[^\n]*serve\/convert\.ts/],
    ['no-circular', /no-circular[^\n]*\n?[^\n]*train\/(a|b)\.ts/],
    ['no-unresolvable', /no-unresolvable[^\n]*\n?[^\n]*train\/stale\.ts/],
    ['no-dev-dependencies-in-product', /no-dev-dependencies-in-product[^\n]*\n?[^\n]*serve\/load\.ts/],
    ['no-dev-dependencies-in-product', /no-dev-dependencies-in-product[^\n]*\n?[^\n]*lib\/browser\.ts/],
    ['product-never-imports-bench', /product-never-imports-bench[^\n]*\n?[^\n]*eval\/timing\.ts/],
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
    // bench/ and test/ may import dev dependencies and product code; the command table loads bench/ lazily.
    'bench/load.ts': "import autocannon from 'autocannon';\nimport { r } from '../serve/route.ts';\nexport const l = [autocannon, r];\n",
    'test/page.test.ts': "import { chromium } from 'playwright-core';\nexport const p = chromium;\n",
    'bin/commands.ts':
      "export const COMMANDS = {\n  load: async () => (await import('../bench/load.ts')).l,\n  convert: async () => (await import('tfjs-to-onnx')).convert,\n};\n",
    // The converter package: its declared packages (onnxruntime-node lazily), Node, itself; ganforge imports it by name.
    'packages/tfjs-to-onnx/src/index.ts':
      "import { fromBinary } from '@bufbuild/protobuf';\nimport * as tf from '@tensorflow/tfjs';\nimport { readFile } from 'node:fs/promises';\nimport { ModelProtoSchema } from 'onnx-buf';\nimport { g } from './graph-builder.ts';\nexport const convert = [fromBinary, tf, readFile, ModelProtoSchema, g];\nexport const check = () => import('onnxruntime-node');\n",
    'packages/tfjs-to-onnx/src/graph-builder.ts': 'export const g = 4;\n',
    'packages/tfjs-to-onnx/test/helpers/models.ts': "import { g } from '../../src/graph-builder.ts';\nexport const h = g;\n",
    'train/export.ts': "import { convert } from 'tfjs-to-onnx';\nimport { g } from 'tfjs-to-onnx/graph-builder';\nexport const e = [convert, g];\n",
    'test/convert.test.ts':
      "import { convert } from 'tfjs-to-onnx';\nimport { h } from '../packages/tfjs-to-onnx/test/helpers/models.ts';\nexport const t = [convert, h];\n",
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
