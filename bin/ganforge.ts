import { commandHelp, runCommand, type Command } from '../lib/cli/command.ts';
import { expectedMessage } from '../shared/expected.ts';
import { COMMANDS } from './commands.ts';

/** `ganforge <command> [flags]`: the one executable; `ganforge --help` lists the commands. */
async function main(argv: string[]): Promise<void> {
  // Two-word commands ('bench train') first, then one-word ones.
  const two = argv.slice(0, 2).join(' ');
  const [name, rest] = COMMANDS[two] ? [two, argv.slice(2)] : [argv[0] ?? '', argv.slice(1)];
  const load = COMMANDS[name];
  if (load) return runCommand(await load(), rest);
  const commands = await Promise.all(Object.values(COMMANDS).map((l) => l()));
  if (name === '' || name === '--help' || name === 'help') {
    const width = Math.max(...commands.map((c) => c.name.length)) + 2;
    console.log(
      [
        'Usage: ganforge <command> [flags]   (ganforge <command> --help for its flags)',
        '',
        'Commands:',
        ...commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
      ].join('\n'),
    );
    return;
  }
  if (name === 'bench') {
    console.log(
      commands
        .filter((c) => c.name.startsWith('bench '))
        .map((c: Command) => commandHelp(c))
        .join('\n\n'),
    );
    return;
  }
  console.error(`error: ${expectedMessage(`one of ${Object.keys(COMMANDS).join(', ')}`, 'the command', name)} (ganforge --help lists them)`);
  process.exitCode = 1;
}

await main(process.argv.slice(2));
