import { ParameterError, UsageError } from '../../shared/expected.ts';
import { formatHelp, parseFlags, type FlagTable, type ParsedFlags, type PositionalSpec } from './flags.ts';

/**
 * A command-line program: its flag table and what it does with the parsed flags. `run` is a method, so a
 * `Command<T>` of any table is also a plain `Command` (what the registry in bin/commands.ts holds):
 * `runCommand` only ever passes it flags parsed with its own table.
 */
export interface Command<T extends FlagTable = FlagTable> {
  /** As typed after `ganforge`, e.g. `train`. */
  readonly name: string;
  /** One line for `ganforge --help`. */
  readonly summary: string;
  /** What follows the command name in the usage line, e.g. `[flags] <run folder>`. */
  readonly usage: string;
  /** More words for the command's own --help (defaults to the summary). */
  readonly description?: string;
  readonly flags: T;
  readonly positionals?: PositionalSpec;
  /** Runs with parsed flags; `argv` is the raw command line (recorded in manifests). */
  run(args: ParsedFlags<T>, argv: readonly string[]): Promise<void>;
}

/** Declares a command with its table's types inferred. */
export function defineCommand<const T extends FlagTable>(command: Command<T>): Command<T> {
  return command;
}

/** The --help text of a command. */
export function commandHelp(command: Command): string {
  return formatHelp(`ganforge ${command.name} ${command.usage}`, command.description ?? command.summary, command.flags);
}

/**
 * True for the user's mistakes (a bad value, an impossible command line): their message says what to
 * change. By class, or by name for the same classes of another package (the converter has its own copy).
 */
export function isParameterError(err: unknown): boolean {
  return err instanceof ParameterError || err instanceof UsageError || (err instanceof Error && (err.name === 'ParameterError' || err.name === 'UsageError'));
}

/**
 * What a command prints for an error: a parameter error as one `error: ...` line; anything else (a bug, a
 * corrupt file, a failed runtime) with its stack and causes, so that a failure hours into a run says where
 * it happened.
 */
export function formatError(err: unknown): string {
  if (!(err instanceof Error)) return `error: ${String(err)}`;
  if (isParameterError(err)) return `error: ${err.message}`;
  const lines = [`error: ${err.name && err.name !== 'Error' ? `${err.name}: ` : ''}${err.message}`];
  // The frames only: the stack's own first line repeats the message as it was when the error was made.
  const stack = (err.stack ?? '').split('\n');
  const first = stack.findIndex((l) => /^\s+at /.test(l));
  if (first >= 0) lines.push(...stack.slice(first));
  if (err.cause !== undefined) lines.push(formatError(err.cause).replace(/^error: /, 'caused by: '));
  return lines.join('\n');
}

/**
 * Parses argv and runs a command; `--help` prints its flags. An error sets exit code 1 and is printed by
 * {@link formatError}: one line for a parameter error, the stack for anything else.
 */
export async function runCommand<T extends FlagTable>(command: Command<T>, argv: readonly string[]): Promise<void> {
  try {
    const args = parseFlags(command.flags, argv, { positionals: command.positionals });
    if (args.help) {
      console.log(commandHelp(command));
      return;
    }
    await command.run(args, argv);
  } catch (err) {
    console.error(formatError(err));
    process.exitCode = 1;
  }
}
