import * as ort from 'onnxruntime-node';
import { cycleLabels, feedRecord, generatorFeeds, imageOutput, imageSize, isConditional } from '../../shared/generator.ts';
import type { ModelManifest } from '../../shared/manifest.ts';
import { renderAnimation, renderGridPng } from '../render.ts';
import type { Body, JobItem } from './protocol.ts';

/** A model as a job needs it: its manifest and an onnxruntime session. */
export interface JobModel {
  readonly manifest: ModelManifest;
  readonly session: ort.InferenceSession;
}

/**
 * Runs one job: every item's latents in one onnxruntime `run()`, then each item's images rendered to
 * its body (a PNG grid, or an animated GIF or WebP). The same code runs in a generator thread and,
 * with no threads, on the main thread.
 */
export async function runJob(model: JobModel, items: readonly JobItem[]): Promise<Body[]> {
  const { manifest, session } = model;
  const total = items.reduce((s, it) => s + it.n, 0);
  const latents = new Float32Array(total * manifest.latentDim);
  const conditional = isConditional(manifest);
  const labels = conditional ? new Int32Array(total) : null;
  let row = 0;
  for (const it of items) {
    latents.set(it.latents, row * manifest.latentDim);
    labels?.set(it.labels ?? cycleLabels(it.n), row);
    row += it.n;
  }
  const feeds = feedRecord(generatorFeeds(manifest, latents, total, labels), (f) => new ort.Tensor(f.type, f.data, [...f.dims]));
  const out = await session.run(feeds);
  const images = out[imageOutput(manifest)]!.data as Float32Array;
  const { height, width } = imageSize(manifest);
  const size = height * width;
  const bodies: Body[] = [];
  let start = 0;
  for (const it of items) {
    const pixels = images.subarray(start * size, (start + it.n) * size);
    start += it.n;
    const r = it.render;
    const body =
      r.kind === 'grid'
        ? await renderGridPng(pixels, it.n, height, width, { cols: r.cols, scale: r.scale, padding: r.padding })
        : await renderAnimation(pixels, it.n, height, width, { scale: r.scale, delay: r.delay, format: r.format });
    bodies.push(new Uint8Array(body.buffer as ArrayBuffer, body.byteOffset, body.byteLength));
  }
  return bodies;
}
