import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { LoadedModel } from '../registry.ts';
import type { Body, JobItem, JobRequest, JobResponse, WorkerInit, WorkerReady } from './protocol.ts';
import { runJob } from './run-job.ts';

/** Runs generation jobs somewhere: on generator threads, or on the main thread. */
export interface Executor {
  /** Jobs whose inference may run at once. */
  readonly capacity: number;
  /** Runs one job; `onInferred` frees its capacity once the model has run; resolves to one body per item. */
  run(model: string, items: readonly JobItem[], onInferred?: () => void): Promise<Body[]>;
  close(): Promise<void>;
}

/** The main thread's own sessions: one job at a time, blocking the event loop while it runs (tests, --generator-threads 0). */
export class InlineExecutor implements Executor {
  readonly capacity = 1;
  constructor(private readonly models: ReadonlyMap<string, LoadedModel>) {}

  run(model: string, items: readonly JobItem[], onInferred?: () => void): Promise<Body[]> {
    const m = this.models.get(model);
    if (!m) {
      onInferred?.();
      return Promise.reject(new Error(`Unknown model '${model}'`));
    }
    return runJob(m, items, onInferred);
  }

  async close(): Promise<void> {}
}

const ENTRY = join(import.meta.dirname, '..', '..', 'bin', 'generator-thread.js');

interface Pending {
  readonly worker: Worker;
  readonly resolve: (bodies: Body[]) => void;
  readonly reject: (err: Error) => void;
  /** Called once: when the model has run, or when the job fails before. */
  inferred?: () => void;
}

/**
 * Generator threads, each with its own onnxruntime sessions (one intra-op thread each), so that
 * generation and PNG encoding never block the event loop and every core is used. A job goes to a thread
 * with nothing to do; the scheduler sends at most `capacity` jobs at once.
 */
export class ThreadPool implements Executor {
  private readonly idle: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly workers = new Set<Worker>();
  /** Threads that have created their sessions and not died. */
  private readonly live = new Set<Worker>();
  private nextId = 1;
  private closing = false;

  private constructor(
    private readonly threads: number,
    private readonly init: WorkerInit,
    private readonly log: (line: string) => void,
  ) {}

  /** Jobs that may run at once: the live threads (fewer while a lost one is being replaced). */
  get capacity(): number {
    return Math.min(this.threads, this.live.size);
  }

  /** Starts `threads` generator threads and waits until each has created its sessions. */
  static async start(
    models: ReadonlyMap<string, LoadedModel>,
    threads: number,
    sessionOptions: Record<string, unknown>,
    log: (line: string) => void = console.error,
  ): Promise<ThreadPool> {
    const init: WorkerInit = { models: [...models.values()].map((m) => ({ name: m.manifest.name, bytes: m.bytes, manifest: m.manifest })), sessionOptions };
    const pool = new ThreadPool(threads, init, log);
    await Promise.all(Array.from({ length: threads }, () => pool.spawn())).catch(async (err) => {
      await pool.close();
      throw err;
    });
    return pool;
  }

  /** Starts one thread; a thread that dies later fails its job and is replaced. */
  private async spawn(): Promise<void> {
    const worker = new Worker(ENTRY, { workerData: this.init });
    this.workers.add(worker);
    const ready = await new Promise<WorkerReady>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    if (!ready.ready) throw new Error(`a generator thread could not start: ${ready.error}`);
    worker.on('message', (msg: JobResponse) => this.settle(worker, msg));
    worker.on('error', (err) => this.lost(worker, err));
    worker.on('exit', (code) => this.lost(worker, new Error(`the generator thread exited with code ${code}`)));
    this.live.add(worker);
    this.idle.push(worker);
  }

  /** A thread died: its job fails, and (unless the pool is closing) another thread takes its place. */
  private lost(worker: Worker, err: Error): void {
    if (!this.workers.delete(worker)) return;
    this.live.delete(worker);
    const i = this.idle.indexOf(worker);
    if (i >= 0) this.idle.splice(i, 1);
    for (const [id, p] of this.pending) {
      if (p.worker !== worker) continue;
      this.pending.delete(id);
      p.inferred = undefined;
      p.reject(err);
    }
    if (this.closing) return;
    this.log(`generator thread lost (${err.message}); starting another`);
    this.spawn().catch((e: Error) => this.log(`a replacement generator thread could not start: ${e.message}`));
  }

  run(model: string, items: readonly JobItem[], onInferred?: () => void): Promise<Body[]> {
    const worker = this.idle.pop();
    if (!worker) {
      onInferred?.();
      return Promise.reject(new Error('no idle generator thread (the scheduler sent more jobs than the capacity)'));
    }
    const id = this.nextId++;
    const job: JobRequest = { id, model, items };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { worker, resolve, reject, inferred: onInferred });
      worker.postMessage(job);
    });
  }

  /** The thread is free for the next job once its model has run (or the job failed). */
  private free(p: Pending): void {
    if (!p.inferred) return;
    const inferred = p.inferred;
    p.inferred = undefined;
    this.idle.push(p.worker);
    inferred();
  }

  private settle(_worker: Worker, msg: JobResponse): void {
    const p = this.pending.get(msg.id);
    if (!p) return;
    if ('inferred' in msg) {
      this.free(p);
      return;
    }
    this.pending.delete(msg.id);
    this.free(p);
    if (msg.ok) p.resolve(msg.bodies);
    else p.reject(new Error(msg.error));
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all([...this.workers].map((w) => w.terminate()));
  }
}
