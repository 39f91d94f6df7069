import { type Command, commandHelp, formatError, runCommand } from '../lib/cli/command.ts';
import { expectedMessage } from '../shared/expected.ts';
import { COMMANDS } from './commands.ts';

/** Loads a command's module; a package that is not installed (a dev dependency after `npm ci --omit=dev`) is said so. */
async function load(name: string): Promise<Command> {
  try {
    return await COMMANDS[name]!();
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && /Cannot find package '([^']+)'/.exec((err as Error).message);
    if (!missing) throw err;
    throw new Error(`ganforge ${name} needs the package ${missing[1]}, which is not installed (a dev dependency? run npm install)`, { cause: err });
  }
}

/** `ganforge <command> [flags]`: the one executable; `ganforge --help` lists the commands. */
async function main(argv: string[]): Promise<void> {
  // Two-word commands ('bench train') first, then one-word ones.
  const two = argv.slice(0, 2).join(' ');
  const [name, rest] = COMMANDS[two] ? [two, argv.slice(2)] : [argv[0] ?? '', argv.slice(1)];
  if (COMMANDS[name]) return runCommand(await load(name), rest);
  if (name === '' || name === '--help' || name === 'help' || name === 'bench') {
    const names = Object.keys(COMMANDS).filter((n) => name !== 'bench' || n.startsWith('bench '));
    // A command whose packages are missing is listed with the reason instead of failing the whole list.
    const loaded = await Promise.all(
      names.map((n) =>
        load(n).then(
          (command) => ({ name: n, command }),
          (err: Error) => ({ name: n, reason: err.message }),
        ),
      ),
    );
    if (name === 'bench') {
      console.log(loaded.map((l) => ('command' in l ? commandHelp(l.command) : `ganforge ${l.name}: ${l.reason}`)).join('\n\n'));
      return;
    }
    const width = Math.max(...names.map((n) => n.length)) + 2;
    console.log(
      [
        'Usage: ganforge <command> [flags]   (ganforge <command> --help for its flags)',
        '',
        'Commands:',
        ...loaded.map((l) => `  ${l.name.padEnd(width)}${'command' in l ? l.command.summary : `(unavailable: ${l.reason})`}`),
      ].join('\n'),
    );
    return;
  }
  console.error(`error: ${expectedMessage(`one of ${Object.keys(COMMANDS).join(', ')}`, 'the command', name)} (ganforge --help lists them)`);
  process.exitCode = 1;
}

try {
  await main(process.argv.slice(2));
} catch (err) {
  // Errors outside a command's run (runCommand prints its own), e.g. a command whose module fails to load.
  console.error(formatError(err));
  process.exitCode = 1;
}
