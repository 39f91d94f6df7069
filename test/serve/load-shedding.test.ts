import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createApp } from '../../serve/app.ts';
import type { Executor } from '../../serve/generation/pool.ts';
import { cheapQuery } from '../../serve/load-shedding.ts';
import { ProviderSelector } from '../../serve/providers.ts';
import { type LoadedModel, loadModels } from '../../serve/registry.ts';
import { waitFor } from '../helpers/wait.ts';

// The preflight that answers 503 before the app parses a request, when the model's queue is full.

let models: Map<string, LoadedModel>;
before(async () => {
  ({ models } = await loadModels(join(import.meta.dirname, '..', '..', 'models'), new ProviderSelector('cpu', undefined, () => {}), ['dense', 'cgan']));
});
after(async () => {
  for (const m of models.values()) await m.session.release();
});

const request = (url: string, method = 'GET'): IncomingMessage => ({ url, method }) as IncomingMessage;

test('the cheap query reading: path, model (pin dropped) and images, with the API defaults', () => {
  assert.deepEqual(cheapQuery('/sample'), { path: '/sample', model: null, images: 16 });
  assert.deepEqual(cheapQuery('/sample?n=64&model=dcgan@a6f8cfafe389'), { path: '/sample', model: 'dcgan', images: 64 });
  assert.deepEqual(cheapQuery('/interpolate?from=1&to=2'), { path: '/interpolate', model: null, images: 10 });
  assert.deepEqual(cheapQuery('/interpolate?from=1&to=2&steps=64'), { path: '/interpolate', model: null, images: 64 });
  // Left to the app: a digit range multiplies n, and a malformed count is the app's 400.
  assert.equal(cheapQuery('/sample?digit=0-9&n=4').images, null);
  assert.equal(cheapQuery('/sample?n=abc').images, null);
});

test("a full queue gets its 503 before the app; other requests and other models' go through", async () => {
  let open: () => void = () => {};
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const executor: Executor = {
    capacity: 1,
    async run(_model, items) {
      await gate;
      return items.map((it) => new Uint8Array(it.n));
    },
    close: async () => {},
  };
  const { app, scheduler, preflight } = createApp({ models, defaultModel: 'dense', provider: 'cpu', executor, maxQueueImages: 20 });
  assert.equal(preflight(request('/sample?n=16')), null, 'an empty queue takes it');
  const running = app.request('/sample?n=16&seed=1');
  const queued = app.request('/sample?n=16&seed=2');
  await waitFor(() => scheduler.statsOf('dense').queuedImages === 16);

  const shed = preflight(request('/sample?n=16'));
  assert.equal(shed?.status, 503);
  assert.equal(shed.headers['Retry-After'], '5');
  assert.equal(shed.headers['Cross-Origin-Opener-Policy'], 'same-origin');
  assert.deepEqual(JSON.parse(shed.body), { error: 'Overloaded: the dense queue is full; retry after 5 s' });
  assert.equal(scheduler.statsOf('dense').shed, 1, 'counted like the scheduler counts its own refusals');
  assert.equal(preflight(request('/sample?n=4'))?.status, undefined, 'what still fits goes through');
  assert.equal(preflight(request('/interpolate?from=1&to=2&steps=8'))?.status, 503);
  assert.equal(preflight(request('/sample?n=16&model=cgan')), null, 'another model has its own queue');
  assert.equal(preflight(request('/sample?n=16&digit=3')), null, 'a digit goes to the conditional default');
  assert.equal(preflight(request('/healthz')), null);
  assert.equal(preflight(request('/sample?n=16', 'POST')), null);
  open();
  assert.deepEqual([(await running).status, (await queued).status], [200, 200]);
});
