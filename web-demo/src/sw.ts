/// <reference lib="webworker" />
// Service worker: precaches exactly the demo's own files (page, bundle, style, runtime, model files) at
// install and answers only those from the cache, so after one visit the demo works with no network.
// Everything else (the HTTP API: /sample, /healthz, /metrics, /models, ...) goes to the network.
// BUILD_ID changes with the page, the runtime files and the models, which retires old caches.
declare const BUILD_ID: string;
declare const PRECACHE: string[];
declare const RUNTIME_WEBGPU: string[];
const sw = self as unknown as ServiceWorkerGlobalScope;
const CACHE = `ganforge-${BUILD_ID}`;
/** Paths relative to the scope, e.g. `app.js`, `models/dense.onnx`; '' is the page itself. */
const relative = (url: URL): string | null =>
  url.href.startsWith(sw.registration.scope) ? url.pathname.slice(new URL(sw.registration.scope).pathname.length) : null;

sw.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      // The WebGPU runtime only where the browser has WebGPU; the WASM one always (the page falls back to it).
      await cache.addAll(PRECACHE.filter((f) => 'gpu' in sw.navigator || !RUNTIME_WEBGPU.includes(f)).map((f) => f || './'));
      await sw.skipWaiting();
    })(),
  );
});

sw.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const key of await caches.keys()) if (key.startsWith('ganforge-') && key !== CACHE) await caches.delete(key);
      await sw.clients.claim();
    })(),
  );
});

sw.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== sw.location.origin) return;
  const path = relative(url);
  const page = path === '' || path === 'index.html';
  // The page (with any ?seed=) and the precached files; never an API route, never another query.
  if (path === null || !(page || (PRECACHE.includes(path) && url.search === ''))) return;
  event.respondWith(
    (async () => {
      const cache = await caches.open(CACHE);
      // The page: the network when there is one (a new build shows at once), else the cached copy.
      if (page) {
        try {
          return await fetch(event.request);
        } catch {
          return (await cache.match('./')) ?? Response.error();
        }
      }
      return (await cache.match(path)) ?? fetch(event.request);
    })(),
  );
});
