import type { MiddlewareHandler } from 'hono';

/** The cross-origin isolation headers, for the middleware and for answers given before the app runs. */
export const ISOLATION_HEADERS: Readonly<Record<string, string>> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/**
 * Cross-origin isolation headers on every response: they let the web demo run onnxruntime-web's WASM
 * on several threads (SharedArrayBuffer needs a cross-origin isolated page).
 */
export function crossOriginIsolation(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    for (const [name, value] of Object.entries(ISOLATION_HEADERS)) c.header(name, value);
  };
}
