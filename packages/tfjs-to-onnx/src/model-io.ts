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
/** Each string of a string weight is stored as a uint32 byte length then its bytes. */
const STRING_LENGTH_BYTES = 4;

/** Options for reading and loading a layers model. */
export interface LoadOptions {
  /** Refuse models whose topology or manifest declares more parameters than this. */
  readonly maxParameters?: number;
}

/** One entry of a weights manifest, as model.json holds it. */
export interface WeightEntry {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype?: string; scale?: number; min?: number; original_dtype?: string };
}

/** The element count of a shape. */
const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/**
 * Checks one weights-manifest entry and returns its byte length: a known dtype, a valid shape, and for
 * quantized weights a known quantization dtype with the scale and min tfjs needs. A string weight
 * (graph models only) returns the least it can take, one length word per string.
 */
function entryBytes(source: string, w: WeightEntry, strings = false): number {
  if (!w || typeof w.name !== 'string') throw new Error(`${source}: a weightsManifest entry has no name`);
  if (!Array.isArray(w.shape) || !w.shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new Error(`${source}: weight '${w.name}' has an invalid shape ${JSON.stringify(w.shape)}`);
  }
  if (strings && w.dtype === 'string' && (w.quantization === undefined || w.quantization === null)) return STRING_LENGTH_BYTES * size(w.shape);
  if (DTYPE_BYTES[w.dtype] === undefined) {
    const known = [...Object.keys(DTYPE_BYTES), ...(strings ? ['string'] : [])];
    throw new Error(`${source}: weight '${w.name}' has unknown dtype '${w.dtype}' (expected ${known.join(', ')})`);
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

/** One weights-manifest group: its files, the bytes its entries take (the least, with strings) and its entries. */
interface ManifestGroup {
  readonly paths: string[];
  readonly bytes: number;
  readonly specs: WeightEntry[];
  /** Holds string weights, whose byte length is only known once their length words are read. */
  readonly strings: boolean;
}

/** The weight entries of a manifest with their byte sizes, checked; throws naming the first problem. */
function checkManifest(source: string, manifest: unknown, options: LoadOptions, strings = false): { groups: ManifestGroup[]; specs: WeightEntry[] } {
  if (manifest === undefined) return { groups: [], specs: [] };
  if (!Array.isArray(manifest)) throw new Error(`${source}: weightsManifest is not an array`);
  const groups: ManifestGroup[] = [];
  const specs: WeightEntry[] = [];
  let parameters = 0;
  manifest.forEach((group: { paths?: unknown; weights?: unknown }, g) => {
    if (!Array.isArray(group?.paths) || !Array.isArray(group?.weights)) throw new Error(`${source}: a weightsManifest group lacks paths or weights`);
    if (!group.paths.every((p): p is string => typeof p === 'string')) throw new Error(`${source}: weightsManifest[${g}].paths holds a non-string`);
    let bytes = 0;
    let hasStrings = false;
    for (const w of group.weights as WeightEntry[]) {
      bytes += entryBytes(source, w, strings);
      if (w.dtype === 'string') hasStrings = true;
      parameters += size(w.shape);
      specs.push(w);
    }
    groups.push({ paths: group.paths, bytes, specs: group.weights as WeightEntry[], strings: hasStrings });
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

/** What model.json holds, before any check of its topology. */
interface ModelJson {
  modelTopology?: unknown;
  weightsManifest?: unknown;
  format?: unknown;
  generatedBy?: string;
  convertedBy?: string | null;
  signature?: unknown;
  userDefinedMetadata?: unknown;
  modelInitializer?: unknown;
  initializerSignature?: unknown;
}

/** Reads and parses model.json: a regular file of at most {@link MAX_MODEL_JSON_BYTES}, valid JSON, an object. */
async function readModelJson(modelJsonPath: string, kind: string): Promise<ModelJson> {
  const jsonStat = await stat(modelJsonPath).catch((err: NodeJS.ErrnoException) => {
    throw new Error(`${modelJsonPath}: cannot read (${err.code ?? err.message})`);
  });
  if (!jsonStat.isFile()) throw new Error(`${modelJsonPath}: not a regular file`);
  if (jsonStat.size > MAX_MODEL_JSON_BYTES)
    throw new Error(`${modelJsonPath}: ${jsonStat.size} bytes, more than ${kind} model.json can need (${MAX_MODEL_JSON_BYTES})`);
  let json: ModelJson;
  try {
    json = JSON.parse(await readFile(modelJsonPath, 'utf8'));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`${modelJsonPath}: ${e.code ? `cannot read (${e.code})` : `invalid JSON (${e.message})`}`);
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new Error(`${modelJsonPath}: not a JSON object`);
  return json;
}

/** The byte length of a run of weights in `data` from `offset` (string weights read their length words), or -1 past the end. */
function runBytes(specs: readonly WeightEntry[], data: Uint8Array, offset: number): number {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let at = offset;
  for (const w of specs) {
    if (w.dtype !== 'string' || w.quantization) {
      at += entryBytes('', w, true);
      continue;
    }
    for (let i = size(w.shape); i > 0; i--) {
      if (at + STRING_LENGTH_BYTES > data.length) return -1;
      at += STRING_LENGTH_BYTES + view.getUint32(at, true);
    }
  }
  return at > data.length ? -1 : at - offset;
}

/**
 * Reads the weight files of a manifest, checking everything before any weight byte is read: every
 * manifest entry (dtype, shape, quantization), the parameter ceiling, and every weight path (relative,
 * inside the model's folder after resolving symlinks, a regular file, the files of each group exactly
 * as long as the manifest says; with string weights at least that long, and exactly as long as their
 * length words say once read). Errors name the file and the reason.
 */
async function readWeightFiles(
  modelJsonPath: string,
  manifest: unknown,
  options: LoadOptions,
  strings: boolean,
): Promise<{ specs: WeightEntry[]; weightData: ArrayBuffer }> {
  const { groups, specs } = checkManifest(modelJsonPath, manifest, options, strings);
  const folder = await realpath(dirname(resolve(modelJsonPath)));
  const files: { path: string; shown: string }[][] = [];
  const totals: number[] = [];
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
    if (group.strings ? total < group.bytes : total !== group.bytes) {
      throw new Error(
        `${modelJsonPath}: weight files ${group.paths.join(', ')} hold ${total} bytes but the manifest describes ${group.strings ? `at least ${group.bytes}` : group.bytes}`,
      );
    }
    files.push(list);
    totals.push(total);
  }
  // Only now read: each file opened without following a symlink swapped in since, and read in full.
  const weightData = new Uint8Array(totals.reduce((s, t) => s + t, 0));
  let offset = 0;
  for (const [g, list] of files.entries()) {
    const start = offset;
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
    const group = groups[g]!;
    if (group.strings) {
      const used = runBytes(group.specs, weightData.subarray(start, offset), 0);
      if (used !== offset - start) {
        throw new Error(
          `${modelJsonPath}: weight files ${group.paths.join(', ')} hold ${offset - start} bytes but the manifest's weights (with their string lengths) describe ${used < 0 ? 'more' : used}`,
        );
      }
    }
  }
  return { specs, weightData: weightData.buffer };
}

/**
 * Reads a tfjs layers model saved as `model.json` + weight files, checking everything before any weight
 * byte is read: the JSON (size, shape, format), every manifest entry (dtype, shape, quantization), the
 * parameter ceiling, and every weight path (relative, inside the model's folder after resolving
 * symlinks, a regular file, the files of each group exactly as long as the manifest says). Errors name
 * the file and the reason.
 */
export async function readLayersModelArtifacts(modelJsonPath: string, options: LoadOptions = {}): Promise<tf.io.ModelArtifacts> {
  const json = await readModelJson(modelJsonPath, 'a layers');
  if (!json.modelTopology) throw new Error(`${modelJsonPath}: no modelTopology: not a tfjs layers model.json`);
  if (json.format !== undefined && json.format !== null && json.format !== 'layers-model') {
    throw new Error(`${modelJsonPath}: format '${String(json.format)}' is not a layers model (expected 'layers-model')`);
  }
  const { specs, weightData } = await readWeightFiles(modelJsonPath, json.weightsManifest, options, false);
  return {
    modelTopology: json.modelTopology as object,
    format: 'layers-model',
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy ?? undefined,
    weightSpecs: specs as tf.io.WeightsManifestEntry[],
    weightData,
  };
}

/** The two kinds of tfjs model.json, told apart by content. */
export type ModelKind = 'layers-model' | 'graph-model';

/**
 * What kind of tfjs model a parsed model.json (or its artifacts) holds: a graph model has a GraphDef
 * topology (a `node` list, or only a function library) or says `format: graph-model`; a layers model has
 * a Keras topology (`class_name`/`config`, or `model_config`). The topology decides; the `format` key
 * (which older converters omit) only when the topology is neither.
 */
export function modelKindOf(json: { modelTopology?: unknown; format?: unknown }): ModelKind | null {
  const t = json.modelTopology as Record<string, unknown> | null | undefined;
  if (t && typeof t === 'object' && !Array.isArray(t)) {
    if (Array.isArray(t.node) || (t.library && typeof t.library === 'object')) return 'graph-model';
    if ('class_name' in t || 'model_config' in t || 'config' in t) return 'layers-model';
  }
  if (json.format === 'graph-model') return 'graph-model';
  if (json.format === 'layers-model') return 'layers-model';
  return null;
}

/** The kind of model a model.json file holds (read with the same checks as the readers below). */
export async function modelKindOfFile(modelJsonPath: string): Promise<ModelKind> {
  const json = await readModelJson(modelJsonPath, 'a');
  const kind = modelKindOf(json);
  if (!kind) {
    throw new Error(
      `${modelJsonPath}: ${json.modelTopology ? 'its modelTopology is neither a Keras topology (class_name, config) nor a GraphDef (node)' : 'no modelTopology'}: not a tfjs model.json`,
    );
  }
  return kind;
}

/**
 * Reads a tfjs graph model (`model.json` in tensorflowjs_converter's graph-model format + weight files)
 * with the same checks as {@link readLayersModelArtifacts} (string weights allowed), returning every
 * field tfjs' own loader reads: the GraphDef, the weights, the signature, the user metadata and the model
 * initializer.
 */
export async function readGraphModelArtifacts(modelJsonPath: string, options: LoadOptions = {}): Promise<tf.io.ModelArtifacts> {
  const json = await readModelJson(modelJsonPath, 'a');
  if (!json.modelTopology || typeof json.modelTopology !== 'object') throw new Error(`${modelJsonPath}: no modelTopology: not a tfjs graph model.json`);
  if (modelKindOf(json) !== 'graph-model') {
    throw new Error(`${modelJsonPath}: its modelTopology is not a GraphDef (no node list): not a tfjs graph model (format '${String(json.format)}')`);
  }
  const { specs, weightData } = await readWeightFiles(modelJsonPath, json.weightsManifest, options, true);
  const artifacts: tf.io.ModelArtifacts = {
    modelTopology: json.modelTopology as object,
    format: 'graph-model',
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy ?? undefined,
    weightSpecs: specs as tf.io.WeightsManifestEntry[],
    weightData,
  };
  if (json.signature) artifacts.signature = json.signature as object;
  if (json.userDefinedMetadata) artifacts.userDefinedMetadata = json.userDefinedMetadata as Record<string, object>;
  if (json.modelInitializer) artifacts.modelInitializer = json.modelInitializer as object;
  if (json.initializerSignature) artifacts.initializerSignature = json.initializerSignature as object;
  return artifacts;
}

/**
 * Checks in-memory graph-model artifacts the way {@link readGraphModelArtifacts} checks files: every
 * weight spec, the parameter ceiling, and the weight data exactly as long as the specs (with their
 * string lengths) describe. Returns the weight data as one buffer.
 */
export function checkGraphWeights(source: string, artifacts: tf.io.ModelArtifacts, options: LoadOptions = {}): Uint8Array {
  const specs = (artifacts.weightSpecs ?? []) as unknown as WeightEntry[];
  const { groups } = checkManifest(source, [{ paths: [], weights: specs }], options, true);
  const raw = artifacts.weightData;
  const parts = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  const data = new Uint8Array(parts.reduce((s, b) => s + b.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    data.set(new Uint8Array(p), at);
    at += p.byteLength;
  }
  const used = groups[0]!.strings ? runBytes(specs, data, 0) : groups[0]!.bytes;
  if (used !== data.length) throw new Error(`${source}: the weight data holds ${data.length} bytes but the weight specs describe ${used < 0 ? 'more' : used}`);
  return data;
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
