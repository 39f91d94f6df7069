import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { UsageError } from '../../shared/expected.ts';
import type { AdminThreadData, AdminThreadMessage } from './admin-thread.ts';
import type { ServerState } from './shared-state.ts';

/** The thread's entry: worker threads do not inherit the main thread's module hooks, so it registers tsx first. */
const ENTRY = join(import.meta.dirname, '..', '..', 'bin', 'admin-thread.js');

/** A running admin listener. */
export interface AdminListener {
  /** The port it listens on. */
  readonly port: number;
  /** Stops it (the process's exit stops it too). */
  close(): Promise<void>;
}

/** One admin thread, listening on `port` (0: any free port); rejects when it cannot listen. */
function spawnThread(state: ServerState, port: number, host: string): Promise<{ worker: Worker; port: number }> {
  const data: AdminThreadData = { buffer: state.buffer, port, host };
  const worker = new Worker(ENTRY, { workerData: data });
  return new Promise((resolve, reject) => {
    const fail = (err: Error): void => {
      worker.removeAllListeners();
      void worker.terminate();
      reject(err);
    };
    worker.on('message', (m: AdminThreadMessage) => {
      if (m.type === 'listening') {
        worker.removeAllListeners();
        // Once started, the process lives for its server (or its cluster), not for its admin thread.
        worker.unref();
        resolve({ worker, port: m.port });
      } else fail(new UsageError(`cannot listen on ${host}:${port} for --admin-port (${m.code ?? m.message})`));
    });
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the admin thread exited with code ${code} before listening`)));
  });
}

/**
 * Starts /healthz, /readyz and /metrics on `port` in a worker thread of their own, reading `state` from
 * shared memory. Resolves once listening. A thread that dies later is logged and started again on the
 * same port, a second later: a liveness probe must not restart a server whose only fault is its admin thread.
 */
export async function startAdminListener(state: ServerState, port: number, host: string, log: (line: string) => void = console.error): Promise<AdminListener> {
  let current = await spawnThread(state, port, host);
  let closing = false;
  let alive = true;
  const watch = (worker: Worker): void => {
    alive = true;
    worker.on('error', (err) => log(`admin thread failed: ${err.message}`));
    worker.on('exit', (code) => {
      alive = false;
      if (closing) return;
      log(`admin thread exited with code ${code}; starting another on port ${current.port} in 1 s`);
      setTimeout(() => {
        spawnThread(state, current.port, host).then(
          (next) => {
            current = next;
            watch(next.worker);
          },
          (err: Error) => log(`admin thread not restarted: ${err.message}`),
        );
      }, 1000).unref();
    });
  };
  watch(current.worker);
  return {
    port: current.port,
    close: () =>
      new Promise<void>((resolve) => {
        closing = true;
        if (!alive) return resolve();
        current.worker.ref(); // held until it has exited
        current.worker.once('exit', () => resolve());
        current.worker.postMessage('close');
      }),
  };
}
