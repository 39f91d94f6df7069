/// <reference lib="webworker" />
// Service worker: precaches exactly the demo's own files (page, scripts, style, icons, runtime, model
// files) at install and answers only those, from the cache when the network is gone, so after one
// visit the demo works with no network.
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
      // The WebGPU runtime (27 MB) only where there is a WebGPU adapter; the WASM one always (the page
      // falls back to it).
      const gpu = (sw.navigator as WorkerNavigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
      const adapter = gpu ? await gpu.requestAdapter().catch(() => null) : null;
      await cache.addAll(PRECACHE.filter((f) => adapter !== null || !RUNTIME_WEBGPU.includes(f)).map((f) => f || './'));
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
  // The network first, when there is one: the page, its script, the runtime and the models always come
  // from one build, even right after the models changed (a cache-first worker would answer the new
  // page with the old build's files until it is replaced). With no network, the cached build.
  event.respondWith(
    (async () => {
      try {
        return await fetch(event.request);
      } catch (err) {
        const cached = await (await caches.open(CACHE)).match(page ? './' : path);
        if (cached) return cached;
        throw err;
      }
    })(),
  );
});
