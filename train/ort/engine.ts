import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { AUGMENT_PASSES, drawAugmentation } from '../gan/augment.ts';
import { realBatch, randomLabels, type StepLosses, type StepState } from '../gan/iteration.ts';
import { adamState, restoreAdam } from '../run-dir/checkpoint.ts';
import { checkTrainable } from './lower.ts';
import { buildStepGraph, IO, type ModelLayout, modelLayout, type Slot, type StepSpec, stateName, stateOutput, toEngine, toTfjs } from './step-graph.ts';

// The ort engine: each iteration is one run of the iteration graph (step-graph.ts) on
// onnxruntime-node. Weights, moving statistics, Adam moments and EMA live in flat Float32Arrays here;
// the tfjs models and optimizers of the run are brought up to date only when something reads them
// (reports, evaluations, checkpoints, the end), so every file a run writes is the same as tfjs'.

/** What the engine reads and writes of a run: its models, optimizers and EMA generator. */
export type GanRunState = Pick<StepState, 'generator' | 'discriminator' | 'gOptimizer' | 'dOptimizer'> & { readonly ema: tf.LayersModel | null };

/** tfjs' Adam epsilon on its CPU and WASM backends (float32). */
export const ADAM_EPSILON = 1e-7;

/** Execution providers in the order `auto` tries them (ORT does not fall back from CUDA by itself). */
const PROVIDERS = [
  { name: 'cuda', executionProviders: ['cuda'] },
  { name: 'cpu', executionProviders: ['cpu'] },
] as const;

/** A model's state: flat parameters, Adam moments and buffers, and its optimizer's counters. */
interface ModelState {
  readonly layout: ModelLayout;
  p: Float32Array;
  m: Float32Array;
  v: Float32Array;
  b: Float32Array;
  /** tfjs Adam: applications so far, and beta1^t, beta2^t as float32 (accBeta1, accBeta2). */
  count: number;
  acc1: number;
  acc2: number;
}

/** tfjs' Adam internals that hold its state. */
interface AdamSlots {
  accumulatedFirstMoment: Array<{ variable: tf.Variable }>;
  accumulatedSecondMoment: Array<{ variable: tf.Variable }>;
  iterations_: number;
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
}

/** Options of the engine. */
export interface OrtEngineOptions {
  /** Intra-op threads of the session. */
  readonly threads: number;
  /** 'auto' tries CUDA, then the CPU; 'cpu' only the CPU. */
  readonly device?: 'auto' | 'cuda' | 'cpu';
  readonly log?: (line: string) => void;
  /** Writes onnxruntime's profile (a Chrome trace, JSON) with this file-name prefix. */
  readonly profile?: string;
}

const f32 = Math.fround;

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0] ?? text;
}

/** Reads a tfjs variable's values into the engine's buffer. */
function readInto(slot: Slot, out: Float32Array): void {
  toEngine(slot, slot.variable.read().dataSync() as Float32Array, out);
}

/** Writes the engine's values of a weight into its tfjs variable. */
function writeFrom(slot: Slot, flat: Float32Array): void {
  tf.tidy(() => {
    slot.variable.write(tf.tensor(toTfjs(slot, flat), slot.variable.shape as number[]));
  });
}

/** The iteration on onnxruntime-node for one run. */
export class OrtEngine {
  private readonly sessions = new Map<boolean, ort.InferenceSession>();
  private g!: ModelState;
  private d!: ModelState;
  private ema: { p: Float32Array; b: Float32Array } | null = null;
  private provider: (typeof PROVIDERS)[number] | null = null;
  private readonly real: Float32Array;
  private readonly realLabels: Int32Array;

  private constructor(
    private readonly spec: Omit<StepSpec, 'updateG'>,
    private readonly options: OrtEngineOptions,
    state: StepState,
  ) {
    this.real = new Float32Array(state.batch.length);
    this.realLabels = new Int32Array(state.config.batchSize);
  }

  /** Checks the run's models, builds the engine and takes the run's current state. */
  static async create(state: StepState & GanRunState, options: OrtEngineOptions): Promise<OrtEngine> {
    checkTrainable(state.generator);
    checkTrainable(state.discriminator);
    const { config, dataset } = state;
    const spec: Omit<StepSpec, 'updateG'> = {
      kind: state.kind,
      conditional: state.conditional,
      labelledD: state.labelledD,
      head: state.head,
      fakeMode: config.fakeMode,
      labelSmoothing: config.labelSmoothing,
      batchSize: config.batchSize,
      latentDim: config.latentDim,
      imageShape: [dataset.height, dataset.width, 1],
      augment: config.augment,
      lr: config.lr,
      beta1: config.beta1,
      beta2: config.beta2,
      epsilon: ADAM_EPSILON,
    };
    const engine = new OrtEngine(spec, options, state);
    await engine.load(state);
    // The first graph is built and loaded now, so that a problem shows before training starts.
    await engine.session(state.iteration + 1 > config.dWarmup, state);
    return engine;
  }

  /** Which execution provider runs the graphs. */
  get providerName(): string {
    return this.provider?.name ?? 'none';
  }

  /** Takes weights, optimizer states (and EMA) from the run's tfjs objects. */
  async load(state: GanRunState): Promise<void> {
    this.g = await this.modelState(state.generator, state.gOptimizer);
    this.d = await this.modelState(state.discriminator, state.dOptimizer);
    if (state.ema) {
      const layout = modelLayout(state.ema);
      const p = new Float32Array(layout.paramCount);
      const b = new Float32Array(layout.bufferCount);
      for (const s of layout.params) readInto(s, p);
      for (const s of layout.buffers) readInto(s, b);
      this.ema = { p, b };
    } else this.ema = null;
  }

  /** Takes a new discriminator and its fresh optimizer (the discriminator reset). */
  async loadDiscriminator(state: StepState): Promise<void> {
    this.d = await this.modelState(state.discriminator, state.dOptimizer);
  }

  private async modelState(model: tf.LayersModel, optimizer: tf.AdamOptimizer): Promise<ModelState> {
    const layout = modelLayout(model);
    const s: ModelState = {
      layout,
      p: new Float32Array(layout.paramCount),
      m: new Float32Array(layout.paramCount),
      v: new Float32Array(layout.paramCount),
      b: new Float32Array(layout.bufferCount),
      count: 0,
      acc1: 0,
      acc2: 0,
    };
    for (const slot of layout.params) readInto(slot, s.p);
    for (const slot of layout.buffers) readInto(slot, s.b);
    const saved = await adamState(optimizer);
    try {
      const k = (saved.length - 3) / 2;
      if (k !== 0 && k !== layout.params.length)
        throw new Error(`Adam state has moments for ${k} weights, the model has ${layout.params.length} trainable weights`);
      s.count = (saved[0]!.dataSync() as Float32Array)[0]!;
      s.acc1 = (saved[saved.length - 2]!.dataSync() as Float32Array)[0]!;
      s.acc2 = (saved[saved.length - 1]!.dataSync() as Float32Array)[0]!;
      layout.params.forEach((slot, i) => {
        if (k === 0) return;
        toEngine(slot, saved[1 + i]!.dataSync() as Float32Array, s.m);
        toEngine(slot, saved[1 + k + i]!.dataSync() as Float32Array, s.v);
      });
    } finally {
      // Only the count is a new tensor: the rest are the optimizer's own variables.
      saved[0]!.dispose();
    }
    return s;
  }

  /** Writes weights, optimizer states and EMA into the run's tfjs objects (before anything reads them). */
  async store(state: GanRunState): Promise<void> {
    await this.storeModel(this.g, state.generator, state.gOptimizer);
    await this.storeModel(this.d, state.discriminator, state.dOptimizer);
    if (state.ema && this.ema) {
      const layout = modelLayout(state.ema);
      for (const s of layout.params) writeFrom(s, this.ema.p);
      for (const s of layout.buffers) writeFrom(s, this.ema.b);
    }
  }

  /** Writes only the generator's weights (for a progress grid). */
  storeGenerator(): void {
    for (const s of this.g.layout.params) writeFrom(s, this.g.p);
    for (const s of this.g.layout.buffers) writeFrom(s, this.g.b);
  }

  private async storeModel(s: ModelState, model: tf.LayersModel, optimizer: tf.AdamOptimizer): Promise<void> {
    const layout = modelLayout(model);
    if (layout.paramCount !== s.layout.paramCount || layout.bufferCount !== s.layout.bufferCount)
      throw new Error(`Model '${model.name}' no longer matches the engine's layout`);
    for (const slot of layout.params) writeFrom(slot, s.p);
    for (const slot of layout.buffers) writeFrom(slot, s.b);
    if (s.count === 0) return;
    const moments = (data: Float32Array): tf.Tensor[] => layout.params.map((slot) => tf.tensor(toTfjs(slot, data), slot.variable.shape as number[]));
    const m = moments(s.m);
    const v = moments(s.v);
    try {
      const adam = optimizer as unknown as AdamSlots;
      if (adam.accumulatedFirstMoment.length === layout.params.length) {
        // Assigned in place: tfjs' setWeights would make new variables and leak the old ones.
        for (const [i, slot] of adam.accumulatedFirstMoment.entries()) slot.variable.assign(m[i]!);
        for (const [i, slot] of adam.accumulatedSecondMoment.entries()) slot.variable.assign(v[i]!);
        adam.iterations_ = s.count;
        tf.tidy(() => {
          adam.accBeta1.assign(tf.scalar(s.acc1));
          adam.accBeta2.assign(tf.scalar(s.acc2));
        });
      } else {
        const counters = [tf.scalar(s.count), tf.scalar(s.acc1), tf.scalar(s.acc2)];
        await restoreAdam(optimizer, [counters[0]!, ...m, ...v, counters[1]!, counters[2]!]);
        tf.dispose(counters);
      }
    } finally {
      tf.dispose([...m, ...v]);
    }
  }

  private async session(updateG: boolean, state: StepState): Promise<ort.InferenceSession> {
    const existing = this.sessions.get(updateG);
    if (existing) return existing;
    const bytes = buildStepGraph({ ...this.spec, updateG }, state.generator, state.discriminator);
    const options = (row: (typeof PROVIDERS)[number]): ort.InferenceSession.SessionOptions => ({
      executionProviders: [...row.executionProviders],
      intraOpNumThreads: this.options.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      ...(this.options.profile ? { enableProfiling: true, profileFilePrefix: this.options.profile } : {}),
    });
    ort.env.logLevel = 'fatal';
    let session: ort.InferenceSession | undefined;
    if (this.provider) session = await ort.InferenceSession.create(bytes, options(this.provider));
    else {
      const device = this.options.device ?? 'auto';
      const rows = device === 'auto' ? PROVIDERS : PROVIDERS.filter((r) => r.name === device);
      let reason = '';
      for (const row of rows) {
        try {
          session = await ort.InferenceSession.create(bytes, options(row));
          this.provider = row;
          this.options.log?.(
            `engine: ort (onnxruntime-node ${ort.env.versions.common}, ${row.name} provider, ${this.options.threads} intra-op thread${this.options.threads === 1 ? '' : 's'})${reason ? ` (CUDA unavailable: ${reason})` : ''}`,
          );
          break;
        } catch (err) {
          if (row.name !== 'cuda' || device === 'cuda') throw err;
          reason = firstLine(err);
        }
      }
    }
    this.sessions.set(updateG, session!);
    return session!;
  }

  /**
   * One iteration: draws the batch, latents and labels from the run's PRNG in the order the tfjs
   * iteration draws them (iteration.ts `step`), runs the graph and keeps its outputs.
   */
  async step(state: StepState): Promise<StepLosses> {
    const { config, dataset, prng, conditional } = state;
    const n = config.batchSize;
    realBatch(dataset, prng, this.real, conditional ? this.realLabels : undefined);
    const z = prng.normals(n * config.latentDim);
    const fakeLabels = conditional ? randomLabels(prng, new Int32Array(n)) : null;
    const z2 = prng.normals(n * config.latentDim);
    const gLabels = conditional ? randomLabels(prng, new Int32Array(n)) : null;
    const augmentations =
      config.augment.length > 0 ? AUGMENT_PASSES.map((pass) => ({ pass, draw: drawAugmentation(prng, config.augment, n, dataset.height, dataset.width) })) : [];
    const updateG = state.iteration > config.dWarmup;
    const session = await this.session(updateG, state);
    const { g, d } = this;
    const [h, w] = [dataset.height, dataset.width];
    // 1 - beta^t for D's two updates and G's, advanced as tfjs advances accBeta (float32 products).
    const dAcc = [f32(1 - d.acc1), f32(1 - d.acc2), f32(1 - f32(d.acc1 * f32(config.beta1))), f32(1 - f32(d.acc2 * f32(config.beta2)))];
    const adam = [...dAcc, f32(1 - g.acc1), f32(1 - g.acc2)];
    const feeds: Record<string, ort.Tensor> = {
      [IO.real]: new ort.Tensor('float32', this.real, [n, h, w, 1]),
      [IO.z]: new ort.Tensor('float32', z, [n, config.latentDim]),
      [IO.z2]: new ort.Tensor('float32', z2, [n, config.latentDim]),
    };
    IO.adam.forEach((name, i) => {
      feeds[name] = new ort.Tensor('float32', Float32Array.of(adam[i]!), []);
    });
    for (const { pass, draw } of augmentations) {
      if (draw.rows) feeds[IO.augment(pass, 'rows')] = new ort.Tensor('float32', draw.rows, [n, h, h]);
      if (draw.cols) feeds[IO.augment(pass, 'cols')] = new ort.Tensor('float32', draw.cols, [n, w, w]);
      if (draw.mask) feeds[IO.augment(pass, 'mask')] = new ort.Tensor('float32', draw.mask, [n, h, w]);
    }
    if (conditional) {
      feeds[IO.realLabels] = new ort.Tensor('int32', this.realLabels.slice(), [n, 1]);
      feeds[IO.fakeLabels] = new ort.Tensor('int32', fakeLabels!, [n, 1]);
      feeds[IO.gLabels] = new ort.Tensor('int32', gLabels!, [n, 1]);
    }
    for (const [key, s] of [
      ['g', g],
      ['d', d],
    ] as const) {
      s.layout.params.forEach((slot, i) => {
        const view = (a: Float32Array): ort.Tensor => new ort.Tensor('float32', a.subarray(slot.offset, slot.offset + slot.size), [...slot.shape]);
        feeds[stateName(key, 'p', i)] = view(s.p);
        feeds[stateName(key, 'm', i)] = view(s.m);
        feeds[stateName(key, 'v', i)] = view(s.v);
      });
      s.layout.buffers.forEach((slot, i) => {
        feeds[stateName(key, 'b', i)] = new ort.Tensor('float32', s.b.subarray(slot.offset, slot.offset + slot.size), [...slot.shape]);
      });
    }
    const out = await session.run(feeds);
    const take = (name: string): Float32Array | null => (out[name] ? (out[name].data as Float32Array) : null);
    const losses = out[IO.losses]!.data as Float32Array;
    d.p = take(stateOutput('d', 'p')) ?? d.p;
    d.m = take(stateOutput('d', 'm')) ?? d.m;
    d.v = take(stateOutput('d', 'v')) ?? d.v;
    d.b = take(stateOutput('d', 'b')) ?? d.b;
    advance(d, config.beta1, config.beta2);
    advance(d, config.beta1, config.beta2);
    g.b = take(stateOutput('g', 'b')) ?? g.b;
    if (updateG) {
      g.p = take(stateOutput('g', 'p'))!;
      g.m = take(stateOutput('g', 'm'))!;
      g.v = take(stateOutput('g', 'v'))!;
      advance(g, config.beta1, config.beta2);
    }
    if (this.ema) this.updateEma(config.emaDecay);
    return {
      dReal: { loss: tf.scalar(losses[0]!), accuracy: tf.scalar(losses[1]!) },
      dFake: { loss: tf.scalar(losses[2]!), accuracy: tf.scalar(losses[3]!) },
      gLoss: tf.scalar(losses[4]!),
    };
  }

  /** ema = decay * ema + (1 - decay) * G, over every weight of G (as train/gan/ema.ts). */
  private updateEma(decay: number): void {
    const ema = this.ema!;
    const keep = f32(decay);
    const take = f32(1 - decay);
    for (const [avg, src] of [
      [ema.p, this.g.p],
      [ema.b, this.g.b],
    ] as const) {
      for (let i = 0; i < avg.length; i++) avg[i] = f32(avg[i]! * keep) + f32(src[i]! * take);
    }
  }

  /** Releases the sessions (ending their profiles). */
  async close(): Promise<void> {
    for (const s of this.sessions.values()) {
      if (this.options.profile) s.endProfiling();
      await s.release();
    }
    this.sessions.clear();
  }
}

/** One Adam application's counters, as tfjs keeps them. */
function advance(s: ModelState, beta1: number, beta2: number): void {
  s.count += 1;
  s.acc1 = f32(s.acc1 * f32(beta1));
  s.acc2 = f32(s.acc2 * f32(beta2));
}
