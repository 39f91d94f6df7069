import * as tf from '@tensorflow/tfjs';
import { constants } from 'node:fs';
import { open, readFile, realpath, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { writeFileAtomic } from './atomic-write.ts';
import { expected } from './expected.ts';
import { registerKerasLayers } from './keras-layers.ts';
import { normaliseTopology } from './keras-topology.ts';

/**
 * Saves a layers model in tfjs' own format (`model.json` + `weights.bin`, as `model.save('file://')`
 * writes it) without tfjs-node: weights first, then the manifest, each atomically, so a reader that
 * finds `model.json` also finds complete weights.
 */
export async function saveLayersModel(model: tf.LayersModel, dir: string): Promise<void> {
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weights = new Uint8Array(artifacts.weightData as ArrayBuffer);
      await writeFileAtomic(join(dir, 'weights.bin'), weights);
      const manifest = {
        modelTopology: artifacts.modelTopology,
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{ paths: ['./weights.bin'], weights: artifacts.weightSpecs }],
      };
      await writeFileAtomic(join(dir, 'model.json'), JSON.stringify(manifest));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    }),
  );
}

/** The most parameters a model may declare unless told otherwise (1 GB of float32). */
export const DEFAULT_MAX_PARAMETERS = 250_000_000;
/** A layers-model topology is JSON text well below this; larger files are refused before parsing. */
export const MAX_MODEL_JSON_BYTES = 64 * 1024 * 1024;

/** Bytes per stored value: plain dtypes, and the dtypes of tfjs' quantized weights. */
const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1 };
const QUANTIZED_BYTES: Record<string, number> = { uint8: 1, uint16: 2, float16: 2 };

/** Options for reading and loading a layers model. */
export interface LoadOptions {
  /** Refuse models whose topology or manifest declares more parameters than this. */
  readonly maxParameters?: number;
}

interface WeightEntry {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype?: string; scale?: number; min?: number; original_dtype?: string };
}

/** The element count of a shape. */
const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/**
 * Checks one weights-manifest entry and returns its byte length: a known dtype, a valid shape, and for
 * quantized weights a known quantization dtype with the scale and min tfjs needs.
 */
function entryBytes(source: string, w: WeightEntry): number {
  if (!w || typeof w.name !== 'string') throw new Error(`${source}: a weightsManifest entry has no name`);
  if (!Array.isArray(w.shape) || !w.shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new Error(`${source}: weight '${w.name}' has an invalid shape ${JSON.stringify(w.shape)}`);
  }
  if (DTYPE_BYTES[w.dtype] === undefined) {
    throw new Error(`${source}: weight '${w.name}' has unknown dtype '${w.dtype}' (expected ${Object.keys(DTYPE_BYTES).join(', ')})`);
  }
  const q = w.quantization;
  if (q === undefined || q === null) return DTYPE_BYTES[w.dtype]! * size(w.shape);
  const bytes = QUANTIZED_BYTES[String(q.dtype)];
  if (bytes === undefined)
    throw expected(Object.keys(QUANTIZED_BYTES).join(', '), `the quantization dtype of weight '${w.name}' in ${source}`, String(q.dtype));
  if (q.dtype === 'float16' && w.dtype !== 'float32') throw expected('float32', `the dtype of float16-quantized weight '${w.name}' in ${source}`, w.dtype);
  if (q.dtype !== 'float16' && (!Number.isFinite(q.scale) || !Number.isFinite(q.min))) {
    throw new Error(`${source}: weight '${w.name}' is quantized to ${q.dtype} but lacks a finite scale and min`);
  }
  if (w.dtype === 'bool') throw expected('float32 or int32', `the dtype of quantized weight '${w.name}' in ${source}`, w.dtype);
  return bytes * size(w.shape);
}

function checkParameterCount(source: string, count: number, what: string, options: LoadOptions): void {
  const max = options.maxParameters ?? DEFAULT_MAX_PARAMETERS;
  if (count > max) {
    throw new Error(`${source}: ${what} declares ${count} parameters, more than the ceiling of ${max} (raise it with maxParameters / --max-parameters)`);
  }
}

/** The weight entries of a manifest with their byte sizes, checked; throws naming the first problem. */
function checkManifest(source: string, manifest: unknown, options: LoadOptions): { groups: { paths: string[]; bytes: number }[]; specs: WeightEntry[] } {
  if (manifest === undefined) return { groups: [], specs: [] };
  if (!Array.isArray(manifest)) throw new Error(`${source}: weightsManifest is not an array`);
  const groups: { paths: string[]; bytes: number }[] = [];
  const specs: WeightEntry[] = [];
  let parameters = 0;
  manifest.forEach((group: { paths?: unknown; weights?: unknown }, g) => {
    if (!Array.isArray(group?.paths) || !Array.isArray(group?.weights)) throw new Error(`${source}: a weightsManifest group lacks paths or weights`);
    if (!group.paths.every((p): p is string => typeof p === 'string')) throw new Error(`${source}: weightsManifest[${g}].paths holds a non-string`);
    let bytes = 0;
    for (const w of group.weights as WeightEntry[]) {
      bytes += entryBytes(source, w);
      parameters += size(w.shape);
      specs.push(w);
    }
    groups.push({ paths: group.paths, bytes });
  });
  checkParameterCount(source, parameters, 'its weights manifest', options);
  return { groups, specs };
}

/** Why a manifest path may not be read, or null when it is a plain relative path. */
function pathProblem(p: string): string | null {
  if (p.length === 0) return 'an empty path';
  if (p.includes('\0')) return 'a NUL byte';
  if (/^[a-z][a-z0-9+.-]*:/i.test(p)) return 'a URL or drive prefix';
  if (isAbsolute(p) || p.startsWith('/') || p.startsWith('\\')) return 'an absolute path';
  let decoded = p;
  try {
    decoded = decodeURIComponent(p);
  } catch {
    return 'malformed %-escapes';
  }
  if ([p, decoded].some((v) => v.split(/[\\/]/).includes('..'))) return "a '..' segment";
  return null;
}

const inside = (folder: string, file: string): boolean => {
  const rel = relative(folder, file);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) && !rel.split(sep).includes('..');
};

/**
 * Reads a tfjs layers model saved as `model.json` + weight files, checking everything before any weight
 * byte is read: the JSON (size, shape, format), every manifest entry (dtype, shape, quantization), the
 * parameter ceiling, and every weight path (relative, inside the model's folder after resolving
 * symlinks, a regular file, the files of each group exactly as long as the manifest says). Errors name
 * the file and the reason.
 */
export async function readLayersModelArtifacts(modelJsonPath: string, options: LoadOptions = {}): Promise<tf.io.ModelArtifacts> {
  const jsonStat = await stat(modelJsonPath).catch((err: NodeJS.ErrnoException) => {
    throw new Error(`${modelJsonPath}: cannot read (${err.code ?? err.message})`);
  });
  if (!jsonStat.isFile()) throw new Error(`${modelJsonPath}: not a regular file`);
  if (jsonStat.size > MAX_MODEL_JSON_BYTES)
    throw new Error(`${modelJsonPath}: ${jsonStat.size} bytes, more than a layers model.json can need (${MAX_MODEL_JSON_BYTES})`);
  let json: { modelTopology?: unknown; weightsManifest?: unknown; format?: unknown; generatedBy?: string; convertedBy?: string | null };
  try {
    json = JSON.parse(await readFile(modelJsonPath, 'utf8'));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`${modelJsonPath}: ${e.code ? `cannot read (${e.code})` : `invalid JSON (${e.message})`}`);
  }
  if (!json || typeof json !== 'object' || !json.modelTopology) throw new Error(`${modelJsonPath}: no modelTopology: not a tfjs layers model.json`);
  if (json.format !== undefined && json.format !== null && json.format !== 'layers-model') {
    throw new Error(`${modelJsonPath}: format '${String(json.format)}' is not a layers model (expected 'layers-model')`);
  }
  const { groups, specs } = checkManifest(modelJsonPath, json.weightsManifest, options);
  const folder = await realpath(dirname(resolve(modelJsonPath)));
  const files: { path: string; shown: string }[][] = [];
  for (const [g, group] of groups.entries()) {
    const list: { path: string; shown: string }[] = [];
    let total = 0;
    for (const [i, p] of group.paths.entries()) {
      const where = `weightsManifest[${g}].paths[${i}] in ${modelJsonPath}`;
      const problem = pathProblem(p);
      if (problem) throw expected(`a relative path inside the model's folder (this one has ${problem})`, where, p);
      const shown = resolve(dirname(modelJsonPath), p);
      const real = await realpath(join(folder, p)).catch((err: NodeJS.ErrnoException) => {
        throw new Error(`${shown}: cannot read weight file listed in ${modelJsonPath} (${err.code ?? err.message})`);
      });
      if (!inside(folder, real)) throw expected(`a file inside the model's folder ${folder}`, where, `${p} (resolves to ${real})`);
      const s = await stat(real);
      if (!s.isFile()) throw new Error(`${shown}: listed in ${modelJsonPath} as a weight file but it is not a regular file`);
      total += s.size;
      list.push({ path: real, shown });
    }
    if (total !== group.bytes) {
      throw new Error(`${modelJsonPath}: weight files ${group.paths.join(', ')} hold ${total} bytes but the manifest describes ${group.bytes}`);
    }
    files.push(list);
  }
  // Only now read: each file opened without following a symlink swapped in since, and read in full.
  const weightData = new Uint8Array(groups.reduce((s, g) => s + g.bytes, 0));
  let offset = 0;
  for (const list of files) {
    for (const { path, shown } of list) {
      const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        const s = await handle.stat();
        if (!s.isFile() || offset + s.size > weightData.length) throw new Error(`${shown}: changed while the model was read`);
        const { bytesRead } = await handle.read(weightData, offset, s.size, 0);
        if (bytesRead !== s.size) throw new Error(`${shown}: changed while the model was read`);
        offset += s.size;
      } finally {
        await handle.close();
      }
    }
  }
  return {
    modelTopology: json.modelTopology as object,
    format: 'layers-model',
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy ?? undefined,
    weightSpecs: specs as tf.io.WeightsManifestEntry[],
    weightData: weightData.buffer,
  };
}

/** A loaded model and what loading it noted (Keras options mapped, dtype policies). */
export interface LoadedModel {
  readonly model: tf.LayersModel;
  readonly notes: string[];
  /** Parameters the topology declares (counted before any weight was allocated). */
  readonly parameters: number;
}

type AddWeight = (this: tf.layers.Layer, name: string, shape: number[], ...rest: unknown[]) => tf.LayerVariable;

/**
 * Counts the parameters a topology declares by building it once with every weight replaced by an empty
 * stand-in: tfjs' own shape logic, no weight memory. Throws as soon as the count passes the ceiling.
 * Synchronous inside (modelFromJSON without weights deserialises before its first await), so no other
 * model building can interleave with the patched addWeight.
 */
async function countParameters(source: string, config: object, options: LoadOptions): Promise<number> {
  const proto = tf.layers.Layer.prototype as unknown as { addWeight: AddWeight };
  const original = proto.addWeight;
  const max = options.maxParameters ?? DEFAULT_MAX_PARAMETERS;
  let count = 0;
  const zeros = tf.initializers.zeros();
  proto.addWeight = function (this: tf.layers.Layer, name: string, shape: number[], dtype: unknown, _init: unknown, ...rest: unknown[]) {
    count += size(shape);
    if (count > max) {
      throw new Error(
        `${source}: the topology declares more than ${max} parameters (layer '${this.name}' adds weight '${name}' of shape [${shape.map(String)}]); raise the ceiling with maxParameters / --max-parameters`,
      );
    }
    return original.call(
      this,
      name,
      shape.map(() => 0),
      dtype,
      zeros,
      ...rest,
    );
  };
  let pending: Promise<tf.LayersModel>;
  try {
    pending = tf.models.modelFromJSON({ modelTopology: config as tf.io.ModelJSON['modelTopology'] } as tf.io.ModelJSON);
  } finally {
    proto.addWeight = original;
  }
  const dry = await pending.catch((err: Error) => {
    throw new Error(`${source}: ${err.message}`);
  });
  dry.dispose();
  return count;
}

/**
 * Loads layers-model artifacts (from {@link readLayersModelArtifacts} or in memory): the topology
 * normalised (keras-topology.ts), its parameters counted against the ceiling before anything is
 * allocated, the weight data checked against the specs, then tfjs' own loader (which dequantizes
 * uint8, uint16 and float16 weights and matches weights by name).
 */
export async function loadLayersModelArtifacts(artifacts: tf.io.ModelArtifacts, source: string, options: LoadOptions = {}): Promise<LoadedModel> {
  registerKerasLayers();
  const specs = (artifacts.weightSpecs ?? []) as unknown as WeightEntry[];
  const expectedBytes = specs.reduce((s, w) => s + entryBytes(source, w), 0);
  checkParameterCount(
    source,
    specs.reduce((s, w) => s + size(w.shape), 0),
    'its weight specs',
    options,
  );
  const data = artifacts.weightData;
  const actual = data === undefined ? 0 : Array.isArray(data) ? data.reduce((s, b) => s + b.byteLength, 0) : data.byteLength;
  if (actual !== expectedBytes) throw new Error(`${source}: the weight data holds ${actual} bytes but the weight specs describe ${expectedBytes}`);
  let normalised: { config: object; notes: string[] };
  try {
    normalised = normaliseTopology(artifacts.modelTopology);
  } catch (err) {
    throw new Error(`${source}: ${(err as Error).message}`);
  }
  const parameters = await countParameters(source, normalised.config, options);
  try {
    const model = await tf.loadLayersModel(
      tf.io.fromMemory({ modelTopology: normalised.config, weightSpecs: artifacts.weightSpecs ?? [], weightData: data ?? new ArrayBuffer(0) }),
    );
    return { model, notes: normalised.notes, parameters };
  } catch (err) {
    throw new Error(`${source}: ${(err as Error).message}`);
  }
}

/**
 * Loads a tfjs layers model saved as `model.json` + weight files with every check of
 * {@link readLayersModelArtifacts} and {@link loadLayersModelArtifacts}, so a broken or hostile file
 * gets an error naming it and what is wrong instead of tfjs' generic failures.
 */
export async function loadLayersModelFile(modelJsonPath: string, options: LoadOptions = {}): Promise<tf.LayersModel> {
  return (await loadLayersModelFileWithNotes(modelJsonPath, options)).model;
}

/** {@link loadLayersModelFile} with the loader's notes and parameter count. */
export async function loadLayersModelFileWithNotes(modelJsonPath: string, options: LoadOptions = {}): Promise<LoadedModel> {
  const artifacts = await readLayersModelArtifacts(modelJsonPath, options);
  return loadLayersModelArtifacts(artifacts, modelJsonPath, options);
}
