import * as tf from '@tensorflow/tfjs';
import { readFile } from 'node:fs/promises';
import type { PrngState } from '../../shared/prng.ts';
import { writeFileAtomic } from '../../lib/fs/atomic-write.ts';

/**
 * Checkpoints: one file, so that a save is a single atomic rename. Layout: the magic "GFCK", a uint32
 * header length, a JSON header, then every tensor's float32 bytes in header order.
 */

const MAGIC = 'GFCK';
const FORMAT_VERSION = 1;

/** Named tensor groups in a checkpoint (model weights, optimizer slots). */
export type TensorGroups = Record<string, tf.Tensor[]>;

/** What a checkpoint holds besides tensors. */
export interface CheckpointMeta {
  readonly iteration: number;
  readonly rng: PrngState;
  /** Free-form run state (e.g. the config hash, the next reset). */
  readonly extra: Record<string, unknown>;
}

interface Header extends CheckpointMeta {
  readonly version: number;
  readonly groups: Record<string, { shape: number[] }[]>;
}

/** Saves tensors and metadata to `path` atomically. */
export async function saveCheckpoint(path: string, meta: CheckpointMeta, groups: TensorGroups): Promise<void> {
  const header: Header = {
    version: FORMAT_VERSION,
    ...meta,
    groups: Object.fromEntries(Object.entries(groups).map(([k, ts]) => [k, ts.map((t) => ({ shape: t.shape }))])),
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const chunks: Uint8Array[] = [Buffer.from(MAGIC, 'ascii'), u32(json.length), json];
  for (const tensors of Object.values(groups)) {
    for (const t of tensors) {
      if (t.dtype !== 'float32') throw new Error(`Checkpoint tensors must be float32, got ${t.dtype} (shape ${t.shape})`);
      const data = (await t.data()) as Float32Array;
      chunks.push(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    }
  }
  await writeFileAtomic(path, Buffer.concat(chunks));
}

function u32(n: number): Uint8Array {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

/** A loaded checkpoint; the tensors belong to the caller. */
export interface Checkpoint extends CheckpointMeta {
  readonly groups: TensorGroups;
}

/** Loads a checkpoint, checking its structure; errors name the file. */
export async function loadCheckpoint(path: string): Promise<Checkpoint> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    throw new Error(`${path}: cannot read checkpoint (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (buf.length < 8 || buf.toString('ascii', 0, 4) !== MAGIC) throw new Error(`${path}: not a ganforge checkpoint (bad magic)`);
  const headerLength = buf.readUInt32LE(4);
  if (8 + headerLength > buf.length) throw new Error(`${path}: truncated checkpoint header`);
  let header: Header;
  try {
    header = JSON.parse(buf.toString('utf8', 8, 8 + headerLength)) as Header;
  } catch {
    throw new Error(`${path}: corrupt checkpoint header`);
  }
  if (header.version !== FORMAT_VERSION) throw new Error(`${path}: checkpoint format ${header.version}, expected ${FORMAT_VERSION}`);
  let offset = 8 + headerLength;
  const groups: TensorGroups = {};
  const total = Object.values(header.groups)
    .flat()
    .reduce((s, { shape }) => s + 4 * shape.reduce((a, b) => a * b, 1), 0);
  if (offset + total !== buf.length) {
    throw new Error(`${path}: checkpoint has ${buf.length - offset} tensor bytes, header describes ${total}`);
  }
  for (const [name, specs] of Object.entries(header.groups)) {
    groups[name] = specs.map(({ shape }) => {
      const size = shape.reduce((a, b) => a * b, 1);
      // Copy: the file buffer's offset may not be 4-byte aligned.
      const values = new Float32Array(buf.buffer.slice(buf.byteOffset + offset, buf.byteOffset + offset + 4 * size));
      offset += 4 * size;
      return tf.tensor(values, shape, 'float32');
    });
  }
  return { iteration: header.iteration, rng: header.rng, extra: header.extra, groups };
}

/** Adam's private bias-correction accumulators (beta^t), which `setWeights` recomputes with `pow`. */
interface AdamInternals {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
}

/**
 * The full state of an Adam optimizer: its slots and its bias-correction powers. tfjs' own
 * `setWeights` recomputes beta^t with `pow`, which differs in the last bits from the product the
 * optimizer accumulates, so the powers are saved too and a resumed run continues bit for bit.
 * The first tensor (the step count, as float32) is new and belongs to the caller; the rest are the
 * optimizer's own.
 */
export async function adamState(optimizer: tf.AdamOptimizer): Promise<tf.Tensor[]> {
  const [iter, ...slots] = await optimizer.getWeights();
  const count = tf.tidy(() => tf.cast(iter!.tensor, 'float32'));
  iter!.tensor.dispose();
  const { accBeta1, accBeta2 } = optimizer as unknown as AdamInternals;
  return [count, ...slots.map((w) => w.tensor), accBeta1, accBeta2];
}

/** Restores what {@link adamState} saved into a fresh optimizer of the same configuration. */
export async function restoreAdam(optimizer: tf.AdamOptimizer, state: tf.Tensor[]): Promise<void> {
  if (state.length < 3 || (state.length - 3) % 2 !== 0) throw new Error(`Adam state has ${state.length} tensors, expected an odd count >= 3`);
  const slots = state.slice(0, -2);
  await optimizer.setWeights(slots.map((tensor, i) => ({ name: i === 0 ? 'iter' : `slot${i}`, tensor })));
  const { accBeta1, accBeta2 } = optimizer as unknown as AdamInternals;
  accBeta1.assign(state[state.length - 2]!);
  accBeta2.assign(state[state.length - 1]!);
}

/** Copies saved weights into a model, checking count and shapes. */
export function restoreWeights(model: tf.LayersModel, weights: tf.Tensor[], what: string): void {
  const own = model.getWeights();
  if (own.length !== weights.length) throw new Error(`${what}: checkpoint has ${weights.length} weight tensors, model has ${own.length}`);
  own.forEach((w, i) => {
    const saved = weights[i]!;
    if (!tf.util.arraysEqual(w.shape, saved.shape)) {
      throw new Error(`${what}: weight ${i} has shape [${saved.shape}] in the checkpoint, [${w.shape}] in the model`);
    }
  });
  model.setWeights(weights);
}
