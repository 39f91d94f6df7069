import { COUNTERS, type Counter, type ServerState, type StateSnapshot } from './shared-state.ts';

/**
 * With --workers, shared memory does not cross processes: each server process keeps its own state and
 * reports a snapshot of it to the primary over the cluster's IPC channel (every tick, and at once when
 * it becomes ready or starts draining); the primary, whose event loop serves no HTTP, sums the reports
 * into its own shared state, which its admin thread reads.
 */

/** A server process's state, sent to the primary. */
export interface StateReport {
  readonly type: 'ganforge:state';
  readonly snapshot: StateSnapshot;
}

/** The primary asking a server process to drain and exit (the primary got SIGTERM or SIGINT). */
export interface DrainRequest {
  readonly type: 'ganforge:drain';
  readonly signal: string;
}

export function isStateReport(m: unknown): m is StateReport {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'ganforge:state';
}

export function isDrainRequest(m: unknown): m is DrainRequest {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'ganforge:drain';
}

const zero = (): Record<Counter, number> => Object.fromEntries(COUNTERS.map((c) => [c, 0])) as Record<Counter, number>;

/**
 * The primary's sum of its server processes' reports, published into `target`: ready while at least one
 * process is ready (the primary hands connections only to processes that listen) and the primary is not
 * draining; gauges summed; counters summed with those of processes that exited, so that they never go
 * down when a process is replaced.
 */
export class ClusterState {
  private readonly live = new Map<number, StateSnapshot>();
  private readonly retired = zero();
  private draining = false;

  constructor(
    private readonly target: ServerState,
    /** Server processes the cluster runs (--workers). */
    private readonly processes: number,
  ) {
    this.publish();
  }

  /** A report from server process `id`. */
  report(id: number, snapshot: StateSnapshot): void {
    this.live.set(id, snapshot);
    this.publish();
  }

  /** Server process `id` exited: its counters so far are kept, its gauges dropped. */
  retire(id: number): void {
    const last = this.live.get(id);
    if (last) for (const c of COUNTERS) this.retired[c] += last.counters[c];
    this.live.delete(id);
    this.publish();
  }

  /** The primary is shutting down. */
  setDraining(): void {
    this.draining = true;
    this.publish();
  }

  private publish(): void {
    const all = [...this.live.values()];
    const sum = (f: (s: StateSnapshot) => number): number => all.reduce((total, s) => total + f(s), 0);
    const counters = zero();
    for (const c of COUNTERS) counters[c] = this.retired[c] + sum((s) => s.counters[c]);
    const readyProcesses = all.filter((s) => s.ready && !s.draining).length;
    const beats = all.map((s) => s.heartbeatMs).filter((t) => t > 0);
    this.target.publish({
      ready: readyProcesses > 0,
      draining: this.draining,
      models: Math.max(0, ...all.map((s) => s.models)),
      queuedImages: sum((s) => s.queuedImages),
      inFlight: sum((s) => s.inFlight),
      connections: sum((s) => s.connections),
      processes: this.processes,
      readyProcesses,
      // The oldest pulse: a process whose event loop is stuck shows here.
      heartbeatMs: beats.length > 0 ? Math.min(...beats) : 0,
      counters,
    });
  }
}
