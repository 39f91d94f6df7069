import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Staging files are `.<target>.<pid>.<random>.tmp` beside their target. */
const STAGING = /^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$/;

/** A path beside `target` for staging a write; same folder so the final rename is atomic. */
function stagingPath(target: string): string {
  return join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** fsyncs a folder so that a rename inside it survives a power loss (a no-op where folders cannot be opened). */
async function syncFolder(dir: string): Promise<void> {
  const handle = await open(dir, 'r').catch(() => null);
  if (!handle) return;
  try {
    await handle.sync().catch(() => {});
  } finally {
    await handle.close();
  }
}

/**
 * Writes a file atomically and durably: to a temporary file in the same folder, fsynced, renamed over
 * the target, then the folder fsynced. A reader sees the old file or the new one, never a torn one, and
 * after the promise resolves the new one survives a power loss.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = stagingPath(path);
  try {
    const handle = await open(tmp, 'w');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await syncFolder(dirname(path));
}

/** Writes a value as pretty-printed JSON with a final newline, atomically (the project's one JSON file format). */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** True while a process with this pid exists (signal 0 only checks). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the staging files in `dir` (not recursive) that a killed writer left behind: those whose
 * writing process no longer runs, so concurrent writers in the same folder are safe. Returns the names
 * removed.
 */
export async function removeStaleStaging(dir: string): Promise<string[]> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => {
    const pid = Number(STAGING.exec(n)?.[1]);
    return Number.isInteger(pid) && pid > 0 && pid !== process.pid && !isAlive(pid);
  });
  await Promise.all(names.map((n) => rm(join(dir, n), { force: true })));
  return names;
}
