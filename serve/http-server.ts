import { serve, type ServerType } from '@hono/node-server';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { UsageError } from '../shared/expected.ts';
import type { RequestTracker } from './drain.ts';
import { type Preflight, shedFirst } from './load-shedding.ts';

/** How long a client may take, and how many connections one process keeps. */
export interface HttpLimits {
  /** A client must send its request headers within this time (then 408 and close). */
  readonly headersMs: number;
  /** A client must send its whole request within this time. */
  readonly requestMs: number;
  /** An idle keep-alive connection is closed after this time. */
  readonly keepAliveMs: number;
  /** A socket with no traffic at all is closed after this time. */
  readonly idleMs: number;
  readonly maxConnections: number;
}

/** The documented defaults. */
export const DEFAULT_HTTP_LIMITS: HttpLimits = { headersMs: 10_000, requestMs: 30_000, keepAliveMs: 5_000, idleMs: 60_000, maxConnections: 4096 };

/**
 * Listens with `fetch` (a Hono app's) on a Node HTTP server with the limits set: slow or silent clients
 * cannot hold sockets and buffers for ever. `tracker` counts connections and requests (shed ones too)
 * into the shared state and drains the server on shutdown. Resolves once listening, with the port.
 */
export function listen(
  fetch: (req: Request) => Response | Promise<Response>,
  port: number,
  hostname: string,
  limits: HttpLimits = DEFAULT_HTTP_LIMITS,
  preflight: Preflight = () => null,
  tracker?: RequestTracker,
): Promise<{ server: Server; port: number }> {
  if (limits.headersMs > limits.requestMs)
    throw new UsageError(`Expected --headers-timeout-ms (${limits.headersMs}) at most --request-timeout-ms (${limits.requestMs})`);
  return new Promise((resolve, reject) => {
    const server: ServerType = serve(
      {
        fetch,
        port,
        hostname,
        // Requests the scheduler would refuse anyway are answered here, without the app's parsing: under
        // overload the event loop stays free for health checks and for the work it can take.
        createServer: ((options: object, listener: (req: IncomingMessage, res: ServerResponse) => void) => {
          const shed = shedFirst(preflight, listener);
          const server = createServer(options, tracker ? tracker.wrap(shed) : shed);
          tracker?.attach(server);
          return server;
        }) as typeof createServer,
        serverOptions: {
          headersTimeout: limits.headersMs,
          requestTimeout: limits.requestMs,
          keepAliveTimeout: limits.keepAliveMs,
          // Node checks header and request deadlines on an interval (30 s by default): often enough to keep them.
          connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(limits.headersMs / 4))),
        },
      },
      (info) => resolve({ server: server as Server, port: info.port }),
    );
    const http = server as Server;
    http.timeout = limits.idleMs;
    http.maxConnections = limits.maxConnections;
    http.once('error', reject);
  });
}
