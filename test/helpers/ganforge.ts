import { type SpawnSyncOptions, type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { join } from 'node:path';

/** The repository's root. */
export const ROOT = join(import.meta.dirname, '..', '..');

/** The ganforge executable's TypeScript entry: child processes run `node --import tsx GANFORGE <command> ...`. */
export const GANFORGE = join(ROOT, 'bin', 'ganforge.ts');

/** `ganforge <args>` in a child process, run to its end (stdout and stderr as text; cwd: the repository). */
export function ganforgeSync(args: readonly string[], options: SpawnSyncOptions = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, ['--import', 'tsx', GANFORGE, ...args], { cwd: ROOT, ...options, encoding: 'utf8' });
}
