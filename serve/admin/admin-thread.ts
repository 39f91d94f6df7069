import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { adminMetrics, readiness, ServerState, type StateSnapshot } from './shared-state.ts';

/**
 * The admin listener's thread: /healthz, /readyz and /metrics on their own port, served by a plain
 * node:http server on this thread's own event loop from the shared state (`shared-state.ts`), so they
 * answer while the main event loop is flooded. `admin-server.ts` starts it; importing this file starts
 * nothing.
 */

/** What the thread is started with. */
export interface AdminThreadData {
  /** The server's state (`ServerState.buffer`), shared, not copied. */
  readonly buffer: SharedArrayBuffer;
  /** 0: any free port (tests); the command line's 0 means no admin listener at all. */
  readonly port: number;
  readonly host: string;
}

/** What the thread tells its starter. */
export type AdminThreadMessage =
  | { readonly type: 'listening'; readonly port: number }
  | { readonly type: 'error'; readonly message: string; readonly code?: string };

/** One admin answer. */
export interface AdminResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}): AdminResponse => ({
  status,
  headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers },
  body: JSON.stringify(body),
});

/**
 * The admin port's answer to a request, from a snapshot of the state: /healthz 200 while the process
 * lives (a liveness probe), /readyz as the main port's, /metrics Prometheus text.
 */
export function adminResponse(method: string, url: string, s: StateSnapshot, now: number = Date.now()): AdminResponse {
  if (method !== 'GET' && method !== 'HEAD') return json(405, { error: `Method ${method} is not allowed: the admin port answers GET` }, { Allow: 'GET, HEAD' });
  const path = url.split('?')[0];
  switch (path) {
    case '/healthz':
      return json(200, { status: 'ok', pid: process.pid, uptimeSeconds: Math.round(process.uptime()) });
    case '/readyz': {
      const r = readiness(s);
      return json(r.status, r.body);
    }
    case '/metrics':
      return { status: 200, headers: { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8', 'Cache-Control': 'no-store' }, body: adminMetrics(s, now) };
    default:
      return json(404, { error: `No route for ${method} ${path} on the admin port (routes: /healthz, /readyz, /metrics)` });
  }
}

/** The thread's body: listens, answers, and closes on a 'close' message. */
export function runAdminThread(parent: MessagePort | null = parentPort, data: AdminThreadData = workerData as AdminThreadData): void {
  if (!parent) throw new Error('runAdminThread runs in a worker thread: serve/admin/admin-server.ts starts it');
  const state = ServerState.attach(data.buffer);
  const server = createServer({ headersTimeout: 5000, requestTimeout: 5000 }, (req, res) => {
    const r = adminResponse(req.method ?? 'GET', req.url ?? '/', state.snapshot());
    res.writeHead(r.status, { ...r.headers, 'Content-Length': String(Buffer.byteLength(r.body)) });
    res.end(req.method === 'HEAD' ? undefined : r.body);
  });
  server.keepAliveTimeout = 5000;
  // Probes are small; a flood of them must not exhaust the process's file descriptors.
  server.maxConnections = 1024;
  server.on('error', (err: NodeJS.ErrnoException) => parent.postMessage({ type: 'error', message: err.message, code: err.code } satisfies AdminThreadMessage));
  server.listen(data.port, data.host, () =>
    parent.postMessage({ type: 'listening', port: (server.address() as AddressInfo).port } satisfies AdminThreadMessage),
  );
  parent.on('message', (m: unknown) => {
    if (m !== 'close') return;
    server.close(() => parent.close());
    server.closeAllConnections();
  });
}
