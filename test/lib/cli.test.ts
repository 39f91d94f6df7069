import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { commandHelp, defineCommand } from '../../lib/cli/command.ts';
import { formatHelp, parseFlags } from '../../lib/cli/flags.ts';
import { expected, expectedMessage, ParameterError } from '../../shared/expected.ts';
import { COMMANDS } from '../../bin/commands.ts';

/** assert.throws validation of the whole message (not of `String(err)`, which starts with the class name). */
const messageMatching =
  (pattern: RegExp) =>
  (err: unknown): boolean => {
    assert.match((err as Error).message, pattern);
    return true;
  };

const TABLE = {
  port: { kind: 'int', min: 0, max: 65535, default: 8080, env: 'PORT', help: 'TCP port' },
  rate: { kind: 'float', min: 0, help: 'a rate' },
  mode: { kind: 'enum', values: ['fast', 'slow'], default: 'fast', help: 'how' },
  at: { kind: 'int-list', min: 1, default: [], help: 'when' },
  names: { kind: 'list', pattern: { regex: /^[a-z]+$/, description: 'lowercase names' }, env: 'NAMES', help: 'who' },
  force: { kind: 'boolean', help: 'do it anyway' },
  secret: { kind: 'string', hidden: true, help: 'plumbing' },
} as const;

test('the sharp-style message is built in one place', () => {
  assert.equal(expectedMessage('integer between 1 and 256', 'n', 'abc'), "Expected integer between 1 and 256 for n but received 'abc'");
  assert.equal(expectedMessage('integer >= 2', 'steps', 1), 'Expected integer >= 2 for steps but received 1');
  assert.equal(expectedMessage('a value', '--name', undefined), 'Expected a value for --name but it is missing');
  const err = expected('one of a, b', '--mode', 'c');
  assert.ok(err instanceof ParameterError);
  assert.deepEqual([err.expected, err.parameter, err.received], ['one of a, b', '--mode', 'c']);
});

test('flags: typed values, defaults, and flag over environment over default', () => {
  const none = parseFlags(TABLE, [], { env: {} });
  assert.deepEqual(none.values, { port: 8080, rate: undefined, mode: 'fast', at: [], names: undefined, force: false, secret: undefined });
  assert.equal(none.given.size, 0);
  const env = parseFlags(TABLE, [], { env: { PORT: '7000', NAMES: 'ann,bob' } });
  assert.deepEqual([env.values.port, env.values.names, [...env.given].sort()], [7000, ['ann', 'bob'], ['names', 'port']]);
  const flags = parseFlags(TABLE, ['--port=9000', '--rate', '0.5', '--at', '30,10', '--at', '20,10', '--force', '--mode', 'slow'], { env: { PORT: '7000' } });
  assert.deepEqual([flags.values.port, flags.values.rate, flags.values.at, flags.values.force, flags.values.mode], [9000, 0.5, [10, 20, 30], true, 'slow']);
});

test('flags: every bad input is an error naming the flag (or variable), what was expected and what was received', () => {
  const cases: [string[], NodeJS.ProcessEnv, RegExp][] = [
    [['--port', 'http'], {}, /^Expected integer between 0 and 65535 for --port but received 'http'$/],
    [[], { PORT: '70000' }, /^Expected integer between 0 and 65535 for PORT but received '70000'$/],
    [['--port', '1.5'], {}, /for --port but received '1\.5'/],
    [['--rate=-1'], {}, /^Expected number >= 0 for --rate but received '-1'$/],
    [['--rate', '-1'], {}, /^Option '--rate' argument is ambiguous: write --rate=<value> for a value that starts with '-'$/],
    [['--mode', 'medium'], {}, /^Expected one of fast, slow for --mode but received 'medium'$/],
    [['--at', '3,x'], {}, /^Expected integer >= 1 for --at but received 'x'$/],
    [['--names', 'ann,B0B'], {}, /^Expected lowercase names for --names but received 'ann,B0B'$/],
    [['--nope'], {}, /^Unknown option '--nope'$/],
    [['--port'], {}, /argument missing/],
    [['stray'], {}, /Unexpected argument 'stray'/],
  ];
  for (const [argv, env, pattern] of cases) assert.throws(() => parseFlags(TABLE, argv, { env }), messageMatching(pattern), argv.join(' '));
});

test('positionals: counted, with the names in the error', () => {
  const spec = { positionals: { min: 2, max: 2, names: '<in> <out>' }, env: {} };
  assert.deepEqual(parseFlags({}, ['a', 'b'], spec).positionals, ['a', 'b']);
  assert.throws(() => parseFlags({}, ['a'], spec), messageMatching(/^Expected 2 arguments for <in> <out> but received 'a'$/));
  assert.throws(() => parseFlags({}, [], spec), messageMatching(/^Expected 2 arguments for <in> <out> but it is missing$/));
  assert.equal(parseFlags({}, ['--help'], spec).help, true, '--help needs no positionals');
});

test('help: every visible flag with its value shape, default and variable', () => {
  const help = formatHelp('ganforge demo [flags]', 'A demo.', TABLE);
  assert.match(help, /^Usage: ganforge demo \[flags\]\n\nA demo\.\n\nFlags:/);
  assert.match(help, /--port <int>\s+TCP port \[env PORT; default: 8080\]/);
  assert.match(help, /--mode <fast\|slow>\s+how \[default: fast\]/);
  assert.match(help, /--force\s+do it anyway\n/);
  assert.match(help, /--help\s+print this help/);
  assert.doesNotMatch(help, /--secret/);
  const command = defineCommand({ name: 'demo', summary: 'a demo', usage: '[flags]', flags: TABLE, run: async () => {} });
  assert.match(commandHelp(command), /^Usage: ganforge demo \[flags\]/);
});

const ganforge = (args: string[]) => spawnSync(process.execPath, [join(import.meta.dirname, '..', '..', 'bin', 'ganforge.js'), ...args], { encoding: 'utf8' });

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
