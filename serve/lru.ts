/** One production in flight and the requests waiting for it. */
interface Flight<V> {
  waiters: number;
  readonly controller: AbortController;
  promise: Promise<V>;
}

/**
 * A byte-bounded least-recently-used cache. Seeded grids are immutable, so a repeated request (a shared
 * link, a page reload, the web demo's comparisons) is served from memory without running the model.
 */
export class ByteLru<V extends { byteLength: number }> {
  private readonly map = new Map<string, V>();
  private readonly inFlight = new Map<string, Flight<V>>();
  private bytes = 0;
  hits = 0;
  misses = 0;
  /** Requests that joined an identical one already being produced. */
  shared = 0;

  constructor(private readonly maxBytes: number) {}

  get(key: string): V | undefined {
    const value = this.map.get(key);
    if (value === undefined) {
      this.misses++;
      return undefined;
    }
    // Re-insert: Map iteration order is insertion order, so the first key is the least recent.
    this.map.delete(key);
    this.map.set(key, value);
    this.hits++;
    return value;
  }

  set(key: string, value: V): void {
    if (value.byteLength > this.maxBytes) return;
    const old = this.map.get(key);
    if (old) {
      this.bytes -= old.byteLength;
      this.map.delete(key);
    }
    this.map.set(key, value);
    this.bytes += value.byteLength;
    for (const [k, v] of this.map) {
      if (this.bytes <= this.maxBytes) break;
      this.map.delete(k);
      this.bytes -= v.byteLength;
    }
  }

  /**
   * The cached value for `key`, or `produce()`'s result, cached before it is returned. Identical
   * requests that arrive while it is being produced wait for that one production (counted in
   * `shared`); it is abandoned (its signal aborted) only when every waiter's own signal has aborted.
   */
  getOrCreate(key: string, produce: (signal: AbortSignal) => Promise<V>, signal?: AbortSignal): Promise<V> {
    const hit = this.get(key);
    if (hit !== undefined) return Promise.resolve(hit);
    let flight = this.inFlight.get(key);
    if (flight) {
      this.shared++;
    } else {
      const controller = new AbortController();
      const created: Flight<V> = { waiters: 0, controller, promise: Promise.resolve() as unknown as Promise<V> };
      created.promise = produce(controller.signal).then(
        (value) => {
          this.inFlight.delete(key);
          this.set(key, value);
          return value;
        },
        (err: unknown) => {
          this.inFlight.delete(key);
          throw err;
        },
      );
      this.inFlight.set(key, created);
      flight = created;
    }
    const f = flight;
    f.waiters++;
    if (!signal) return f.promise;
    return new Promise<V>((resolve, reject) => {
      const onAbort = (): void => {
        f.waiters--;
        if (f.waiters === 0) f.controller.abort(signal.reason);
        reject(signal.reason ?? new Error('aborted'));
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      f.promise.then(
        (v) => {
          signal.removeEventListener('abort', onAbort);
          resolve(v);
        },
        (err: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(err);
        },
      );
    });
  }

  /** Bytes held. */
  get size(): number {
    return this.bytes;
  }
}
