import { SingleBar, Presets } from 'cli-progress';

/** Reports training progress: a bar on a terminal, plain lines otherwise. */
export interface Progress {
  /** Moves the bar (no-op in plain mode). */
  tick(iteration: number): void;
  /** Prints a line without tearing the bar. */
  log(line: string): void;
  stop(): void;
}

/** Creates a reporter; `mode` 'auto' picks the bar when stdout is a TTY. */
export function createProgress(mode: 'auto' | 'bar' | 'plain', start: number, total: number, out: NodeJS.WriteStream = process.stdout): Progress {
  const useBar = mode === 'bar' || (mode === 'auto' && out.isTTY === true);
  if (!useBar) {
    return { tick: () => {}, log: (line) => void out.write(`${line}\n`), stop: () => {} };
  }
  const bar = new SingleBar(
    { format: ' {bar} {value}/{total} | {rate} it/s | ETA {eta_formatted}', stream: out, etaBuffer: 200, fps: 5, hideCursor: true },
    Presets.shades_classic,
  );
  const t0 = performance.now();
  bar.start(total, start, { rate: '0.0' });
  return {
    tick: (iteration) => bar.update(iteration, { rate: (((iteration - start) * 1000) / Math.max(1, performance.now() - t0)).toFixed(1) }),
    // cli-progress redraws after a newline-terminated write to the same stream.
    log: (line) => {
      out.write(`\r\x1b[2K${line}\n`);
      bar.render();
    },
    stop: () => bar.stop(),
  };
}
