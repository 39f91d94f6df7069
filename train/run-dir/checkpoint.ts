import * as tf from '@tensorflow/tfjs';
import { readFile } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { writeFileAtomic } from '../../lib/fs/atomic-write.ts';
import type { PrngState } from '../../shared/prng.ts';

/**
 * Checkpoints: one file, so that a save is a single atomic rename. Layout (format 2): the magic "GFCK",
 * uint32 format version, uint32 header length, uint32 CRC-32 of the header, the JSON header, then each
 * tensor group's float32 bytes in header order. The header records every group's byte length and
 * CRC-32, so a flipped byte anywhere is found on load and named by its section. Format 1 files (no
 * checksums, written before this layout) still load.
 */

const MAGIC = 'GFCK';
const FORMAT_VERSION = 2;

/** Named tensor groups in a checkpoint (model weights, optimizer slots). */
export type TensorGroups = Record<string, tf.Tensor[]>;

/** What a checkpoint holds besides tensors. */
export interface CheckpointMeta {
  readonly iteration: number;
  readonly rng: PrngState;
  /** Free-form run state (e.g. the wall time so far). */
  readonly extra: Record<string, unknown>;
}

interface Header extends CheckpointMeta {
  readonly version: number;
  readonly groups: Record<string, { shape: number[] }[]>;
  /** Format 2: per group, its bytes and their CRC-32. */
  readonly sections?: Record<string, { bytes: number; crc32: number }>;
}

function u32(n: number): Uint8Array {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

/** Saves tensors and metadata to `path` atomically and durably. */
export async function saveCheckpoint(path: string, meta: CheckpointMeta, groups: TensorGroups): Promise<void> {
  const data: Record<string, Buffer> = {};
  for (const [name, tensors] of Object.entries(groups)) {
    const parts: Uint8Array[] = [];
    for (const t of tensors) {
      if (t.dtype !== 'float32') throw new Error(`Checkpoint tensors must be float32, got ${t.dtype} (shape ${t.shape})`);
      const values = (await t.data()) as Float32Array;
      parts.push(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
    }
    data[name] = Buffer.concat(parts);
  }
  const header: Header = {
    version: FORMAT_VERSION,
    ...meta,
    groups: Object.fromEntries(Object.entries(groups).map(([k, ts]) => [k, ts.map((t) => ({ shape: t.shape }))])),
    sections: Object.fromEntries(Object.entries(data).map(([k, b]) => [k, { bytes: b.length, crc32: crc32(b) }])),
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  await writeFileAtomic(
    path,
    Buffer.concat([Buffer.from(MAGIC, 'ascii'), u32(FORMAT_VERSION), u32(json.length), u32(crc32(json)), json, ...Object.values(data)]),
  );
}

/** A loaded checkpoint; the tensors belong to the caller. */
export interface Checkpoint extends CheckpointMeta {
  readonly groups: TensorGroups;
}

/** The header and where the tensor bytes start, for either format. */
function readHeader(path: string, buf: Buffer): { header: Header; offset: number } {
  if (buf.length < 8 || buf.toString('ascii', 0, 4) !== MAGIC) throw new Error(`${path}: not a ganforge checkpoint (bad magic)`);
  const second = buf.readUInt32LE(4);
  // Format 1 had the header length where format 2 has the version; its JSON starts right after.
  if (second > FORMAT_VERSION) {
    if (8 + second > buf.length) throw new Error(`${path}: truncated checkpoint header (${buf.length} bytes, header of ${second})`);
    return { header: parseHeader(path, buf.subarray(8, 8 + second)), offset: 8 + second };
  }
  if (second !== FORMAT_VERSION) throw new Error(`${path}: checkpoint format ${second}, expected ${FORMAT_VERSION} (or 1)`);
  if (buf.length < 16) throw new Error(`${path}: truncated checkpoint (${buf.length} bytes)`);
  const length = buf.readUInt32LE(8);
  if (16 + length > buf.length) throw new Error(`${path}: truncated checkpoint header (${buf.length} bytes, header of ${length})`);
  const json = buf.subarray(16, 16 + length);
  const expected = buf.readUInt32LE(12);
  if (crc32(json) !== expected) throw new Error(`${path}: section 'header' is corrupt (CRC-32 ${crc32(json)}, recorded ${expected})`);
  return { header: parseHeader(path, json), offset: 16 + length };
}

function parseHeader(path: string, json: Buffer): Header {
  try {
    return JSON.parse(json.toString('utf8')) as Header;
  } catch {
    throw new Error(`${path}: corrupt checkpoint header (not JSON)`);
  }
}

/** Loads a checkpoint, checking its structure and (format 2) every section's checksum; errors name the file and the section. */
export async function loadCheckpoint(path: string): Promise<Checkpoint> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    throw new Error(`${path}: cannot read checkpoint (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const { header, offset: start } = readHeader(path, buf);
  const byteLength = (specs: { shape: number[] }[]): number => specs.reduce((s, { shape }) => s + 4 * shape.reduce((a, b) => a * b, 1), 0);
  const total = Object.values(header.groups).reduce((s, specs) => s + byteLength(specs), 0);
  if (start + total !== buf.length) throw new Error(`${path}: checkpoint has ${buf.length - start} tensor bytes, header describes ${total}`);
  let offset = start;
  const groups: TensorGroups = {};
  try {
    for (const [name, specs] of Object.entries(header.groups)) {
      const bytes = byteLength(specs);
      const section = header.sections?.[name];
      if (header.sections) {
        if (!section || section.bytes !== bytes) throw new Error(`${path}: section '${name}' is not described by the header`);
        const actual = crc32(buf.subarray(offset, offset + bytes));
        if (actual !== section.crc32) throw new Error(`${path}: section '${name}' is corrupt (CRC-32 ${actual}, recorded ${section.crc32})`);
      }
      groups[name] = specs.map(({ shape }) => {
        const size = shape.reduce((a, b) => a * b, 1);
        // Copy: the file buffer's offset may not be 4-byte aligned.
        const values = new Float32Array(buf.buffer.slice(buf.byteOffset + offset, buf.byteOffset + offset + 4 * size));
        offset += 4 * size;
        return tf.tensor(values, shape, 'float32');
      });
    }
  } catch (err) {
    tf.dispose(Object.values(groups).flat());
    throw err;
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
