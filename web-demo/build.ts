import { Resvg } from '@resvg/resvg-js';
import { build } from 'esbuild';
import { copyFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { sha256OfParts } from '../lib/hash.ts';
import { UsageError } from '../shared/expected.ts';
import { isGenerator } from '../shared/generator.ts';
import { chooseDefault, isManifestFile, type ModelManifest } from '../shared/manifest.ts';
import { RUNTIME_FILES } from './src/runtime-files.ts';

const here = import.meta.dirname;
const root = join(here, '..');
/** Where `npm start` and `npm run build:web` put the page. */
export const DEFAULT_OUT = join(here, 'dist');
export const DEFAULT_MODELS = join(root, 'models');
const ortDist = join(root, 'node_modules', 'onnxruntime-web', 'dist');
/** onnxruntime-web files served beside the page: one bundle + its .wasm per backend. */
export const RUNTIME_WASM = [RUNTIME_FILES.wasm.bundle, RUNTIME_FILES.wasm.wasm];
export const RUNTIME_WEBGPU = [RUNTIME_FILES.webgpu.bundle, RUNTIME_FILES.webgpu.wasm];
/** Files copied from src/ as they are. */
const STATIC = ['index.html', 'style.css', 'manifest.webmanifest', 'icon.svg'];
/** The app icon rendered from src/icon.svg at the sizes the web manifest declares. */
const ICON_SIZES = [192, 512];

/** What a build records: its id, the models folder it copied and the files its service worker precaches. */
const BUILD_INFO = 'build-info.json';

/** Sources whose change makes the built page stale. */
async function sourceFiles(modelsDir: string): Promise<string[]> {
  const list = async (dir: string): Promise<string[]> => (await readdir(dir)).map((f) => join(dir, f));
  // This file too: a change to how the page is built makes it stale.
  const runtime = [...RUNTIME_WASM, ...RUNTIME_WEBGPU].map((f) => join(ortDist, f));
  return [
    ...(await list(join(here, 'src'))),
    ...(await list(join(root, 'shared'))),
    import.meta.filename,
    ...runtime,
    ...(await list(modelsDir).catch(() => [])),
  ];
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
  if (names.length === 0) throw new UsageError(`${modelsDir}: no generator models to put in the web demo`);
  await writeFile(join(tmp, 'models', 'index.json'), JSON.stringify({ default: chooseDefault(names), models: names }));
  for (const f of [...RUNTIME_WASM, ...RUNTIME_WEBGPU]) await copyFile(join(ortDist, f), join(tmp, f));
  for (const f of STATIC) await copyFile(join(here, 'src', f), join(tmp, f));
  const svg = await readFile(join(here, 'src', 'icon.svg'));
  for (const size of ICON_SIZES) await writeFile(join(tmp, `icon-${size}.png`), new Resvg(svg, { fitTo: { mode: 'width', value: size } }).render().asPng());
  // The page's script and the inference worker's; the runtime bundles stay separate files.
  await build({
    entryPoints: { app: join(here, 'src', 'app.ts'), worker: join(here, 'src', 'worker.ts') },
    outdir: tmp,
    bundle: true,
    format: 'esm',
    target: 'es2022',
    minify: true,
    sourcemap: true,
    logLevel: 'warning',
  });
  // The version covers everything the service worker caches: page, bundle, style, icons, runtime and models.
  const shell = [...STATIC, ...ICON_SIZES.map((s) => `icon-${s}.png`), 'app.js', 'worker.js', 'models/index.json'];
  const modelFiles = manifests.flatMap((m) => [`models/${m.name}.json`, `models/${m.name}.onnx`]);
  const precache = ['', ...shell, ...RUNTIME_WASM, ...RUNTIME_WEBGPU, ...modelFiles];
  const parts: (Uint8Array | string)[] = [await readFile(join(here, 'src', 'sw.ts'))];
  for (const f of precache.filter(Boolean)) parts.push(f, await readFile(join(tmp, f)));
  const buildId = sha256OfParts(parts).slice(0, 16);
  await build({
    entryPoints: [join(here, 'src', 'sw.ts')],
    outfile: join(tmp, 'sw.js'),
    bundle: true,
    format: 'iife',
    target: 'es2022',
    minify: true,
    define: { BUILD_ID: JSON.stringify(buildId), PRECACHE: JSON.stringify(precache), RUNTIME_WEBGPU: JSON.stringify(RUNTIME_WEBGPU) },
    logLevel: 'warning',
  });
  await writeFile(join(tmp, 'BUILD_ID'), buildId);
  await writeFile(join(tmp, BUILD_INFO), JSON.stringify({ buildId, modelsDir: resolve(modelsDir), precache }, null, 2));
  const old = `${out}.old-${process.pid}`;
  await mkdir(dirname(out), { recursive: true });
  await rename(out, old).catch(() => {});
  await rename(tmp, out);
  await rm(old, { recursive: true, force: true });
  return { buildId, models: names };
}

/** True when `out` is missing, was built from another models folder, or is older than any source, runtime file or model. */
export async function isStale(out: string, modelsDir: string): Promise<boolean> {
  const info = await readFile(join(out, BUILD_INFO), 'utf8').then(
    (t) => JSON.parse(t) as { modelsDir?: string },
    () => null,
  );
  if (!info || info.modelsDir !== resolve(modelsDir)) return true;
  const built = await stat(join(out, BUILD_INFO)).then(
    (s) => s.mtimeMs,
    () => 0,
  );
  return built === 0 || (await newestMtime(await sourceFiles(modelsDir))) > built;
}
