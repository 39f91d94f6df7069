import type { Executor } from './pool.ts';
import type { Body, JobItem } from './protocol.ts';

/** Why a request got no images: the queue was full, or it waited past the deadline. Answered 503. */
export class OverloadError extends Error {
  constructor(
    message: string,
    /** Seconds a client should wait before trying again. */
    readonly retryAfter: number,
  ) {
    super(message);
  }
}

/** The client went away while its work was queued. */
export class DroppedError extends Error {}

/** Limits of the scheduler. */
export interface SchedulerOptions {
  /** Most images one onnxruntime run() takes (requests are batched up to it; 0 = one request per run). */
  readonly maxBatchImages: number;
  /** Most images waiting per model; more is refused with 503 (Triton's max_queue_size). */
  readonly maxQueueImages: number;
  /** Longest a request may wait in the queue before it is answered 503, in ms. */
  readonly queueTimeoutMs: number;
}

/** The documented defaults (the server's flags take theirs from here). */
export const DEFAULT_SCHEDULER_OPTIONS: SchedulerOptions = { maxBatchImages: 1024, maxQueueImages: 2048, queueTimeoutMs: 5000 };

/** Counters per model, for /metrics and tests. */
export interface ModelStats {
  /** onnxruntime run() calls, and images in them. */
  batches: number;
  images: number;
  /** Requests refused because the queue was full. */
  shed: number;
  /** Requests that waited past the deadline. */
  expired: number;
  /** Requests dropped from the queue because their client disconnected. */
  dropped: number;
  /** Images waiting now. */
  queuedImages: number;
}

interface Queued {
  readonly item: JobItem;
  readonly enqueued: number;
  readonly resolve: (body: Body) => void;
  readonly reject: (err: Error) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

/**
 * One bounded queue per model in front of the executor. Requests that arrive while the executor is busy
 * wait and are then run together (up to `maxBatchImages` images per run), oldest queue first; a full
 * queue sheds new work (503 with Retry-After), work older than the deadline is answered 503, and work
 * whose client disconnected is dropped before it costs anything.
 */
export class Scheduler {
  private readonly queues = new Map<string, Queued[]>();
  private readonly stats = new Map<string, ModelStats>();
  private running = 0;
  /** Jobs handed to the executor and not yet settled (inference and encoding). */
  private readonly inProgress = new Set<Promise<void>>();
  /** Why new work is refused, once {@link shutdown} was called. */
  private closed: string | null = null;

  constructor(
    private readonly executor: Executor,
    models: Iterable<string>,
    private readonly options: SchedulerOptions,
  ) {
    for (const m of models) {
      this.queues.set(m, []);
      this.stats.set(m, { batches: 0, images: 0, shed: 0, expired: 0, dropped: 0, queuedImages: 0 });
    }
  }

  /** Counters of a model. */
  statsOf(model: string): Readonly<ModelStats> {
    const s = this.stats.get(model);
    if (!s) throw new Error(`Unknown model '${model}'`);
    return s;
  }

  /** All models' counters. */
  allStats(): ReadonlyMap<string, Readonly<ModelStats>> {
    return this.stats;
  }

  /** True when `images` more would not fit in the queue of `model` (an unknown model: false); asked by `load-shedding.ts`. */
  wouldShed(model: string, images: number): boolean {
    const stats = this.stats.get(model);
    return stats !== undefined && stats.queuedImages + images > this.options.maxQueueImages;
  }

  /** Counts a request refused before it reached the scheduler, by {@link wouldShed}. */
  countShed(model: string): void {
    const stats = this.stats.get(model);
    if (stats) stats.shed++;
  }

  /** Seconds until the queue of `model` has room again, roughly: what Retry-After says. */
  retryAfter(): number {
    return Math.max(1, Math.ceil(this.options.queueTimeoutMs / 1000));
  }

  /**
   * Refuses new work and answers every queued request 503 with `reason`; resolves once the jobs already
   * running have settled. The server exits only then: onnxruntime aborts a process torn down mid-run.
   */
  async shutdown(reason: string): Promise<void> {
    this.closed = reason;
    for (const [model, queue] of this.queues) {
      const stats = this.stats.get(model)!;
      for (const e of queue.splice(0)) {
        stats.queuedImages -= e.item.n;
        e.signal?.removeEventListener('abort', e.onAbort);
        e.reject(new OverloadError(reason, this.retryAfter()));
      }
    }
    await Promise.all(this.inProgress);
  }

  /** Queues one request's work; resolves to its body. `signal` aborting (the client left) drops it. */
  submit(model: string, item: JobItem, signal?: AbortSignal): Promise<Body> {
    const queue = this.queues.get(model);
    const stats = this.stats.get(model);
    if (!queue || !stats) return Promise.reject(new Error(`Unknown model '${model}'`));
    if (this.closed !== null) return Promise.reject(new OverloadError(this.closed, this.retryAfter()));
    if (signal?.aborted) {
      stats.dropped++;
      return Promise.reject(new DroppedError('the client disconnected'));
    }
    if (stats.queuedImages + item.n > this.options.maxQueueImages) {
      stats.shed++;
      return Promise.reject(
        new OverloadError(`the ${model} queue is full (${stats.queuedImages} images waiting, at most ${this.options.maxQueueImages})`, this.retryAfter()),
      );
    }
    return new Promise<Body>((resolve, reject) => {
      const entry: Queued = {
        item,
        enqueued: performance.now(),
        resolve,
        reject,
        signal,
        onAbort: () => {
          const i = queue.indexOf(entry);
          if (i < 0) return; // already running: its result is simply not sent
          queue.splice(i, 1);
          stats.queuedImages -= item.n;
          stats.dropped++;
          reject(new DroppedError('the client disconnected'));
        },
      };
      signal?.addEventListener('abort', entry.onAbort, { once: true });
      queue.push(entry);
      stats.queuedImages += item.n;
      this.dispatch();
    });
  }

  /** Starts jobs while the executor has room: the model whose oldest request waited longest first. */
  private dispatch(): void {
    while (this.running < this.executor.capacity) {
      const now = performance.now();
      let model: string | null = null;
      let oldest = Number.POSITIVE_INFINITY;
      for (const [name, queue] of this.queues) {
        this.expire(name, queue, now);
        const head = queue[0];
        if (head && head.enqueued < oldest) {
          oldest = head.enqueued;
          model = name;
        }
      }
      if (model === null) return;
      this.start(model, this.take(model));
    }
  }

  /** Answers 503 to the requests of a queue that waited past the deadline. */
  private expire(model: string, queue: Queued[], now: number): void {
    const stats = this.stats.get(model)!;
    while (queue.length > 0 && now - queue[0]!.enqueued > this.options.queueTimeoutMs) {
      const e = queue.shift()!;
      stats.queuedImages -= e.item.n;
      stats.expired++;
      e.signal?.removeEventListener('abort', e.onAbort);
      e.reject(new OverloadError(`the request waited more than ${this.options.queueTimeoutMs} ms for the ${model} generator`, this.retryAfter()));
    }
  }

  /** The next batch of a model's queue: at least one request, then more while they fit. */
  private take(model: string): Queued[] {
    const queue = this.queues.get(model)!;
    const stats = this.stats.get(model)!;
    const batch: Queued[] = [];
    let images = 0;
    while (queue.length > 0 && (batch.length === 0 || (this.options.maxBatchImages > 0 && images + queue[0]!.item.n <= this.options.maxBatchImages))) {
      const e = queue.shift()!;
      e.signal?.removeEventListener('abort', e.onAbort);
      stats.queuedImages -= e.item.n;
      images += e.item.n;
      batch.push(e);
    }
    return batch;
  }

  private start(model: string, batch: Queued[]): void {
    const stats = this.stats.get(model)!;
    this.running++;
    let freed = false;
    // The executor's capacity is its inference: the next batch starts while this one is encoded.
    const free = (): void => {
      if (freed) return;
      freed = true;
      this.running--;
      this.dispatch();
    };
    const job: Promise<void> = this.executor
      .run(
        model,
        batch.map((e) => e.item),
        free,
      )
      .then(
        (bodies) => {
          stats.batches++;
          stats.images += batch.reduce((s, e) => s + e.item.n, 0);
          batch.forEach((e, i) => {
            e.resolve(bodies[i]!);
          });
        },
        (err: Error) => {
          for (const e of batch) e.reject(err);
        },
      )
      .finally(() => {
        free();
        this.inProgress.delete(job);
      });
    this.inProgress.add(job);
  }
}
