// CI check (run by .ci/run after npm test): an install without dev dependencies serves and converts.
// Copies this checkout's files (tracked and new, not ignored) to a temporary folder, runs
// `npm ci --omit=dev` there, checks that a dev dependency is really absent, then runs
// `npx ganforge convert` on a shipped tfjs model and `npx ganforge serve` (GET /healthz and one
// /sample). Every step is bounded in time; the folder is removed at the end.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const root = join(import.meta.dirname, '..');
const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' };
// The whole check, whatever hangs.
setTimeout(() => {
  console.error('production install: FAILED: took more than 10 minutes');
  process.exit(1);
}, 10 * 60_000).unref();

function fail(message) {
  throw new Error(message);
}

/** Runs a command to its end within `seconds`; fails the check on a non-zero exit. */
function run(command, args, cwd, seconds) {
  const r = spawnSync(command, args, { cwd, env, encoding: 'utf8', timeout: seconds * 1000 });
  if (r.status !== 0) fail(`${command} ${args.join(' ')} exited with ${r.status ?? r.signal}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

const dir = await mkdtemp(join(tmpdir(), 'ganforge-prod-'));
try {
  const files = run('git', ['ls-files', '--cached', '--others', '--exclude-standard'], root, 30)
    .split('\n')
    .filter((f) => f !== '' && existsSync(join(root, f)));
  for (const f of files) {
    await mkdir(dirname(join(dir, f)), { recursive: true });
    await cp(join(root, f), join(dir, f));
  }
  const started = Date.now();
  run('npm', ['ci', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund'], dir, 300);
  console.log(`production install: npm ci --omit=dev in ${((Date.now() - started) / 1000).toFixed(0)} s (${files.length} files)`);
  // The packages only dev dependencies need (the lock marks them dev) must be absent.
  const lock = JSON.parse(await readFile(join(root, 'package-lock.json'), 'utf8'));
  const devOnly = Object.entries(lock.packages ?? {}).filter(([path, p]) => p.dev === true && path.startsWith('node_modules/'));
  const present = devOnly.map(([path]) => path).filter((path) => existsSync(join(dir, path)));
  if (devOnly.length === 0 || present.length > 0) fail(`dev-only packages installed anyway: ${present.slice(0, 10).join(', ')}`);

  // The command list still works; a benchmark (its packages are dev dependencies) says what it lacks.
  const help = run('npx', ['ganforge', '--help'], dir, 120);
  if (!/^ {2}serve +serve the HTTP API/m.test(help) || !/^ {2}bench serve +\(unavailable: .*autocannon/m.test(help)) fail(`ganforge --help:\n${help}`);

  const out = join(dir, 'dense.onnx');
  const converted = run('npx', ['ganforge', 'convert', join('models', 'dense.tfjs', 'model.json'), out], dir, 120);
  if (!/^wrote .*dense\.onnx/m.test(converted) || !existsSync(out)) fail(`ganforge convert wrote nothing:\n${converted}`);
  console.log(`production install: ${converted.split('\n')[0]}`);

  const server = spawn('npx', ['ganforge', 'serve', '--port', '0', '--host', '127.0.0.1', '--models', 'dense'], {
    cwd: dir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  try {
    let log = '';
    const url = await new Promise((resolve, reject) => {
      const onData = (chunk) => {
        log += chunk.toString();
        const m = /on (http:\/\/[^\s]+?)\/?\s/.exec(log);
        if (m) resolve(m[1]);
      };
      server.stdout.on('data', onData);
      server.stderr.on('data', onData);
      server.on('exit', (code) => reject(new Error(`ganforge serve exited with ${code}:\n${log}`)));
      setTimeout(() => reject(new Error(`ganforge serve did not listen within 60 s:\n${log}`)), 60_000).unref();
    });
    const health = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(30_000) });
    const body = await health.json();
    if (health.status !== 200 || body.status !== 'ok') fail(`/healthz answered ${health.status} ${JSON.stringify(body)}`);
    const sample = await fetch(`${url}/sample?n=4&seed=1`, { signal: AbortSignal.timeout(30_000) });
    const png = new Uint8Array(await sample.arrayBuffer());
    if (sample.status !== 200 || png[1] !== 0x50 || png[2] !== 0x4e || png[3] !== 0x47) fail(`/sample answered ${sample.status} (${png.length} bytes)`);
    console.log(`production install: ganforge serve answered /healthz and /sample?n=4 (${png.length} bytes of PNG) on ${url}`);
  } finally {
    // npx runs the server in a child process of its own: stop the whole group.
    try {
      process.kill(-server.pid, 'SIGTERM');
    } catch {}
  }
  console.log('production install: ok');
} catch (err) {
  console.error(`production install: FAILED: ${err.message}`);
  process.exitCode = 1;
} finally {
  await rm(dir, { recursive: true, force: true });
}
