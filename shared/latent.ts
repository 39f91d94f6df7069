/**
 * Latent-space walks, platform-free: the server's /interpolate and the web demo's animation use this one
 * implementation, so they show the same frames.
 */
import { expected } from './expected.ts';
import { sampleLatents } from './prng.ts';

/**
 * Spherical interpolation between two latents (Shoemake's slerp): follows the great circle between
 * their directions, so intermediate points keep the norm typical of Gaussian samples instead of
 * shrinking towards the origin as a straight line does. Falls back to linear interpolation for
 * (anti)parallel vectors.
 */
export function slerp(a: Float32Array, b: Float32Array, t: number, out = new Float32Array(a.length)): Float32Array {
  if (a.length !== b.length) throw new RangeError(`Latents differ in size: ${a.length} and ${b.length}`);
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  const cos = Math.max(-1, Math.min(1, dot / Math.sqrt(na * nb)));
  const omega = Math.acos(cos);
  const sin = Math.sin(omega);
  const [wa, wb] = sin < 1e-6 ? [1 - t, t] : [Math.sin((1 - t) * omega) / sin, Math.sin(t * omega) / sin];
  for (let i = 0; i < a.length; i++) out[i] = wa * a[i]! + wb * b[i]!;
  return out;
}

/** `steps` latents walking from the first latent of seed `from` to that of seed `to` (both included). */
export function latentWalk(from: number, to: number, steps: number, latentDim: number): Float32Array {
  if (!Number.isInteger(steps) || steps < 2) throw expected('integer >= 2', 'steps', steps);
  const a = sampleLatents(from, 1, latentDim);
  const b = sampleLatents(to, 1, latentDim);
  const out = new Float32Array(steps * latentDim);
  for (let i = 0; i < steps; i++) slerp(a, b, i / (steps - 1), out.subarray(i * latentDim, (i + 1) * latentDim));
  return out;
}
