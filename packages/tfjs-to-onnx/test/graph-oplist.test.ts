import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { OP_CONVERTERS } from '../src/graph/ops/index.ts';
import { DRIVER_OPS, REFUSED_OPS } from '../src/graph/refused.ts';

// Every op of the installed tfjs-converter's op list (operations/op_list/*) is converted or refused with
// a reason, no name is stale, and the README's op table names each of them in the right column.

const root = join(import.meta.dirname, '..');

/** The op names of tfjs-converter's op list, read from its files. */
async function tfjsOps(): Promise<Set<string>> {
  const require = createRequire(join(root, 'package.json'));
  const pkg = dirname(require.resolve('@tensorflow/tfjs-converter/package.json'));
  const dir = join(pkg, 'dist', 'operations', 'op_list');
  const names = new Set<string>();
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.js'))) {
    const text = await readFile(join(dir, file), 'utf8');
    for (const m of text.matchAll(/['"]tfOpName['"]\s*:\s*['"]([\w]+)['"]/g)) names.add(m[1]!);
  }
  return names;
}

test("every op of tfjs-converter's op list is converted or refused by name with a reason, and no name is stale", async () => {
  const ops = await tfjsOps();
  assert.ok(ops.size > 240, `read ${ops.size} ops`);
  const converted = new Set(Object.keys(OP_CONVERTERS));
  const refused = new Set(Object.keys(REFUSED_OPS));
  for (const op of ops) assert.ok(converted.has(op) || refused.has(op) || DRIVER_OPS.includes(op), `${op} is neither converted nor refused`);
  for (const op of [...converted, ...refused, ...DRIVER_OPS]) assert.ok(ops.has(op), `${op} is not in tfjs-converter's op list`);
  for (const op of converted) assert.ok(!refused.has(op), `${op} is both converted and refused`);
  for (const [op, why] of Object.entries(REFUSED_OPS)) assert.ok(why.length > 20, `${op} has a reason`);
});

test("the README's op table lists every converted and every refused op", async () => {
  const readme = await readFile(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Graph models'));
  const converted = section.slice(section.indexOf('### Converted ops'), section.indexOf('### Refused ops'));
  const refusedText = section.slice(section.indexOf('### Refused ops'));
  for (const op of [...Object.keys(OP_CONVERTERS), ...DRIVER_OPS]) assert.match(converted, new RegExp(`\\b${op}\\b`), `${op} in the converted table`);
  for (const op of Object.keys(REFUSED_OPS)) assert.match(refusedText, new RegExp(`\\b${op}\\b`), `${op} in the refused table`);
});
