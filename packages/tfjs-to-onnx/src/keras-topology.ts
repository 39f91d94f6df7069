/**
 * Normalises a layers-model topology (the JSON in model.json's `modelTopology`) to the Keras 2 form
 * tfjs-layers 4 deserialises, whichever writer produced it:
 * - tfjs' `model.save()` (bare config), tensorflowjs_converter (`{model_config, training_config}`);
 * - Keras 3: dtype policy objects, `batch_shape`, `{args, kwargs}` inbound nodes with `__keras_tensor__`
 *   references, flat `input_layers`/`output_layers`, `module`/`registered_name`/`build_config` keys;
 * - `batch_input_shape` repeated on inner layers (only the model's own inputs count);
 * - initializers, regularizers and constraints of any class (they do not change inference: initializers
 *   become Zeros, the others are dropped);
 * - Keras layer options tfjs lacks, mapped to the classes in keras-layers.ts (GRU reset_after,
 *   ReLU threshold and negative_slope, random augmentation layers).
 * Pure JSON in, JSON out; nothing here allocates tensors.
 */

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A layer entry: `{class_name, config, ...}`. */
interface LayerJson extends Json {
  class_name: string;
  config: Json;
}

const isLayer = (v: unknown): v is LayerJson => isObject(v) && typeof v.class_name === 'string' && (isObject(v.config) || Array.isArray(v.config));

/** What {@link normaliseTopology} changed, for the conversion report. */
export interface TopologyNotes {
  readonly notes: string[];
}

/** The model config inside a `modelTopology` value (unwrapping `model_config`). */
export function modelConfigOf(topology: unknown): LayerJson {
  if (!isObject(topology)) throw new Error('modelTopology is not an object');
  const inner = isObject(topology.model_config) ? topology.model_config : topology;
  if (!isLayer(inner)) throw new Error('modelTopology has no class_name and config: not a Keras or tfjs layers model');
  return inner;
}

/** Keras 3 dtype policies ({class_name: 'DTypePolicy', config: {name}}) become tfjs dtype strings. */
function dtypeName(dtype: unknown, notes: string[], where: string): unknown {
  let name = dtype;
  if (isObject(dtype)) {
    const config = isObject(dtype.config) ? dtype.config : {};
    name = config.name ?? dtype.name;
  }
  if (typeof name !== 'string') return dtype;
  if (/^mixed_/.test(name) || name === 'float16' || name === 'bfloat16' || name === 'float64') {
    notes.push(`${where}: dtype policy '${name}' runs as float32`);
    return 'float32';
  }
  return name;
}

const ZEROS = { class_name: 'Zeros', config: {} };

/** A Keras 3 tensor reference in an inbound node. */
function kerasHistory(v: unknown): [string, number, number] | null {
  if (!isObject(v) || v.class_name !== '__keras_tensor__' || !isObject(v.config)) return null;
  const h = v.config.keras_history;
  return Array.isArray(h) && typeof h[0] === 'string' ? [h[0], Number(h[1] ?? 0), Number(h[2] ?? 0)] : null;
}

function collectTensors(v: unknown, out: Array<[string, number, number]>): void {
  const ref = kerasHistory(v);
  if (ref) out.push(ref);
  else if (Array.isArray(v)) for (const x of v) collectTensors(x, out);
}

/** Keras 3 `{args, kwargs}` nodes to Keras 2 `[[name, node, tensor, kwargs], ...]`. */
function kerasTwoNodes(nodes: unknown, layerName: string): unknown {
  if (!Array.isArray(nodes)) return nodes;
  return nodes.map((node) => {
    if (!isObject(node) || !('args' in node)) return node;
    const tensors: Array<[string, number, number]> = [];
    collectTensors(node.args, tensors);
    const kwargs = isObject(node.kwargs) ? { ...node.kwargs } : {};
    // Initial RNN states are extra inputs in tfjs' form; other tensor-valued arguments have no place there.
    if ('initial_state' in kwargs) {
      collectTensors(kwargs.initial_state, tensors);
      delete kwargs.initial_state;
    }
    for (const [key, value] of Object.entries(kwargs)) {
      const inner: Array<[string, number, number]> = [];
      collectTensors(value, inner);
      if (inner.length) throw new Error(`layer '${layerName}': call argument '${key}' is a tensor, which tfjs layers models cannot express`);
      if (key === 'mask' || key === 'training') delete kwargs[key];
    }
    return tensors.map(([name, n, t]) => [name, n, t, kwargs]);
  });
}

/** `["input", 0, 0]` (Keras 3, one tensor) or `[["input", 0, 0]]` both become the nested form. */
function tensorList(v: unknown): unknown {
  if (Array.isArray(v) && typeof v[0] === 'string') return [v];
  return v;
}

function isDefaultNumber(v: unknown, value: number): boolean {
  return v === undefined || v === null || Number(v) === value;
}

/** Normalises one layer entry in place (recursively for models, wrappers and RNN cells). */
function normaliseLayer(layer: LayerJson, notes: string[], role: 'input' | 'first' | 'inner'): void {
  for (const key of ['module', 'registered_name', 'build_config', 'compile_config', 'shared_object_id']) delete layer[key];
  if (Array.isArray(layer.inbound_nodes)) layer.inbound_nodes = kerasTwoNodes(layer.inbound_nodes, String(layer.name ?? layer.config.name));
  if (Array.isArray(layer.config)) {
    // Keras < 2.2.3 Sequential: the config is the list of layers.
    layer.config = { layers: layer.config };
  }
  const c = layer.config;
  const where = `layer '${String(c.name ?? layer.name ?? layer.class_name)}'`;
  if ('dtype' in c) c.dtype = dtypeName(c.dtype, notes, where);
  if ('batch_shape' in c) {
    if (c.batch_input_shape === undefined) c.batch_input_shape = c.batch_shape;
    delete c.batch_shape;
  }
  if (role === 'inner' && layer.class_name !== 'InputLayer') delete c.batch_input_shape;
  for (const key of Object.keys(c)) {
    if (/_initializer$/.test(key) && c[key] !== null && c[key] !== undefined) c[key] = ZEROS;
    if (/_(regularizer|constraint)$/.test(key)) c[key] = null;
  }
  if (isObject(c.activation) && typeof (c.activation as Json).config === 'string') c.activation = (c.activation as Json).config;
  // Keras options tfjs-layers lacks, as the classes in keras-layers.ts.
  if (layer.class_name === 'GRU' && c.reset_after === true) {
    layer.class_name = 'KerasGRU';
    notes.push(`${where}: GRU with reset_after = true (Keras' default) loaded as KerasGRU`);
  }
  if (layer.class_name === 'GRU') delete c.reset_after;
  if (layer.class_name === 'ReLU' && !(isDefaultNumber(c.negative_slope, 0) && isDefaultNumber(c.threshold, 0))) {
    layer.class_name = 'KerasReLU';
  }
  if (layer.class_name === 'Bidirectional') delete c.backward_layer;
  for (const key of ['layer', 'cell']) {
    if (isLayer(c[key])) normaliseLayer(c[key] as LayerJson, notes, 'inner');
  }
  if (Array.isArray(c.cells)) for (const cell of c.cells) if (isLayer(cell)) normaliseLayer(cell, notes, 'inner');
  if (Array.isArray(c.layers)) normaliseModelLayers(layer, notes, role);
  if ('input_layers' in c) c.input_layers = tensorList(c.input_layers);
  if ('output_layers' in c) c.output_layers = tensorList(c.output_layers);
}

/** The layers of a Sequential or functional model. */
function normaliseModelLayers(model: LayerJson, notes: string[], role: 'input' | 'first' | 'inner'): void {
  const layers = model.config.layers as unknown[];
  const sequential = model.class_name === 'Sequential';
  layers.forEach((l, i) => {
    if (!isLayer(l)) return;
    const own = sequential ? (i === 0 ? 'first' : 'inner') : l.class_name === 'InputLayer' ? 'input' : 'inner';
    normaliseLayer(l, notes, own);
    // A nested model's input keeps its shape, not its batch size: only the outer model's inputs count.
    if (role === 'inner' && (own === 'first' || own === 'input')) {
      const shape = l.config.batch_input_shape;
      if (Array.isArray(shape)) l.config.batch_input_shape = [null, ...shape.slice(1)];
    }
  });
}

/**
 * Returns the normalised model config (a copy) of a `modelTopology` value, and notes on what was
 * mapped. Throws an error naming what is wrong when it is not a layers model topology.
 */
export function normaliseTopology(topology: unknown): { config: Json; notes: string[] } {
  const config = structuredClone(modelConfigOf(topology));
  const notes: string[] = [];
  normaliseLayer(config, notes, 'input');
  return { config, notes };
}
