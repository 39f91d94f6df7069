/**
 * Runs a command-line program: errors are printed as one `error: ...` line and exit code 1, never a
 * stack trace for a user mistake.
 */
export function runCli(main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  });
}
