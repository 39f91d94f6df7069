import * as ort from 'onnxruntime-node';
import { cycleLabels, feedRecord, generatorFeeds, imageOutput, imageSize, isConditional } from '../../shared/generator.ts';
import type { ModelManifest } from '../../shared/manifest.ts';
import { sampleLatents } from '../../shared/prng.ts';
import { renderAnimation, renderGridPng } from '../render.ts';
import type { Body, JobItem } from './protocol.ts';

/** A model as a job needs it: its manifest and an onnxruntime session. */
export interface JobModel {
  readonly manifest: ModelManifest;
  readonly session: ort.InferenceSession;
}

/**
 * Every item's latents (and labels) in one onnxruntime `run()`: the images of all items in turn, [n, h, w, 1]
 * in [-1, 1]. `onInferred` is called when the model has run (or failed).
 */
export async function inferImages(model: JobModel, items: readonly JobItem[], onInferred: () => void = () => {}): Promise<Float32Array> {
  const { manifest, session } = model;
  const total = items.reduce((s, it) => s + it.n, 0);
  const latents = new Float32Array(total * manifest.latentDim);
  const conditional = isConditional(manifest);
  const labels = conditional ? new Int32Array(total) : null;
  let row = 0;
  for (const it of items) {
    latents.set(it.latents instanceof Float32Array ? it.latents : sampleLatents(it.latents.seed, it.n, manifest.latentDim), row * manifest.latentDim);
    labels?.set(it.labels ?? cycleLabels(it.n), row);
    row += it.n;
  }
  const feeds = feedRecord(generatorFeeds(manifest, latents, total, labels), (f) => new ort.Tensor(f.type, f.data, [...f.dims]));
  try {
    const out = await session.run(feeds);
    return out[imageOutput(manifest)]!.data as Float32Array;
  } finally {
    onInferred();
  }
}

/**
 * Runs one job: every item's latents in one onnxruntime `run()`, then each item's images rendered to
 * its body (a PNG grid, or an animated GIF or WebP): small unscaled grids synchronously on this thread by
 * the lean PNG encoder (`serve/png.ts`: a few µs of CPU per digit, like the grid layout), the others all
 * at once on libuv's threads by sharp. `onInferred` is called when the model has run: the next job's
 * inference may start while sharp encodes these bodies (once the lean encodes are done).
 * The same code runs in a generator thread and, with no threads, on the main thread.
 */
export async function runJob(model: JobModel, items: readonly JobItem[], onInferred: () => void = () => {}): Promise<Body[]> {
  const images = await inferImages(model, items, onInferred);
  const { height, width } = imageSize(model.manifest);
  const size = height * width;
  let start = 0;
  const encoded = items.map((it) => {
    const pixels = images.subarray(start * size, (start + it.n) * size);
    start += it.n;
    const r = it.render;
    return r.kind === 'grid'
      ? renderGridPng(pixels, it.n, height, width, { cols: r.cols, scale: r.scale, padding: r.padding })
      : renderAnimation(pixels, it.n, height, width, { scale: r.scale, delay: r.delay, format: r.format });
  });
  return (await Promise.all(encoded)).map((b) => new Uint8Array(b.buffer as ArrayBuffer, b.byteOffset, b.byteLength));
}
