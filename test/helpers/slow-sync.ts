// Preloaded into a training child by the kill test (`node --import tsx --import this-file`): the fsync of
// a checkpoint's staging file waits first, which widens the window in which a SIGKILL lands in the
// middle of a checkpoint write. Every other write runs at full speed.
import type { FileHandle } from 'node:fs/promises';
import { createRequire, syncBuiltinESMExports } from 'node:module';

const delay = Number(process.env.GANFORGE_TEST_SYNC_DELAY_MS ?? 100);
const fsp = createRequire(import.meta.url)('node:fs/promises') as typeof import('node:fs/promises');
const open = fsp.open;
fsp.open = (async (...args: Parameters<typeof open>): Promise<FileHandle> => {
  const handle = await open(...args);
  if (/\.checkpoint\.bin\.\d+\.[0-9a-f]+\.tmp$/.test(String(args[0]))) {
    const sync = handle.sync.bind(handle);
    handle.sync = async () => {
      await new Promise((resolve) => setTimeout(resolve, delay));
      return sync();
    };
  }
  return handle;
}) as typeof open;
// ESM imports of node:fs/promises see the patched export from here on.
syncBuiltinESMExports();
