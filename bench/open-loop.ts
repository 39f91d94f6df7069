import { Agent, get } from 'node:http';

/**
 * Open-loop load (as wrk2 measures it): requests go out at a constant arrival rate, on a schedule fixed
 * in advance and independent of the answers, and each latency is counted from the request's scheduled
 * send time. A slow server (or a stalled load generator) then shows in the latencies of every request
 * that had to wait, instead of quietly lowering the rate as a closed loop does ("coordinated omission").
 */

/** Latency figures, in ms (nearest-rank percentiles). */
export interface Percentiles {
  readonly n: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

/** The nearest-rank `q` quantile (0 < q <= 1) of ascending values: the smallest value with at least q of them at or below it. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length))) - 1]!;
}

/** p50, p90, p99, p99.9 and max of some latencies (NaN for none). */
export function percentiles(values: readonly number[]): Percentiles {
  const s = [...values].sort((a, b) => a - b);
  return { n: s.length, p50: quantile(s, 0.5), p90: quantile(s, 0.9), p99: quantile(s, 0.99), p999: quantile(s, 0.999), max: s.at(-1) ?? Number.NaN };
}

/** Time for the load loop: real by default, virtual in tests. */
export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
  /** Resolves after `ms`, or at once when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const REAL_CLOCK: Clock = {
  now: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      signal?.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
    }),
};

/** Sends one request; resolves with its status once the whole response is read, rejects on a socket error. */
export type Send = () => Promise<number>;

export interface OpenLoopOptions {
  /** Arrival rate, requests per second. */
  readonly rate: number;
  /** Load at the same rate before measuring (its requests are not counted). */
  readonly warmupMs: number;
  /** The measured part. */
  readonly durationMs: number;
  /** After the last send, how long answers are waited for; later ones count as unanswered. */
  readonly graceMs: number;
}

/** One rate's figures. */
export interface OpenLoopResult {
  /** The rate asked for (req/s). */
  readonly offered: number;
  /** Responses completed during the measured window, per second. */
  readonly achieved: number;
  /** Requests scheduled in the measured window (all of them are sent). */
  readonly sent: number;
  /** From scheduled send time to the end of the response, of the measured requests that were answered. */
  readonly latency: Percentiles;
  readonly non2xx: number;
  /** Socket errors (refused, reset). */
  readonly errors: number;
  /** Measured requests still unanswered `graceMs` after the last send. */
  readonly unanswered: number;
  /** How late the load generator itself sent a measured request, at worst (its own event loop's stalls). */
  readonly maxSendLagMs: number;
}

/**
 * Sends requests at `rate` per second for warm-up + duration: request i is due at start + i/rate; every
 * request due by the time the loop wakes goes out at once, timed from its own due time. As many may be
 * in flight as the sender allows.
 */
export async function runOpenLoop(send: Send, options: OpenLoopOptions, clock: Clock = REAL_CLOCK): Promise<OpenLoopResult> {
  const { rate, warmupMs, durationMs, graceMs } = options;
  const interval = 1000 / rate;
  const start = clock.now();
  const measureFrom = start + warmupMs;
  const end = measureFrom + durationMs;
  const total = Math.ceil(((warmupMs + durationMs) * rate) / 1000);
  const latencies: number[] = [];
  const outstanding = new Set<Promise<void>>();
  let sent = 0;
  let non2xx = 0;
  let errors = 0;
  let completedInWindow = 0;
  let maxSendLagMs = 0;
  for (let i = 0; i < total; ) {
    const now = clock.now();
    const due = start + i * interval;
    if (due > now) {
      await clock.sleep(due - now);
      continue;
    }
    for (; i < total && start + i * interval <= now; i++) {
      const scheduled = start + i * interval;
      const measured = scheduled >= measureFrom;
      if (measured) {
        sent++;
        maxSendLagMs = Math.max(maxSendLagMs, now - scheduled);
      }
      const request: Promise<void> = send()
        .then(
          (status) => {
            const t = clock.now();
            if (t >= measureFrom && t < end) completedInWindow++;
            if (!measured) return;
            latencies.push(t - scheduled);
            if (status < 200 || status > 299) non2xx++;
          },
          () => {
            if (measured) errors++;
          },
        )
        .finally(() => outstanding.delete(request));
      outstanding.add(request);
    }
  }
  if (outstanding.size > 0) {
    // The grace timer goes once every answer is in: it must not hold the process for its whole length.
    const answered = new AbortController();
    await Promise.race([Promise.all(outstanding), clock.sleep(graceMs, answered.signal)]);
    answered.abort();
  }
  return {
    offered: rate,
    achieved: (completedInWindow * 1000) / durationMs,
    sent,
    latency: percentiles(latencies),
    non2xx,
    errors,
    unanswered: sent - latencies.length - errors,
    maxSendLagMs,
  };
}

/** GETs of one URL on keep-alive connections, at most `sockets` at once (more requests wait for a socket, still timed from their schedule). */
export function httpSender(url: string, sockets: number): { send: Send; close(): void } {
  const agent = new Agent({ keepAlive: true, maxSockets: sockets });
  const target = new URL(url);
  const send: Send = () =>
    new Promise((resolve, reject) => {
      const req = get(target, { agent }, (res) => {
        res.on('error', reject);
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.resume();
      });
      req.on('error', reject);
    });
  return { send, close: () => agent.destroy() };
}

const ms = (v: number): string => (Number.isNaN(v) ? '-' : v.toFixed(1));

/** The figures of some rates as a table, one row per rate. */
export function formatOpenLoopTable(results: readonly OpenLoopResult[]): string {
  const head = ['offered req/s', 'achieved req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'non-2xx', 'errors', 'unanswered', 'send lag ms'];
  const rows = results.map((r) => [
    String(r.offered),
    r.achieved.toFixed(1),
    ms(r.latency.p50),
    ms(r.latency.p90),
    ms(r.latency.p99),
    ms(r.latency.p999),
    ms(r.latency.max),
    String(r.non2xx),
    String(r.errors),
    String(r.unanswered),
    ms(r.maxSendLagMs),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  return [head, ...rows].map((row) => row.map((cell, i) => cell.padStart(widths[i]!)).join('  ')).join('\n');
}
