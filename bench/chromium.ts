import { existsSync } from 'node:fs';

// The Chromium that the browser tests and `npm run audit:web` drive: never one downloaded at install.
// Dev tooling (it may import the @sparticuz/chromium dev dependency), so it lives in bench/, not lib/.

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
 * The flags for Debian's chromium and @sparticuz/chromium's build. Nothing from
 * `sparticuz.args` is needed off Lambda (checked against all of test/web-demo/):
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
export const CHROMIUM_ARGS = [
  '--no-sandbox', // runs as root in containers, where Chromium's sandbox cannot start
  '--disable-gpu', // no GPU on CI: no WebGPU adapter, so the page picks onnxruntime-web's WASM backend
  '--disable-background-networking', // no requests to Google services during tests
  '--disable-component-update',
  '--no-first-run',
  '--disable-quic',
  '--disable-sync',
];

/** In place of --disable-gpu: Chromium's software WebGPU adapter (SwiftShader), on any machine. */
export const WEBGPU_ARGS = ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader'];
