import * as ort from 'onnxruntime-node';
import { cycleLabels, feedRecord, generatorFeeds, imageOutput, isConditional } from '../shared/generator.ts';
import type { LoadedModel } from './registry.ts';

interface Pending {
  readonly latents: Float32Array;
  readonly labels: Int32Array | null;
  readonly n: number;
  readonly resolve: (images: Float32Array) => void;
  readonly reject: (err: unknown) => void;
}

/**
 * Runs a generator for many requests at once. onnxruntime-node's `run()` is a synchronous native call:
 * concurrent requests would each block the event loop in turn. Requests that arrive while a batch runs
 * are queued and then run together in one `run()` (up to `maxImages` images), which amortises the
 * per-call cost and keeps the event loop free between batches.
 */
export class Batcher {
  private queue: Pending[] = [];
  private running = false;
  /** Batches run so far, and images in them (for /metrics and tests). */
  batches = 0;
  images = 0;

  /** `maxImages` caps a batch; 0 disables batching (one request per run(), for measurements). */
  constructor(
    private readonly model: LoadedModel,
    private readonly maxImages = 1024,
  ) {}

  /**
   * Generates images for `n` latents (row-major [n, latentDim]) and, for a conditional model, their digit
   * labels (default: 0-9 in turn); resolves to [n, h, w, 1] values.
   */
  generate(latents: Float32Array, n: number, labels: Int32Array | null = null): Promise<Float32Array> {
    return new Promise((resolve, reject) => {
      this.queue.push({ latents, labels, n, resolve, reject });
      if (!this.running) {
        this.running = true;
        // Let requests already parsed in this turn of the event loop join the first batch.
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch: Pending[] = [];
      let total = 0;
      while (this.queue.length > 0 && (batch.length === 0 || (this.maxImages > 0 && total + this.queue[0]!.n <= this.maxImages))) {
        const next = this.queue.shift()!;
        batch.push(next);
        total += next.n;
      }
      await this.runBatch(batch, total);
    }
    this.running = false;
  }

  private async runBatch(batch: Pending[], total: number): Promise<void> {
    const { manifest, session, height, width } = this.model;
    const latentDim = manifest.latentDim;
    const input = new Float32Array(total * latentDim);
    const conditional = isConditional(manifest);
    const labels = new Int32Array(conditional ? total : 0);
    let offset = 0;
    let row = 0;
    for (const p of batch) {
      input.set(p.latents, offset);
      offset += p.latents.length;
      if (conditional) labels.set(p.labels ?? cycleLabels(p.n), row);
      row += p.n;
    }
    try {
      const feeds = feedRecord(generatorFeeds(manifest, input, total, conditional ? labels : null), (f) => new ort.Tensor(f.type, f.data, [...f.dims]));
      const out = await session.run(feeds);
      const images = out[imageOutput(manifest)]!.data as Float32Array;
      const size = height * width;
      let start = 0;
      for (const p of batch) {
        p.resolve(images.slice(start * size, (start + p.n) * size));
        start += p.n;
      }
      this.batches++;
      this.images += total;
    } catch (err) {
      for (const p of batch) p.reject(err);
    }
  }
}
