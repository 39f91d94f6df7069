/// <reference lib="webworker" />
// Service worker: precaches the page, the runtime and every model at install, then answers same-origin
// requests from the cache first, so after one visit the demo works with no network. BUILD_ID changes
// with every build, which retires old caches.
declare const BUILD_ID: string;
declare const RUNTIME_WASM: string[];
declare const RUNTIME_WEBGPU: string[];
const sw = self as unknown as ServiceWorkerGlobalScope;
const CACHE = `ganforge-${BUILD_ID}`;
const SHELL = ['./', 'index.html', 'app.js', 'style.css', 'models/index.json'];

sw.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      // The WASM runtime always (the page falls back to it); the WebGPU one where the browser has WebGPU.
      await cache.addAll([...SHELL, ...RUNTIME_WASM, ...('gpu' in sw.navigator ? RUNTIME_WEBGPU : [])]);
      const index = (await (await cache.match('models/index.json'))!.json()) as { models: string[] };
      await cache.addAll(index.models.flatMap((m) => [`models/${m}.json`, `models/${m}.onnx`]));
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
  event.respondWith(
    (async () => {
      const cache = await caches.open(CACHE);
      const hit = await cache.match(event.request, { ignoreSearch: true });
      if (hit) return hit;
      const res = await fetch(event.request);
      if (res.ok && res.type === 'basic') await cache.put(event.request, res.clone());
      return res;
    })(),
  );
});
