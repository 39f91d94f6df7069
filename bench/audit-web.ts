import { launch } from 'chrome-launcher';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import lighthouse from 'lighthouse';
import { CHROMIUM_ARGS, chromiumChoice } from './chromium.ts';
import { defineCommand } from '../lib/cli/command.ts';
import { writeFileAtomic } from '../lib/fs/atomic-write.ts';

const root = join(import.meta.dirname, '..');
const CATEGORIES = ['performance', 'accessibility', 'best-practices', 'seo'] as const;
type Category = (typeof CATEGORIES)[number];
/** The metrics printed beside the scores (Lighthouse audit ids). */
const METRICS = ['first-contentful-paint', 'largest-contentful-paint', 'total-blocking-time', 'cumulative-layout-shift', 'speed-index', 'interactive'];

/** One Lighthouse run: category scores (0-100) and metric values as Lighthouse displays them. */
export interface AuditRun {
  readonly scores: Record<Category, number>;
  readonly metrics: Record<string, string>;
  readonly report: { json: string; html: string };
}

/** Starts `ganforge start --port 0` (what `npm start` runs) and resolves with its URL once it listens. */
async function startServer(): Promise<{ url: string; stop: () => void }> {
  const child = spawn(process.execPath, [join(root, 'bin', 'ganforge.js'), 'start', '--port', '0', '--host', '127.0.0.1'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /on (http:\/\/[^\s]+\/)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (code) => reject(new Error(`ganforge start exited with code ${code} before listening:\n${out}`)));
  });
  return { url, stop: () => child.kill('SIGTERM') };
}

/** Runs Lighthouse once (mobile, simulated throttling: its defaults) against `url` in a fresh Chromium. */
async function auditOnce(url: string, chromePath: string): Promise<AuditRun> {
  const chrome = await launch({ chromePath, chromeFlags: ['--headless=new', ...CHROMIUM_ARGS] });
  try {
    const result = await lighthouse(url, { port: chrome.port, output: ['json', 'html'], logLevel: 'error', onlyCategories: [...CATEGORIES] });
    if (!result) throw new Error(`Lighthouse returned no result for ${url}`);
    const { lhr } = result;
    if (lhr.runtimeError) throw new Error(`Lighthouse could not audit ${url}: ${lhr.runtimeError.message}`);
    const scores = Object.fromEntries(CATEGORIES.map((c) => [c, Math.round((lhr.categories[c]?.score ?? 0) * 100)])) as Record<Category, number>;
    const metrics = Object.fromEntries(METRICS.map((m) => [m, lhr.audits[m]?.displayValue ?? 'n/a']));
    const [json, html] = result.report as string[];
    return { scores, metrics, report: { json: json!, html: html! } };
  } finally {
    chrome.kill();
  }
}

/** `ganforge audit-web` (`npm run audit:web`): Lighthouse scores of the web demo, checked against minimums. */
export const auditWebCommand = defineCommand({
  name: 'audit-web',
  summary: 'Lighthouse audit of the web demo served by npm start (local Chromium, no network), checked against minimum scores',
  usage: '[flags]',
  flags: {
    url: { kind: 'string', default: '', defaultLabel: 'a fresh `ganforge start`', help: 'page to audit (default: start the server on a free port)' },
    runs: { kind: 'int', default: 3, min: 1, max: 20, help: 'Lighthouse runs; the median performance run is reported' },
    'min-performance': { kind: 'int', default: 95, min: 0, max: 100, help: 'fail below this performance score' },
    'min-accessibility': { kind: 'int', default: 100, min: 0, max: 100, help: 'fail below this accessibility score' },
    'min-best-practices': { kind: 'int', default: 100, min: 0, max: 100, help: 'fail below this best-practices score' },
    'min-seo': { kind: 'int', default: 100, min: 0, max: 100, help: 'fail below this SEO score' },
    out: { kind: 'string', default: join(root, 'test-output', 'lighthouse'), help: 'folder for the median run report (report.html, report.json)' },
  },
  async run({ values }) {
    const chromium = await chromiumChoice();
    const server = values.url === '' ? await startServer() : null;
    const url = server?.url ?? values.url;
    try {
      console.log(`Lighthouse ${CATEGORIES.join(', ')} of ${url} in ${chromium.source} Chromium (${chromium.path}), ${values.runs} run(s)`);
      const runs: AuditRun[] = [];
      for (let i = 0; i < values.runs; i++) {
        const r = await auditOnce(url, chromium.path);
        runs.push(r);
        console.log(`run ${i + 1}: ${CATEGORIES.map((c) => `${c} ${r.scores[c]}`).join(', ')}; ${METRICS.map((m) => `${m} ${r.metrics[m]}`).join(', ')}`);
      }
      const median = [...runs].sort((a, b) => a.scores.performance - b.scores.performance)[Math.floor(runs.length / 2)]!;
      await writeFileAtomic(join(values.out, 'report.json'), median.report.json);
      await writeFileAtomic(join(values.out, 'report.html'), median.report.html);
      console.log(`median: ${CATEGORIES.map((c) => `${c} ${median.scores[c]}`).join(', ')} (report in ${values.out})`);
      const minimum: Record<Category, number> = {
        performance: values['min-performance'],
        accessibility: values['min-accessibility'],
        'best-practices': values['min-best-practices'],
        seo: values['min-seo'],
      };
      const failed = CATEGORIES.filter((c) => median.scores[c] < minimum[c]);
      if (failed.length > 0) {
        // A measured score under its minimum, not a bug: one line, and exit code 1.
        console.error(`error: below the minimum: ${failed.map((c) => `${c} ${median.scores[c]} < ${minimum[c]}`).join(', ')}`);
        process.exitCode = 1;
      }
    } finally {
      server?.stop();
    }
  },
});
