import type { IncomingMessage, ServerResponse } from 'node:http';
import { overloadBody } from './errors.ts';
import type { Scheduler } from './generation/scheduler.ts';
import { ISOLATION_HEADERS } from './middleware/isolation.ts';
import { DEFAULT_N, DEFAULT_STEPS } from './query.ts';

/**
 * Load shedding before the app: a /sample or /interpolate request that the scheduler would refuse (its
 * model's queue is full) gets its 503 from the Node request listener, before Hono parses it, so that under
 * overload the event loop spends almost nothing on work it cannot take and health checks stay fast. The
 * queue itself (its bound, its deadline, the 503s of requests that got past this check) is the
 * scheduler's (`generation/scheduler.ts`); the 503 body is the error handler's (`errors.ts`).
 */

/** A cheap answer given before the app parses a request, or null to let the app answer. */
export type Preflight = (req: IncomingMessage) => { readonly status: number; readonly headers: Record<string, string>; readonly body: string } | null;

/** The query of a generating request, read cheaply: which model, how many images (null: let the app decide). */
export function cheapQuery(url: string): { path: string; model: string | null; images: number | null } {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const params = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
  const model = params.get('model')?.split('@')[0] ?? null;
  // Digit ranges multiply n by their rows: leave those to the app's own check.
  const digit = params.get('digit');
  const count = path === '/interpolate' ? (params.get('steps') ?? String(DEFAULT_STEPS)) : (params.get('n') ?? String(DEFAULT_N));
  const images = digit && digit.length > 1 ? null : /^\d{1,3}$/.test(count) ? Number(count) : null;
  return { path, model, images };
}

/**
 * The server's load-shedding preflight: a 503 with Retry-After for a generating request whose model's
 * queue is full (counted as shed, as the scheduler counts its own refusals); null for everything else.
 */
export function overloadPreflight(scheduler: Scheduler, defaultModel: string, defaultConditional: string | null): Preflight {
  return (req) => {
    const url = req.url ?? '';
    if (req.method !== 'GET' || !(url.startsWith('/sample') || url.startsWith('/interpolate'))) return null;
    const { path, model, images } = cheapQuery(url);
    if ((path !== '/sample' && path !== '/interpolate') || images === null) return null;
    const name = model ?? (url.includes('digit=') && defaultConditional ? defaultConditional : defaultModel);
    if (!scheduler.wouldShed(name, images)) return null;
    scheduler.countShed(name);
    const retryAfter = scheduler.retryAfter();
    return {
      status: 503,
      headers: { 'Content-Type': 'application/json', 'Retry-After': String(retryAfter), ...ISOLATION_HEADERS },
      body: JSON.stringify(overloadBody(`the ${name} queue is full`, retryAfter)),
    };
  };
}

/** A Node request listener that answers what `preflight` answers and hands everything else to `listener`. */
export function shedFirst(
  preflight: Preflight,
  listener: (req: IncomingMessage, res: ServerResponse) => void,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const early = preflight(req);
    if (!early) return listener(req, res);
    res.writeHead(early.status, early.headers).end(early.body);
  };
}
