import type { Context } from 'hono';
import { expectedMessage } from '../shared/expected.ts';
import { DroppedError, OverloadError } from './generation/scheduler.ts';

/** The JSON body of a 503: what is overloaded and when to come back. */
export function overloadBody(message: string, retryAfter: number): { error: string } {
  return { error: `Overloaded: ${message}; retry after ${retryAfter} s` };
}

/** A bad request: status, and the fields of the JSON error body. */
export class HttpError extends Error {
  constructor(
    readonly status: 400 | 404 | 503,
    message: string,
    readonly parameter?: string,
    readonly expected?: string,
    readonly received?: string,
  ) {
    super(message);
  }
}

/** A 400 for a query parameter, worded sharp-style by the shared helper. */
export function badParameter(parameter: string, expected: string, received: string | undefined, status: 400 | 404 = 400): HttpError {
  return new HttpError(status, expectedMessage(expected, parameter, received), parameter, expected, received ?? '');
}

/**
 * The app's one error handler: an {@link HttpError} becomes a JSON body naming the parameter, what was
 * expected and what was received; an overloaded generator a 503 with Retry-After; anything else is
 * logged and answered 500 without internals.
 */
export function onError(err: Error, c: Context): Response {
  if (err instanceof OverloadError) {
    c.header('Retry-After', String(err.retryAfter));
    // Shed the connection too: a client that retries at once must reconnect, and new connections (a
    // health check, say) then wait in the same accept queue instead of behind a saturated event loop.
    c.header('Connection', 'close');
    return c.json(overloadBody(err.message, err.retryAfter), 503);
  }
  // Nobody reads this answer: the client closed the connection while its work was queued.
  if (err instanceof DroppedError || err.name === 'AbortError') return c.body(null, 499 as 400);
  if (err instanceof HttpError) {
    return c.json({ error: err.message, parameter: err.parameter, expected: err.expected, received: err.received }, err.status);
  }
  console.error(`error: ${c.req.method} ${c.req.path}: ${err.stack ?? err.message}`);
  return c.json({ error: 'internal error' }, 500);
}

/** The JSON 404 of a path no route answers. */
export function notFound(c: Context): Response {
  return c.json({ error: `No route for ${c.req.method} ${c.req.path}` }, 404);
}
