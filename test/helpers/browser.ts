import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { CHROMIUM_ARGS, chromiumChoice, WEBGPU_ARGS } from '../../bench/chromium.ts';

/** Headless Chromium without a GPU; with `webgpu`, with a SwiftShader WebGPU adapter. */
export async function launchChromium(options: { webgpu?: boolean } = {}): Promise<Browser> {
  const { path } = await chromiumChoice();
  const args = options.webgpu ? [...CHROMIUM_ARGS.filter((a) => a !== '--disable-gpu'), ...WEBGPU_ARGS] : CHROMIUM_ARGS;
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
