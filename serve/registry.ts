import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as ort from 'onnxruntime-node';
import { sha256Hex } from '../lib/hash.ts';
import { imageSize, isGenerator } from '../shared/generator.ts';
import { isManifestFile, type ModelManifest } from '../shared/manifest.ts';
import type { ProviderSelector } from './providers.ts';

/** A model ready to serve. */
export interface LoadedModel {
  readonly manifest: ModelManifest;
  readonly session: ort.InferenceSession;
  /** The ONNX file, served to the web demo as is. */
  readonly bytes: Uint8Array;
  readonly height: number;
  readonly width: number;
}

/** What loading found. */
export interface LoadResult {
  readonly models: Map<string, LoadedModel>;
  /** Models that could not be used, by name, with the reason. */
  readonly problems: ReadonlyArray<{ readonly name: string; readonly reason: string }>;
}

/** Checks that the ONNX graph has the interface its manifest promises. */
function checkInterface(m: ModelManifest, session: ort.InferenceSession): void {
  const describe = (metas: readonly ort.InferenceSession.ValueMetadata[]): string =>
    metas.map((v) => `${v.name}${v.isTensor ? `[${v.shape.join(',')}]` : ''}`).join(', ');
  const compare = (kind: string, specs: ModelManifest['inputs'], metas: readonly ort.InferenceSession.ValueMetadata[]): void => {
    const ok =
      specs.length === metas.length &&
      specs.every((spec, i) => {
        const meta = metas[i]!;
        if (meta.name !== spec.name || !meta.isTensor || meta.shape.length !== spec.shape.length) return false;
        return spec.shape.every((d, j) => (typeof d === 'number' ? meta.shape[j] === d : typeof meta.shape[j] === 'string'));
      });
    if (!ok) {
      const want = specs.map((s) => `${s.name}[${s.shape.join(',')}]`).join(', ');
      throw new Error(`the manifest's ${kind} (${want}) disagree with the ONNX graph's (${describe(metas)})`);
    }
  };
  compare('inputs', m.inputs, session.inputMetadata);
  compare('outputs', m.outputs, session.outputMetadata);
  // Every request builds its latents from latentDim: it must be the graph's, not only the input spec's.
  const latent = session.inputMetadata[0];
  const graphDim = latent?.isTensor ? latent.shape[1] : undefined;
  if (graphDim !== m.latentDim)
    throw new Error(`the manifest's latentDim (${m.latentDim}) disagrees with the ONNX graph's latent input ${describe(session.inputMetadata.slice(0, 1))}`);
  imageSize(m);
}

/**
 * Loads the models of a folder (every `<name>.json` manifest with its `<name>.onnx`), or only those
 * named. Each problem (missing or corrupt file, checksum or interface mismatch) is reported by name; a
 * model with a problem is left out and the rest still load.
 */
export async function loadModels(dir: string, providers: ProviderSelector, only: readonly string[] | null = null): Promise<LoadResult> {
  const entries = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    throw new Error(`${dir}: cannot read the models folder (${err.code ?? err.message})`);
  });
  const available = entries
    .filter(isManifestFile)
    .map((f) => f.slice(0, -5))
    .sort();
  const names = only ?? available;
  const models = new Map<string, LoadedModel>();
  const problems: { name: string; reason: string }[] = [];
  for (const name of names) {
    try {
      if (!available.includes(name)) throw new Error(`no ${name}.json manifest in ${dir}`);
      let manifest: ModelManifest;
      try {
        manifest = JSON.parse(await readFile(join(dir, `${name}.json`), 'utf8')) as ModelManifest;
      } catch (err) {
        throw new Error(`${name}.json is not valid JSON (${(err as Error).message})`);
      }
      if (manifest.name !== name) throw new Error(`${name}.json names the model '${manifest.name}'`);
      if (!isGenerator(manifest)) continue; // not a generator (e.g. the classifier)
      const bytes = await readFile(join(dir, `${name}.onnx`)).catch((err: NodeJS.ErrnoException) => {
        throw new Error(`${name}.onnx cannot be read (${err.code ?? err.message})`);
      });
      const sha = sha256Hex(bytes);
      if (sha !== manifest.sha256)
        throw new Error(`${name}.onnx has sha256 ${sha.slice(0, 12)}..., the manifest says ${String(manifest.sha256).slice(0, 12)}...`);
      const session = await providers.create(bytes).catch((err: Error) => {
        if (/--device cuda/.test(err.message)) throw err;
        throw new Error(`onnxruntime cannot load ${name}.onnx (${err.message.split('\n')[0]})`);
      });
      try {
        checkInterface(manifest, session);
      } catch (err) {
        await session.release();
        throw err;
      }
      models.set(name, { manifest, session, bytes, ...imageSize(manifest) });
    } catch (err) {
      if (/--device cuda/.test((err as Error).message)) throw err;
      problems.push({ name, reason: (err as Error).message });
    }
  }
  return { models, problems };
}
