import type { MiddlewareHandler } from 'hono';

/**
 * Cross-origin isolation headers on every response: they let the web demo run onnxruntime-web's WASM
 * on several threads (SharedArrayBuffer needs a cross-origin isolated page).
 */
export function crossOriginIsolation(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    c.header('Cross-Origin-Opener-Policy', 'same-origin');
    c.header('Cross-Origin-Embedder-Policy', 'require-corp');
    c.header('Cross-Origin-Resource-Policy', 'same-origin');
  };
}
