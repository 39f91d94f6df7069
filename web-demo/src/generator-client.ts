/// <reference lib="dom" />
import type { Feed } from '../../shared/generator.ts';
import type { Fault, RuntimeState, WorkerRequest, WorkerResponse } from './protocol.ts';

type Pending = { resolve: (r: Float32Array | null) => void; reject: (e: Error) => void };
/** A request without its id, which the client assigns. */
type Request = WorkerRequest extends infer R ? (R extends WorkerRequest ? Omit<R, 'id'> : never) : never;

/**
 * The page's side of the inference worker (`worker.ts`): requests by id, answers as promises, and the
 * runtime state the worker reports with each answer.
 */
export class GeneratorClient {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #next = 0;
  /** The runtime after the last answer (null until the worker has started one). */
  runtime: RuntimeState | null = null;
  /** Called when an answer brings a different runtime state (a fallback happened). */
  onRuntime: (state: RuntimeState) => void = () => {};

  constructor(url: URL) {
    this.#worker = new Worker(url, { type: 'module' });
    this.#worker.addEventListener('message', (event: MessageEvent<WorkerResponse>) => this.#answer(event.data));
    this.#worker.addEventListener('error', (event) => {
      const err = new Error(`the inference worker failed: ${event.message || 'could not load'}`);
      for (const p of this.#pending.values()) p.reject(err);
      this.#pending.clear();
    });
  }

  #answer(res: WorkerResponse): void {
    const p = this.#pending.get(res.id);
    this.#pending.delete(res.id);
    if (res.runtime && JSON.stringify(res.runtime) !== JSON.stringify(this.runtime)) {
      this.runtime = res.runtime;
      this.onRuntime(res.runtime);
    }
    if (res.ok) p?.resolve(res.output);
    else p?.reject(new Error(res.error));
  }

  #send(req: Request): Promise<Float32Array | null> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ ...req, id });
    });
  }

  /** Starts the preferred runtime (falling back as needed); `fault` fakes a failure for testing. */
  async init(fault: Fault | null): Promise<RuntimeState> {
    await this.#send({ type: 'init', fault });
    return this.runtime!;
  }

  /** Runs the model file at `model` (relative to the page) on `feeds` and returns output `output`. */
  async run(model: string, feeds: readonly Feed[], output: string): Promise<Float32Array> {
    return (await this.#send({ type: 'run', model, feeds, output }))!;
  }
}
