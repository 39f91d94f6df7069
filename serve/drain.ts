import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { ServerState } from './admin/shared-state.ts';

/** How a drain ended. */
export interface DrainResult {
  /** True when every in-flight request finished and every connection closed before the deadline. */
  readonly drained: boolean;
  /** Requests still unanswered (at the deadline; 0 when drained). */
  readonly inFlight: number;
  readonly ms: number;
}

/**
 * Counts the main server's connections and requests into the shared state (for /readyz and the admin
 * port's /metrics), and drains the server on shutdown: stop accepting, answer what is in flight with
 * `Connection: close`, close every keep-alive connection as soon as it is idle, within a deadline.
 */
export class RequestTracker {
  private server: Server | null = null;
  private readonly pending = new Set<ServerResponse>();
  private readonly idleWaiters: (() => void)[] = [];

  constructor(readonly state: ServerState) {}

  /** Requests received and not yet answered. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** The server's request listener, counting. */
  wrap(listener: (req: IncomingMessage, res: ServerResponse) => void): (req: IncomingMessage, res: ServerResponse) => void {
    return (req, res) => {
      this.pending.add(res);
      this.state.requestStarted();
      // While draining, a client must not send another request on this connection: it is about to close.
      if (this.state.draining) res.setHeader('Connection', 'close');
      res.once('close', () => {
        this.pending.delete(res);
        this.state.requestEnded(res.writableFinished ? res.statusCode : null);
        if (this.pending.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
        // The connection is idle from now on: close it rather than let it hold the drain.
        if (this.state.draining) this.server?.closeIdleConnections();
      });
      listener(req, res);
    };
  }

  /** Resolves once no request is in flight. */
  idle(): Promise<void> {
    if (this.pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Counts the connections of `server` (the one whose listener {@link wrap} made). */
  attach(server: Server): void {
    this.server = server;
    server.on('connection', (socket) => {
      this.state.connectionOpened();
      socket.once('close', () => this.state.connectionClosed());
    });
  }

  /**
   * Graceful shutdown: /readyz answers 503 (draining), the server stops accepting connections, idle
   * keep-alive connections close now and busy ones after their response. Resolves when the server has
   * closed, or at `timeoutMs` with the requests still in flight.
   */
  drain(timeoutMs: number): Promise<DrainResult> {
    const started = performance.now();
    this.state.setDraining();
    for (const res of this.pending) if (!res.headersSent) res.setHeader('Connection', 'close');
    const server = this.server;
    if (!server) return Promise.resolve({ drained: true, inFlight: 0, ms: 0 });
    return new Promise((resolve) => {
      const deadline = setTimeout(() => resolve({ drained: false, inFlight: this.pending.size, ms: performance.now() - started }), timeoutMs);
      server.close(() => {
        clearTimeout(deadline);
        resolve({ drained: true, inFlight: 0, ms: performance.now() - started });
      });
      server.closeIdleConnections();
    });
  }
}
