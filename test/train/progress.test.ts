import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { createProgress } from '../../train/progress.ts';

test('progress: plain lines off a terminal, a bar with it/s and ETA on one', () => {
  const plain = new PassThrough();
  let text = '';
  plain.on('data', (c: Buffer) => (text += c.toString()));
  const p = createProgress('auto', 0, 10, plain as unknown as NodeJS.WriteStream);
  p.tick(5);
  p.log('5 [D loss: 1, acc.: 50.00%] [G loss: 1]');
  p.stop();
  assert.equal(text, '5 [D loss: 1, acc.: 50.00%] [G loss: 1]\n');
  const tty = Object.assign(new PassThrough(), { isTTY: true, columns: 100, cursorTo: () => true, clearLine: () => true, moveCursor: () => true });
  let bar = '';
  tty.on('data', (c: Buffer) => (bar += c.toString()));
  const b = createProgress('auto', 0, 10, tty as unknown as NodeJS.WriteStream);
  b.tick(5);
  b.stop();
  assert.match(bar, /5\/10 \| [\d.]+ it\/s \| ETA/);
});
