import * as ort from 'onnxruntime-node';
import type { MessagePort } from 'node:worker_threads';
import { configureSharp } from '../render.ts';
import type { JobRequest, JobResponse, WorkerInit, WorkerReady } from './protocol.ts';
import { type JobModel, runJob } from './run-job.ts';

/**
 * A generator thread: creates its own onnxruntime sessions, then answers jobs on `port` one at a time
 * (the pool sends a thread one job at a time). Started by `bin/generator-thread.ts`.
 */
export async function serveGeneratorThread(port: MessagePort, init: WorkerInit): Promise<void> {
  configureSharp();
  ort.env.logLevel = 'fatal';
  const models = new Map<string, JobModel>();
  try {
    for (const m of init.models) {
      models.set(m.name, {
        manifest: m.manifest,
        session: await ort.InferenceSession.create(m.bytes, init.sessionOptions as ort.InferenceSession.SessionOptions),
      });
    }
  } catch (err) {
    port.postMessage({ ready: false, error: (err as Error).message } satisfies WorkerReady);
    return;
  }
  port.on('message', (job: JobRequest) => {
    const model = models.get(job.model);
    const done = (response: JobResponse, transfer: ArrayBuffer[] = []): void => port.postMessage(response, transfer);
    if (!model) return done({ id: job.id, ok: false, error: `no model '${job.model}' in this generator thread` });
    runJob(model, job.items, () => port.postMessage({ id: job.id, inferred: true } satisfies JobResponse)).then(
      (bodies) =>
        done(
          { id: job.id, ok: true, bodies },
          bodies.map((b) => b.buffer as ArrayBuffer),
        ),
      (err: Error) => done({ id: job.id, ok: false, error: err.message }),
    );
  });
  port.postMessage({ ready: true } satisfies WorkerReady);
}
