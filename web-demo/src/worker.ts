/// <reference lib="webworker" />
// The inference worker: loads onnxruntime-web and the models and runs the generators, so the page's
// main thread only draws. The runtime is chosen from a table in order of preference (WebGPU, then
// WASM); a runtime that is unavailable, or whose session creation or run fails or returns NaN, is
// left for the next one, and the reason is reported to the page with every answer.
import type * as Ort from 'onnxruntime-web';
import type { Fault, RuntimeState, WorkerRequest, WorkerResponse } from './protocol.ts';
import { RUNTIME_FILES, type RuntimeId } from './runtime-files.ts';

interface Runtime {
  readonly id: RuntimeId;
  readonly label: string;
  /** Why this runtime cannot run here, or null when it can. */
  unavailable(fault: Fault | null): Promise<string | null>;
}

type Gpu = { requestAdapter(): Promise<unknown> };

const RUNTIMES: readonly Runtime[] = [
  {
    id: 'webgpu',
    label: 'WebGPU',
    async unavailable(fault) {
      const gpu = (navigator as WorkerNavigator & { gpu?: Gpu }).gpu;
      if (!gpu) return 'this browser has no WebGPU';
      if (fault === 'no-adapter') return 'no WebGPU adapter (fault injected)';
      const adapter = await gpu.requestAdapter().catch(() => null);
      return adapter ? null : 'no WebGPU adapter';
    },
  },
  {
    id: 'wasm',
    label: 'WASM',
    unavailable: async () => (typeof WebAssembly === 'object' ? null : 'this browser has no WebAssembly'),
  },
];

const scope = self as unknown as DedicatedWorkerGlobalScope;
// Threads need SharedArrayBuffer, which only a cross-origin isolated page (and its workers) has.
const threads = scope.crossOriginIsolated ? Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1)) : 1;
const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

let fault: Fault | null = null;
let current = -1;
let ort: typeof Ort | null = null;
/** Why each runtime before the current one is not used. */
const reasons: string[] = [];
const sessions = new Map<string, Promise<Ort.InferenceSession>>();

function state(): RuntimeState {
  return {
    backend: RUNTIMES[current]!.id,
    threads,
    crossOriginIsolated: scope.crossOriginIsolated,
    reason: reasons.length > 0 ? reasons.join('; ') : null,
  };
}

/** Starts the first runtime from `from` on that is available and loads; throws when none does. */
async function activate(from: number): Promise<void> {
  for (let i = from; i < RUNTIMES.length; i++) {
    const runtime = RUNTIMES[i]!;
    const why = await runtime.unavailable(fault);
    if (why !== null) {
      reasons.push(`${runtime.label}: ${why}`);
      continue;
    }
    const files = RUNTIME_FILES[runtime.id];
    try {
      // Same-origin files beside the page, never a CDN.
      const mod = (await import(new URL(files.bundle, scope.location.href).href)) as typeof Ort;
      // Only the binary's URL: the bundle embeds its JS glue, which a URL prefix would make ORT fetch.
      mod.env.wasm.wasmPaths = { wasm: new URL(files.wasm, scope.location.href).href };
      mod.env.wasm.numThreads = threads;
      ort = mod;
      current = i;
      return;
    } catch (err) {
      reasons.push(`${runtime.label}: could not load (${message(err)})`);
    }
  }
  throw new Error(`no runtime could start: ${reasons.join('; ')}`);
}

function session(model: string): Promise<Ort.InferenceSession> {
  let s = sessions.get(model);
  if (!s) {
    const id = RUNTIMES[current]!.id;
    s = (async () => {
      const res = await fetch(model);
      if (!res.ok) throw new Error(`${model}: HTTP ${res.status}`);
      const bytes = new Uint8Array(await res.arrayBuffer());
      if (id === 'webgpu' && fault === 'webgpu-create') throw new Error('fault injected');
      return ort!.InferenceSession.create(bytes, { executionProviders: [id] });
    })();
    sessions.set(model, s);
    s.catch(() => sessions.delete(model));
  }
  return s;
}

/** One run on the current runtime; a failure says which step failed. */
async function runOnce(req: Extract<WorkerRequest, { type: 'run' }>): Promise<Float32Array> {
  const id = RUNTIMES[current]!.id;
  let s: Ort.InferenceSession;
  try {
    s = await session(req.model);
  } catch (err) {
    throw new Error(`session creation failed (${message(err)})`);
  }
  let data: Float32Array;
  try {
    if (id === 'webgpu' && fault === 'webgpu-run') throw new Error('fault injected');
    const feeds = Object.fromEntries(req.feeds.map((f) => [f.name, new ort!.Tensor(f.type, f.data, [...f.dims])]));
    const out = await s.run(feeds);
    const tensor = out[req.output];
    if (!tensor) throw new Error(`the model has no output '${req.output}'`);
    // A copy the worker owns, so it can be transferred to the page.
    data = Float32Array.from(tensor.data as Float32Array);
  } catch (err) {
    throw new Error(`run failed (${message(err)})`);
  }
  if (id === 'webgpu' && fault === 'webgpu-nan') data[0] = Number.NaN;
  const nan = data.findIndex(Number.isNaN);
  if (nan >= 0) throw new Error(`the result has NaN (first at index ${nan}${id === 'webgpu' && fault === 'webgpu-nan' ? ', fault injected' : ''})`);
  return data;
}

/** Runs on the current runtime, falling back to the next one for good when it fails. */
async function run(req: Extract<WorkerRequest, { type: 'run' }>): Promise<Float32Array> {
  for (;;) {
    try {
      return await runOnce(req);
    } catch (err) {
      if (current === RUNTIMES.length - 1) throw err;
      reasons.push(`${RUNTIMES[current]!.label}: ${message(err)}`);
      const open = [...sessions.values()];
      sessions.clear();
      for (const s of open) void s.then((x) => x.release()).catch(() => {});
      await activate(current + 1);
    }
  }
}

async function handle(req: WorkerRequest): Promise<Float32Array | null> {
  if (req.type === 'init') {
    fault = req.fault;
    if (current < 0) await activate(0);
    return null;
  }
  return run(req);
}

// One request at a time: a session runs one batch at a time, and answers keep their order.
let queue: Promise<unknown> = Promise.resolve();
scope.addEventListener('message', (event: MessageEvent<WorkerRequest>) => {
  const req = event.data;
  queue = queue.then(async () => {
    let res: WorkerResponse;
    try {
      const output = await handle(req);
      res = { id: req.id, ok: true, output, runtime: state() };
    } catch (err) {
      res = { id: req.id, ok: false, error: message(err), runtime: current >= 0 ? state() : null };
    }
    scope.postMessage(res, res.ok && res.output ? [res.output.buffer] : []);
  });
});
