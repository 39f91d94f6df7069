import assert from 'node:assert/strict';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';

// The workspace package tfjs-to-onnx is reached two ways: in this repository by tsconfig.json's paths (its
// source, no build), once packed by its package.json exports (dist/). Both must name the same entry points.

const root = join(import.meta.dirname, '..', '..');
const json = async <T>(path: string): Promise<T> => JSON.parse(await readFile(join(root, path), 'utf8')) as T;

test("tsconfig.json's paths map tfjs-to-onnx's exports, and only those, to their source files", async () => {
  const pkg = await json<{ name: string; version: string; exports: Record<string, string | { types: string; default: string }>; bin: Record<string, string> }>(
    'packages/tfjs-to-onnx/package.json',
  );
  const tsconfig = await json<{ compilerOptions: { paths: Record<string, string[]> } }>('tsconfig.json');
  const fromExports = Object.entries(pkg.exports)
    .filter(([subpath]) => subpath !== './package.json')
    .map(([subpath, target]) => {
      assert.ok(typeof target === 'object', `${subpath}: conditions { types, default }`);
      const file = /^\.\/dist\/(.+)\.js$/.exec(target.default)?.[1];
      assert.ok(file, `${subpath}: ${target.default} is not a file in dist/`);
      assert.equal(target.types, `./dist/${file}.d.ts`, `${subpath}: types`);
      return [subpath === '.' ? pkg.name : `${pkg.name}/${subpath.slice(2)}`, [`./packages/tfjs-to-onnx/src/${file}.ts`]] as const;
    });
  const fromPaths = Object.entries(tsconfig.compilerOptions.paths).filter(([name]) => name === pkg.name || name.startsWith(`${pkg.name}/`));
  assert.deepEqual(Object.fromEntries(fromPaths), Object.fromEntries(fromExports));
  for (const [, [file]] of fromExports) await access(join(root, file!));
  // The executable is built from src/cli.ts.
  assert.deepEqual(pkg.bin, { 'tfjs-to-onnx': './dist/cli.js' });
  await access(join(root, 'packages', 'tfjs-to-onnx', 'src', 'cli.ts'));
  const ganforge = await json<{ workspaces: string[]; dependencies: Record<string, string> }>('package.json');
  assert.ok(ganforge.workspaces.includes('packages/*'));
  assert.equal(ganforge.dependencies[pkg.name], pkg.version, 'ganforge depends on the workspace version');
});
