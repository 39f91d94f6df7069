import { createReadStream, existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { chromium, type Browser } from 'playwright-core';

/** Debian's chromium, used when present (and CHROMIUM_PATH is not set). */
const DEBIAN_CHROMIUM = '/usr/bin/chromium';

export interface ChosenChromium {
  path: string;
  source: 'CHROMIUM_PATH' | 'debian' | '@sparticuz/chromium';
}

let chosen: Promise<ChosenChromium> | undefined;

/**
 * The browser the tests drive: $CHROMIUM_PATH, else Debian's /usr/bin/chromium, else the headless
 * Chromium bundled in @sparticuz/chromium (unpacked to $TMPDIR/chromium on first use, ~3 s). Never a
 * browser downloaded by Playwright. Resolved once; print it with `console.log(await chromiumChoice())`.
 */
export function chromiumChoice(): Promise<ChosenChromium> {
  chosen ??= (async (): Promise<ChosenChromium> => {
    const env = process.env.CHROMIUM_PATH;
    if (env) return { path: env, source: 'CHROMIUM_PATH' };
    if (existsSync(DEBIAN_CHROMIUM)) return { path: DEBIAN_CHROMIUM, source: 'debian' };
    // Imported lazily: the package is a dev dependency and its unpacking is only needed here.
    const { default: sparticuz } = await import('@sparticuz/chromium');
    return { path: await sparticuz.executablePath(), source: '@sparticuz/chromium' };
  })();
  return chosen;
}

/**
 * The same flags for Debian's chromium and @sparticuz/chromium's build. Nothing from
 * `sparticuz.args` is needed off Lambda (checked against all of test/web-demo.test.ts):
 * - Playwright's own `--headless` is enough: the sparticuz binary is a headless-shell build anyway.
 * - no --single-process / --no-zygote: they work around Lambda's sandbox (prctl errors), not ours,
 *   and a single process would not exercise the service worker and renderer the way a real browser does.
 * - no --disable-web-security or --enable-features=SharedArrayBuffer: the golden test must prove
 *   the page is cross-origin isolated by its COOP/COEP headers, and the static-server test that it
 *   is not without them.
 * - no --use-gl=angle --use-angle=swiftshader: the demo draws with canvas 2D; WebGL stays off.
 *   WebGPU is off (--disable-gpu: no adapter, so the page falls back to WASM) unless `webgpu` is
 *   asked for, which gives Chromium's software WebGPU adapter (SwiftShader), on any machine.
 */
const ARGS = [
  '--no-sandbox', // runs as root in containers, where Chromium's sandbox cannot start
  '--disable-gpu', // no GPU on CI: no WebGPU adapter, so the page picks onnxruntime-web's WASM backend
  '--disable-background-networking', // no requests to Google services during tests
  '--disable-component-update',
  '--no-first-run',
  '--disable-quic',
  '--disable-sync',
];

const WEBGPU_ARGS = ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader'];

/** Headless Chromium without a GPU; with `webgpu`, with a SwiftShader WebGPU adapter. */
export async function launchChromium(options: { webgpu?: boolean } = {}): Promise<Browser> {
  const { path } = await chromiumChoice();
  const args = options.webgpu ? [...ARGS.filter((a) => a !== '--disable-gpu'), ...WEBGPU_ARGS] : ARGS;
  return chromium.launch({ executablePath: path, headless: true, args });
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.webmanifest': 'application/manifest+json',
};

/** A plain static file server (node:http, no Hono, no special headers) on a loopback port. */
export async function staticServer(dir: string): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    const file = join(dir, path.endsWith('/') ? `${path}index.html` : path);
    stat(file).then(
      (s) => {
        if (!s.isFile()) throw new Error('not a file');
        res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Content-Length': s.size });
        createReadStream(file).pipe(res);
      },
      () => {
        res.writeHead(404).end('not found');
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
