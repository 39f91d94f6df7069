import type { ModelStats } from '../generation/scheduler.ts';

/**
 * The server's state in shared memory, so that another thread (the admin listener, `admin-thread.ts`)
 * can answer /healthz, /readyz and /metrics without the main event loop: one SharedArrayBuffer, written
 * by one thread (the server's main thread, or in a cluster the primary) with Atomics and read by the
 * admin thread with Atomics.
 *
 * Layout: 8 Int32 words of flags and gauges, then BigInt64 words (64-bit, so that counters never wrap):
 *
 *   Int32    0 ready        1 when the models are loaded and the server listens
 *            1 draining     1 from SIGTERM/SIGINT on
 *            2 models       models loaded
 *            3 queued       images waiting for a generator, all models
 *            4 inFlight     requests received and not yet answered
 *            5 connections  open connections
 *            6 processes    server processes (1, or --workers)
 *            7 readyProcs   server processes ready
 *   BigInt64 0 heartbeat    Date.now() of the writer's last tick (its event loop's pulse)
 *            1.. COUNTERS   in that order
 */

const INT32_WORDS = 8;
const READY = 0;
const DRAINING = 1;
const MODELS = 2;
const QUEUED = 3;
const IN_FLIGHT = 4;
const CONNECTIONS = 5;
const PROCESSES = 6;
const READY_PROCESSES = 7;
const HEARTBEAT = 0;

/** Monotonic counters, each a BigInt64 word after the heartbeat. */
export const COUNTERS = [
  'connections',
  'responses2xx',
  'responses3xx',
  'responses4xx',
  'responses5xx',
  'aborted',
  'batches',
  'images',
  'shed',
  'expired',
  'dropped',
] as const;
export type Counter = (typeof COUNTERS)[number];

/** Bytes of the shared buffer. */
export const STATE_BYTES = INT32_WORDS * 4 + (1 + COUNTERS.length) * 8;

/** One consistent-enough reading of the state (each word is read atomically; words are independent). */
export interface StateSnapshot {
  readonly ready: boolean;
  readonly draining: boolean;
  readonly models: number;
  readonly queuedImages: number;
  readonly inFlight: number;
  readonly connections: number;
  readonly processes: number;
  readonly readyProcesses: number;
  /** Date.now() at the writer's last tick; 0 before the first. */
  readonly heartbeatMs: number;
  readonly counters: Readonly<Record<Counter, number>>;
}

const counterIndex = (name: Counter): number => 1 + COUNTERS.indexOf(name);

/** The counter of a response's status code. */
function responseCounter(status: number): Counter {
  if (status >= 500) return 'responses5xx';
  if (status >= 400) return 'responses4xx';
  if (status >= 300) return 'responses3xx';
  return 'responses2xx';
}

/** Reads and writes the shared state; `create()` in the writer, `attach(buffer)` in a reader. */
export class ServerState {
  private readonly words: Int32Array;
  private readonly big: BigInt64Array;

  private constructor(readonly buffer: SharedArrayBuffer) {
    if (buffer.byteLength !== STATE_BYTES) throw new Error(`a server state buffer has ${STATE_BYTES} bytes, not ${buffer.byteLength}`);
    this.words = new Int32Array(buffer, 0, INT32_WORDS);
    this.big = new BigInt64Array(buffer, INT32_WORDS * 4, 1 + COUNTERS.length);
  }

  /** A fresh state: one process, starting (not ready). */
  static create(): ServerState {
    const state = new ServerState(new SharedArrayBuffer(STATE_BYTES));
    Atomics.store(state.words, PROCESSES, 1);
    return state;
  }

  /** The state another thread writes into `buffer`. */
  static attach(buffer: SharedArrayBuffer): ServerState {
    return new ServerState(buffer);
  }

  /** The models are loaded and the server listens: /readyz answers 200 (until draining). */
  markReady(models: number): void {
    Atomics.store(this.words, MODELS, models);
    Atomics.store(this.words, READY, 1);
    Atomics.store(this.words, READY_PROCESSES, 1);
  }

  /** Models loaded (before listening). */
  setModels(models: number): void {
    Atomics.store(this.words, MODELS, models);
  }

  /** Shutting down: /readyz answers 503 from now on, on every listener. */
  setDraining(): void {
    Atomics.store(this.words, DRAINING, 1);
  }

  get draining(): boolean {
    return Atomics.load(this.words, DRAINING) === 1;
  }

  requestStarted(): void {
    Atomics.add(this.words, IN_FLIGHT, 1);
  }

  /** A request is over: answered with `status`, or (null) its connection closed first. */
  requestEnded(status: number | null): void {
    Atomics.sub(this.words, IN_FLIGHT, 1);
    Atomics.add(this.big, counterIndex(status === null ? 'aborted' : responseCounter(status)), 1n);
  }

  connectionOpened(): void {
    Atomics.add(this.words, CONNECTIONS, 1);
    Atomics.add(this.big, counterIndex('connections'), 1n);
  }

  connectionClosed(): void {
    Atomics.sub(this.words, CONNECTIONS, 1);
  }

  /** The writer's event loop is alive: readers show how long ago it last ticked. */
  beat(now: number = Date.now()): void {
    Atomics.store(this.big, HEARTBEAT, BigInt(now));
  }

  /** Copies the generation scheduler's counters (its own, on the main thread) into shared memory. */
  mirror(stats: Iterable<Readonly<ModelStats>>): void {
    let queued = 0;
    const sums = { batches: 0, images: 0, shed: 0, expired: 0, dropped: 0 };
    for (const s of stats) {
      queued += s.queuedImages;
      for (const k of Object.keys(sums) as (keyof typeof sums)[]) sums[k] += s[k];
    }
    Atomics.store(this.words, QUEUED, queued);
    for (const [k, v] of Object.entries(sums)) Atomics.store(this.big, counterIndex(k as Counter), BigInt(v));
  }

  /** Writes a whole snapshot (a cluster primary publishing its workers' sum). */
  publish(s: StateSnapshot): void {
    const w = this.words;
    Atomics.store(w, MODELS, s.models);
    Atomics.store(w, QUEUED, s.queuedImages);
    Atomics.store(w, IN_FLIGHT, s.inFlight);
    Atomics.store(w, CONNECTIONS, s.connections);
    Atomics.store(w, PROCESSES, s.processes);
    Atomics.store(w, READY_PROCESSES, s.readyProcesses);
    Atomics.store(this.big, HEARTBEAT, BigInt(s.heartbeatMs));
    for (const c of COUNTERS) Atomics.store(this.big, counterIndex(c), BigInt(s.counters[c]));
    // Flags last: a reader that sees ready also sees the figures that came with it.
    Atomics.store(w, READY, s.ready ? 1 : 0);
    if (s.draining) Atomics.store(w, DRAINING, 1);
  }

  snapshot(): StateSnapshot {
    const w = this.words;
    const counters = {} as Record<Counter, number>;
    for (const c of COUNTERS) counters[c] = Number(Atomics.load(this.big, counterIndex(c)));
    return {
      ready: Atomics.load(w, READY) === 1,
      draining: Atomics.load(w, DRAINING) === 1,
      models: Atomics.load(w, MODELS),
      queuedImages: Atomics.load(w, QUEUED),
      inFlight: Atomics.load(w, IN_FLIGHT),
      connections: Atomics.load(w, CONNECTIONS),
      processes: Atomics.load(w, PROCESSES),
      readyProcesses: Atomics.load(w, READY_PROCESSES),
      heartbeatMs: Number(Atomics.load(this.big, HEARTBEAT)),
      counters,
    };
  }
}

/** The JSON body of /readyz. */
export interface Readiness {
  readonly status: 'ready' | 'starting' | 'draining';
  /** Why not ready. */
  readonly reason?: string;
  readonly models: number;
  /** Requests received and not yet answered (on the main port; a /readyz there counts itself). */
  readonly inFlight: number;
  readonly processes: { readonly ready: number; readonly total: number };
}

/**
 * /readyz from a snapshot, the same on the main port and the admin port: 200 once the models are loaded
 * and the server listens, 503 while starting and from the first SIGTERM/SIGINT on.
 */
export function readiness(s: StateSnapshot): { status: 200 | 503; body: Readiness } {
  const base = { models: s.models, inFlight: s.inFlight, processes: { ready: s.readyProcesses, total: s.processes } };
  if (s.draining) return { status: 503, body: { status: 'draining', reason: 'shutting down: finishing in-flight requests, then exiting', ...base } };
  if (!s.ready) {
    const reason = s.processes > 1 ? `no server process is ready yet (0 of ${s.processes})` : 'loading the models';
    return { status: 503, body: { status: 'starting', reason, ...base } };
  }
  return { status: 200, body: { status: 'ready', ...base } };
}

/** The admin port's /metrics: Prometheus text of a snapshot (`now` for the heartbeat's age). */
export function adminMetrics(s: StateSnapshot, now: number = Date.now()): string {
  const lines: string[] = [];
  const metric = (name: string, type: 'gauge' | 'counter', help: string, values: ReadonlyArray<readonly [string, number]>): void => {
    lines.push(`# HELP ganforge_${name} ${help}`, `# TYPE ganforge_${name} ${type}`);
    for (const [labels, value] of values) lines.push(`ganforge_${name}${labels} ${value}`);
  };
  const c = s.counters;
  metric('ready', 'gauge', '1 when the server takes traffic (models loaded, listening, not draining), as /readyz', [['', readiness(s).status === 200 ? 1 : 0]]);
  metric('draining', 'gauge', '1 from SIGTERM/SIGINT on, while in-flight requests finish', [['', s.draining ? 1 : 0]]);
  metric('models_loaded', 'gauge', 'models loaded', [['', s.models]]);
  metric('server_processes', 'gauge', 'server processes, and those ready', [
    ['{state="total"}', s.processes],
    ['{state="ready"}', s.readyProcesses],
  ]);
  metric('queued_images', 'gauge', 'images waiting for a generator, all models', [['', s.queuedImages]]);
  metric('requests_in_flight', 'gauge', 'requests received and not yet answered', [['', s.inFlight]]);
  metric('open_connections', 'gauge', 'open connections on the main port', [['', s.connections]]);
  metric('connections_total', 'counter', 'connections accepted on the main port', [['', c.connections]]);
  metric('responses_total', 'counter', 'responses on the main port by status class; aborted: the connection closed before the response ended', [
    ['{class="2xx"}', c.responses2xx],
    ['{class="3xx"}', c.responses3xx],
    ['{class="4xx"}', c.responses4xx],
    ['{class="5xx"}', c.responses5xx],
    ['{class="aborted"}', c.aborted],
  ]);
  metric('generator_batches_total', 'counter', 'onnxruntime run() calls', [['', c.batches]]);
  metric('generator_images_total', 'counter', 'images generated', [['', c.images]]);
  metric('generator_refused_total', 'counter', 'requests answered without generating: shed (queue full), expired (queue deadline), dropped (client gone)', [
    ['{reason="shed"}', c.shed],
    ['{reason="expired"}', c.expired],
    ['{reason="dropped"}', c.dropped],
  ]);
  if (s.heartbeatMs > 0) {
    metric('heartbeat_age_seconds', 'gauge', "seconds since the server's event loop (the oldest, with --workers) last updated this state", [
      ['', Math.max(0, now - s.heartbeatMs) / 1000],
    ]);
  }
  return `${lines.join('\n')}\n`;
}
