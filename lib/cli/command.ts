import { formatHelp, parseFlags, type FlagTable, type ParsedFlags, type PositionalSpec } from './flags.ts';

/** A command-line program: its flag table and what it does with the parsed flags. */
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
 * Parses argv and runs a command; `--help` prints its flags. Errors are printed as one `error: ...` line
 * and exit code 1, never a stack trace for a user mistake.
 */
export async function runCommand<T extends FlagTable>(command: Command<T>, argv: readonly string[]): Promise<void> {
  try {
    const args = parseFlags(command.flags, argv, { positionals: command.positionals });
    if (args.help) {
      console.log(commandHelp(command as unknown as Command));
      return;
    }
    await command.run(args, argv);
  } catch (err) {
    console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  }
}
