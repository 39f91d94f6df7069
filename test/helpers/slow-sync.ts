// Preloaded into a training child by the kill test (`node --import tsx --import this-file`): every fsync
// waits first, which widens the window in which a SIGKILL lands in the middle of a durable write.
import { type FileHandle, open } from 'node:fs/promises';

const delay = Number(process.env.GANFORGE_TEST_SYNC_DELAY_MS ?? 100);
const probe = await open(import.meta.filename, 'r');
const proto = Object.getPrototypeOf(probe) as FileHandle;
await probe.close();
const sync = proto.sync;
proto.sync = async function (this: FileHandle): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, delay));
  return sync.call(this);
};
