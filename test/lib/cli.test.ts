import assert from 'node:assert/strict';
import { test } from 'node:test';
import { commandHelp, defineCommand, formatError, isParameterError, runCommand } from '../../lib/cli/command.ts';
import { formatHelp, parseFlags } from '../../lib/cli/flags.ts';
import { expected, expectedMessage, ParameterError, UsageError } from '../../shared/expected.ts';

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

/** Runs a command in this process, capturing what it prints to stderr and the exit code it sets. */
async function runCaptured(run: () => Promise<void>, argv: string[] = []): Promise<{ stderr: string; exitCode: number | undefined }> {
  const command = defineCommand({ name: 'demo', summary: 'a demo', usage: '[flags]', flags: TABLE, run });
  const lines: string[] = [];
  const original = console.error;
  const before = process.exitCode;
  console.error = (...args: unknown[]) => lines.push(args.join(' '));
  try {
    await runCommand(command, argv);
    return { stderr: lines.join('\n'), exitCode: process.exitCode === undefined ? undefined : Number(process.exitCode) };
  } finally {
    console.error = original;
    process.exitCode = before;
  }
}

test('parameter errors print one line; any other error prints its stack, so a failure says where it happened', async () => {
  const parameter = await runCaptured(async () => {}, ['--port', 'http']);
  assert.deepEqual(parameter, { stderr: "error: Expected integer between 0 and 65535 for --port but received 'http'", exitCode: 1 });
  assert.deepEqual(await runCaptured(async () => {}, ['--nope']), { stderr: "error: Unknown option '--nope'", exitCode: 1 });
  const usage = await runCaptured(async () => {
    throw new UsageError('/nonexistent-run: no config.json; is it a run folder?');
  });
  assert.deepEqual(usage, { stderr: 'error: /nonexistent-run: no config.json; is it a run folder?', exitCode: 1 });

  // A bug deep in a run: the TypeError's class, message and frames (naming this file) are printed.
  const bug = await runCaptured(async function deepInTraining() {
    const step = (undefined as unknown as { loss: () => number }).loss;
    step();
  });
  assert.equal(bug.exitCode, 1);
  const [first, ...frames] = bug.stderr.split('\n');
  assert.match(first!, /^error: TypeError: Cannot read properties of undefined \(reading 'loss'\)$/);
  assert.ok(frames.length > 0 && frames.every((l) => /^\s+at /.test(l)), bug.stderr);
  assert.match(frames[0]!, /deepInTraining .*cli\.test\.ts:\d+:\d+/);

  // A plain Error keeps its message first (no class name), then its frames, then its cause.
  const wrapped = formatError(new Error('checkpoint.bin: truncated', { cause: new RangeError('offset out of range') }));
  assert.match(wrapped, /^error: checkpoint\.bin: truncated\n\s+at /);
  assert.match(wrapped, /\ncaused by: RangeError: offset out of range\n\s+at /);
  assert.equal(formatError('a string'), 'error: a string');
  assert.ok(isParameterError(expected('integer', 'n', 'x')) && isParameterError(new UsageError('no')) && !isParameterError(new TypeError('bug')));
});
