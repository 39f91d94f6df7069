import { build } from 'esbuild';
import { copyFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { sha256OfParts } from '../lib/hash.ts';
import { isGenerator } from '../shared/generator.ts';
import { chooseDefault, isManifestFile, type ModelManifest } from '../shared/manifest.ts';

const here = import.meta.dirname;
const root = join(here, '..');
/** Where `npm start` and `npm run build:web` put the page. */
export const DEFAULT_OUT = join(here, 'dist');
export const DEFAULT_MODELS = join(root, 'models');
const ortDist = join(root, 'node_modules', 'onnxruntime-web', 'dist');
/** onnxruntime-web files served beside the page: one bundle + .wasm per backend. */
export const RUNTIME_WASM = ['ort.wasm.bundle.min.mjs', 'ort-wasm-simd-threaded.wasm'];
export const RUNTIME_WEBGPU = ['ort.webgpu.bundle.min.mjs', 'ort-wasm-simd-threaded.jsep.wasm'];

/** Sources whose change makes the built page stale. */
async function sourceFiles(modelsDir: string): Promise<string[]> {
  const list = async (dir: string): Promise<string[]> => (await readdir(dir)).map((f) => join(dir, f));
  // This file too: a change to how the page is built makes it stale.
  return [...(await list(join(here, 'src'))), ...(await list(join(root, 'shared'))), import.meta.filename, ...(await list(modelsDir).catch(() => []))];
}

async function newestMtime(files: string[]): Promise<number> {
  const times = await Promise.all(
    files.map((f) =>
      stat(f).then(
        (s) => s.mtimeMs,
        () => 0,
      ),
    ),
  );
  return Math.max(0, ...times);
}

/**
 * Builds the static web demo into `out`: page, bundled app (esbuild), service worker, the
 * onnxruntime-web runtime files and a copy of every generator in `modelsDir` with `models/index.json`.
 * The folder works from any static file host. It is written beside `out` and swapped in whole.
 */
export async function buildWebDemo(out: string, modelsDir: string): Promise<{ buildId: string; models: string[] }> {
  const tmp = `${out}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(join(tmp, 'models'), { recursive: true });
  const manifests: ModelManifest[] = [];
  for (const f of (await readdir(modelsDir)).filter(isManifestFile).sort()) {
    const m = JSON.parse(await readFile(join(modelsDir, f), 'utf8')) as ModelManifest;
    if (!isGenerator(m)) continue;
    await copyFile(join(modelsDir, f), join(tmp, 'models', f));
    await copyFile(join(modelsDir, `${m.name}.onnx`), join(tmp, 'models', `${m.name}.onnx`));
    manifests.push(m);
  }
  const names = manifests.map((m) => m.name);
  if (names.length === 0) throw new Error(`${modelsDir}: no generator models to put in the web demo`);
  await writeFile(join(tmp, 'models', 'index.json'), JSON.stringify({ default: chooseDefault(names), models: names }));
  for (const f of [...RUNTIME_WASM, ...RUNTIME_WEBGPU]) await copyFile(join(ortDist, f), join(tmp, f));
  for (const f of ['index.html', 'style.css']) await copyFile(join(here, 'src', f), join(tmp, f));
  await build({
    entryPoints: [join(here, 'src', 'app.ts')],
    outfile: join(tmp, 'app.js'),
    bundle: true,
    format: 'esm',
    target: 'es2022',
    minify: true,
    sourcemap: true,
    external: ['./ort.*.mjs'],
    logLevel: 'warning',
  });
  const parts: (Uint8Array | string)[] = [];
  for (const f of ['app.js', 'index.html', 'style.css', 'models/index.json']) parts.push(await readFile(join(tmp, f)));
  const buildId = sha256OfParts([...parts, ...manifests.map((m) => m.sha256)]).slice(0, 16);
  await build({
    entryPoints: [join(here, 'src', 'sw.ts')],
    outfile: join(tmp, 'sw.js'),
    bundle: true,
    format: 'iife',
    target: 'es2022',
    minify: true,
    define: { BUILD_ID: JSON.stringify(buildId), RUNTIME_WASM: JSON.stringify(RUNTIME_WASM), RUNTIME_WEBGPU: JSON.stringify(RUNTIME_WEBGPU) },
    logLevel: 'warning',
  });
  await writeFile(join(tmp, 'BUILD_ID'), buildId);
  const old = `${out}.old-${process.pid}`;
  await mkdir(dirname(out), { recursive: true });
  await rename(out, old).catch(() => {});
  await rename(tmp, out);
  await rm(old, { recursive: true, force: true });
  return { buildId, models: names };
}

/** True when `out` is missing or older than any source or model. */
export async function isStale(out: string, modelsDir: string): Promise<boolean> {
  const built = await stat(join(out, 'BUILD_ID')).then(
    (s) => s.mtimeMs,
    () => 0,
  );
  return built === 0 || (await newestMtime(await sourceFiles(modelsDir))) > built;
}
