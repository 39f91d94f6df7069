import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { type Clock, formatOpenLoopTable, httpSender, percentiles, quantile, runOpenLoop, type Send } from '../../bench/open-loop.ts';

// The open-loop load of `bench serve --rate/--rates` (bench/open-loop.ts), on virtual time against
// simulated servers: latency counted from each request's scheduled send time, whatever the server or the
// load generator itself does. (It lives here beside the server's suites; bench/'s own are in test/bench/.)

/** Virtual time: sleeps and simulated responses are timers, run in time order, with every promise chain settled in between. */
class VirtualTime implements Clock {
  private t = 0;
  private seq = 0;
  private readonly timers: { at: number; seq: number; fire: () => void }[] = [];
  /** A sleep that would wake in [from, to) wakes at `to`: the load generator's own event loop stalled. */
  stall: { from: number; to: number } | null = null;

  now(): number {
    return this.t;
  }

  sleep(ms: number): Promise<void> {
    let wake = this.t + ms;
    if (this.stall && wake >= this.stall.from && wake < this.stall.to) wake = this.stall.to;
    return new Promise((resolve) => this.at(wake, resolve));
  }

  at(time: number, fire: () => void): void {
    this.timers.push({ at: time, seq: this.seq++, fire });
  }

  /** Runs the timers until `done` settles. */
  async run<T>(done: Promise<T>): Promise<T> {
    let settled = false;
    done.then(
      () => (settled = true),
      () => (settled = true),
    );
    for (;;) {
      await new Promise((resolve) => setImmediate(resolve));
      if (settled) return done;
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers.shift();
      if (!next) throw new Error('nothing left to run, and the load has not finished');
      this.t = Math.max(this.t, next.at);
      next.fire();
    }
  }
}

/** One request at a time, first come first served, `serviceMs` each: a server with a queue. */
function fifoServer(clock: VirtualTime, serviceMs: number, status: (i: number) => number = () => 200): Send {
  let free = 0;
  let i = 0;
  return () =>
    new Promise((resolve) => {
      const code = status(i++);
      free = Math.max(clock.now(), free) + serviceMs;
      clock.at(free, () => resolve(code));
    });
}

test('a server slower than the arrival rate: latency from the scheduled time grows with the queue, as the requests really waited', async () => {
  const clock = new VirtualTime();
  // 100 req/s (one every 10 ms) for 1 s against 20 ms per request: request k ends at 20(k+1), was due at 10k.
  const r = await clock.run(runOpenLoop(fifoServer(clock, 20), { rate: 100, warmupMs: 0, durationMs: 1000, graceMs: 5000 }, clock));
  assert.equal(r.sent, 100);
  assert.deepEqual(r.latency, { n: 100, p50: 510, p90: 910, p99: 1000, p999: 1010, max: 1010 });
  // A closed loop would have reported 20 ms for every request.
  assert.equal(r.achieved, 49, 'responses that ended within the measured second: the server delivers 50 req/s');
  assert.deepEqual([r.offered, r.non2xx, r.errors, r.unanswered, r.maxSendLagMs], [100, 0, 0, 0, 0]);
});

test('a server faster than the rate: the service time, and the offered rate achieved; the warm-up is not measured', async () => {
  const clock = new VirtualTime();
  const r = await clock.run(runOpenLoop(fifoServer(clock, 5), { rate: 100, warmupMs: 500, durationMs: 500, graceMs: 1000 }, clock));
  assert.equal(r.sent, 50, 'only the requests due after the warm-up');
  assert.deepEqual([r.latency.p50, r.latency.max], [5, 5]);
  assert.equal(r.achieved, 100);
});

test('a stalled load generator: the requests it sent late are timed from when they were due (no coordinated omission)', async () => {
  const clock = new VirtualTime();
  clock.stall = { from: 200, to: 300 };
  const r = await clock.run(runOpenLoop(fifoServer(clock, 1), { rate: 100, warmupMs: 0, durationMs: 1000, graceMs: 1000 }, clock));
  // The 11 requests due at 200, 210, ... 300 go out together at 300 and end at 301, 302, ... 311.
  assert.equal(r.maxSendLagMs, 100);
  assert.equal(r.latency.max, 101);
  assert.equal(r.sent, 100);
  assert.equal(r.latency.p50, 1, 'most requests were on time');
});

test('non-2xx answers, socket errors and requests never answered are counted apart', async () => {
  const clock = new VirtualTime();
  // Of every 4 requests: one 200, one 503, one reset, one never answered.
  const server = fifoServer(clock, 1, (i) => (i % 2 === 1 ? 503 : 200));
  let i = 0;
  const send: Send = () => {
    const k = i++;
    if (k % 4 === 2) return Promise.reject(new Error('ECONNRESET'));
    if (k % 4 === 3) return new Promise(() => {}); // never answered
    return server();
  };
  const r = await clock.run(runOpenLoop(send, { rate: 40, warmupMs: 0, durationMs: 1000, graceMs: 500 }, clock));
  assert.deepEqual([r.sent, r.latency.n, r.non2xx, r.errors, r.unanswered], [40, 20, 10, 10, 10]);
});

test('percentiles are nearest-rank; the table has a row per rate', () => {
  const values = Array.from({ length: 1000 }, (_, i) => 1000 - i);
  assert.deepEqual(percentiles(values), { n: 1000, p50: 500, p90: 900, p99: 990, p999: 999, max: 1000 });
  assert.equal(quantile([7], 0.999), 7);
  assert.ok(Number.isNaN(percentiles([]).p99));
  const row = { offered: 50, achieved: 49.5, sent: 100, latency: percentiles([1, 2, 3]), non2xx: 1, errors: 0, unanswered: 0, maxSendLagMs: 0.4 };
  const table = formatOpenLoopTable([row, { ...row, offered: 100 }]).split('\n');
  assert.equal(table.length, 3);
  assert.match(table[0]!, /offered req\/s +achieved req\/s +p50 ms +p90 ms +p99 ms +p99\.9 ms +max ms +non-2xx +errors +unanswered +send lag ms/);
  assert.match(table[1]!, /^ +50 +49\.5 +2\.0 +3\.0 +3\.0 +3\.0 +3\.0 +1 +0 +0 +0\.4$/);
});

test('over HTTP: every scheduled request is sent on at most the sockets given, and its status counted', async () => {
  let open = 0;
  const server = createServer((req, res) => res.writeHead(req.url === '/fail' ? 503 : 200).end('ok'));
  server.on('connection', () => open++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const ok = httpSender(`${base}/`, 2);
    const r = await runOpenLoop(ok.send, { rate: 100, warmupMs: 0, durationMs: 300, graceMs: 5000 });
    ok.close();
    assert.deepEqual([r.sent, r.latency.n, r.non2xx, r.errors, r.unanswered], [30, 30, 0, 0, 0]);
    assert.ok(open <= 2, `${open} connections for 30 requests`);
    const failing = httpSender(`${base}/fail`, 2);
    const f = await runOpenLoop(failing.send, { rate: 100, warmupMs: 0, durationMs: 100, graceMs: 5000 });
    failing.close();
    assert.deepEqual([f.sent, f.non2xx], [10, 10]);
  } finally {
    server.close();
  }
  const refused = httpSender(base, 1);
  const e = await runOpenLoop(refused.send, { rate: 100, warmupMs: 0, durationMs: 50, graceMs: 5000 });
  refused.close();
  assert.deepEqual([e.sent, e.errors], [5, 5], 'socket errors once nothing listens');
});
