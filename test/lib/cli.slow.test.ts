import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { COMMANDS } from '../../bin/commands.ts';
import { commandHelp } from '../../lib/cli/command.ts';
import { ganforgeSync, ROOT } from '../helpers/ganforge.ts';

// The ganforge executable and the npm scripts, run as child processes (and every command loaded).

const ganforge = (args: string[]) => spawnSync(process.execPath, [join(ROOT, 'bin', 'ganforge.js'), ...args], { encoding: 'utf8' });

test('the ganforge executable lists its commands, and every command --help lists its flags with defaults', async () => {
  const list = ganforge(['--help']);
  assert.equal(list.status, 0, list.stderr);
  for (const name of Object.keys(COMMANDS)) assert.match(list.stdout, new RegExp(`^  ${name}\\s+\\S`, 'm'), name);
  for (const [name, load] of Object.entries(COMMANDS)) {
    const command = await load();
    assert.equal(command.name, name);
    const help = commandHelp(command);
    assert.match(help, new RegExp(`^Usage: ganforge ${name} `), name);
    for (const [flag, spec] of Object.entries(command.flags)) {
      if (spec.hidden) continue;
      assert.match(help, new RegExp(`--${flag}\\b`), `${name} --${flag}`);
      if (spec.default !== undefined && spec.kind !== 'boolean' && !(Array.isArray(spec.default) && spec.default.length === 0)) {
        assert.match(help, /default: /, `${name} --${flag} shows its default`);
      }
    }
  }
  const serve = ganforge(['serve', '--help']);
  assert.equal(serve.status, 0, serve.stderr);
  assert.match(serve.stdout, /--port <int>\s+TCP port \(0 = any free port\) \[env PORT; default: 8080\]/);
  const bench = ganforge(['bench', 'train', '--help']);
  assert.match(bench.stdout, /Usage: ganforge bench train/);
  const wrong = ganforge(['trian']);
  assert.equal(wrong.status, 1);
  assert.match(wrong.stderr, /^error: Expected one of train, train-export, .* for the command but received 'trian'/);
  const bad = ganforge(['eval', 'dense', '--samples', 'lots']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^error: Expected integer between 2 and 100000 for --samples but received 'lots'/);
});

test('the npm scripts run the same commands and pass their flags through', () => {
  const npm = (args: string[]) => spawnSync('npm', ['run', '-s', ...args], { cwd: ROOT, encoding: 'utf8' });
  const help = npm(['train', '--', '--help']);
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /^Usage: ganforge train /);
  const bad = npm(['train', '--', '--batch-size', 'many']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^error: Expected integer between 1 and 65536 for --batch-size but received 'many'$/m);
  const bench = npm(['bench:serve', '--', '--help']);
  assert.match(bench.stdout, /^Usage: ganforge bench serve /);
  assert.match(bench.stdout, /--max-health-p99-ms/);
});

test('a user mistake is one line, without a stack', () => {
  const notRun = ganforgeSync(['train', '--resume', '/nonexistent-run']);
  assert.equal(notRun.status, 1);
  assert.equal(notRun.stderr.trim(), 'error: /nonexistent-run: no config.json; is it a run folder?');
});
