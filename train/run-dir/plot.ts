import { Resvg } from '@resvg/resvg-js';

/** One reported point of a run. */
export interface MetricRecord {
  readonly iteration: number;
  readonly dLoss: number;
  readonly dAccuracy: number;
  readonly gLoss: number;
}

interface Series {
  readonly label: string;
  readonly color: string;
  readonly values: readonly number[];
}

const W = 900;
const PANEL_H = 260;
const M = { left: 60, right: 20, top: 30, bottom: 36 };

function esc(s: string): string {
  return s.replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c]!);
}

/** One panel: axes, ticks, a polyline per series, a legend. */
function panel(y0: number, title: string, xs: readonly number[], series: Series[], yRange?: [number, number], resets: readonly number[] = []): string {
  const all = series.flatMap((s) => s.values.filter(Number.isFinite));
  let [lo, hi] = yRange ?? [Math.min(0, ...all), Math.max(1e-6, ...all)];
  if (hi - lo < 1e-9) hi = lo + 1;
  const xMin = Math.min(...xs);
  const xMax = Math.max(xMin + 1, ...xs);
  const pw = W - M.left - M.right;
  const ph = PANEL_H - M.top - M.bottom;
  const px = (x: number): number => M.left + ((x - xMin) / (xMax - xMin)) * pw;
  const py = (y: number): number => y0 + M.top + ph - ((y - lo) / (hi - lo)) * ph;
  const parts: string[] = [`<text x="${M.left}" y="${y0 + 20}" font-size="15" font-weight="bold">${esc(title)}</text>`];
  parts.push(`<rect x="${M.left}" y="${y0 + M.top}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  for (let i = 0; i <= 4; i++) {
    const v = lo + ((hi - lo) * i) / 4;
    const y = py(v);
    parts.push(`<line x1="${M.left}" x2="${M.left + pw}" y1="${y}" y2="${y}" stroke="#eee"/>`);
    parts.push(`<text x="${M.left - 6}" y="${y + 4}" font-size="11" text-anchor="end">${+v.toFixed(2)}</text>`);
    const xv = xMin + ((xMax - xMin) * i) / 4;
    parts.push(`<text x="${px(xv)}" y="${y0 + M.top + ph + 16}" font-size="11" text-anchor="middle">${Math.round(xv)}</text>`);
  }
  for (const r of resets) {
    parts.push(`<line x1="${px(r)}" x2="${px(r)}" y1="${y0 + M.top}" y2="${y0 + M.top + ph}" stroke="#999" stroke-dasharray="4 3"/>`);
  }
  series.forEach((s, k) => {
    const pts = s.values.map((v, i) => `${px(xs[i]!).toFixed(1)},${py(Math.max(lo, Math.min(hi, v))).toFixed(1)}`).join(' ');
    parts.push(`<polyline points="${pts}" fill="none" stroke="${s.color}" stroke-width="1.6"/>`);
    const lx = M.left + pw - 150;
    const ly = y0 + M.top + 16 + k * 16;
    parts.push(`<line x1="${lx}" x2="${lx + 18}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"/>`);
    parts.push(`<text x="${lx + 24}" y="${ly}" font-size="12">${esc(s.label)}</text>`);
  });
  return parts.join('\n');
}

/** A classifier-FID measurement during training. */
export interface FidRecord {
  readonly iteration: number;
  readonly fid: number;
  /** Conditional models: the share of samples classified as the digit asked, per digit. */
  readonly classAccuracy?: readonly number[];
}

/**
 * The SVG of a run's loss and accuracy curves against iteration, and, when measured, the classifier-FID
 * and (conditional models) the worst digit's accuracy.
 */
export function curvesSvg(records: readonly MetricRecord[], resets: readonly number[] = [], fids: readonly FidRecord[] = []): string {
  const xs = records.map((r) => r.iteration);
  const body = [
    panel(
      0,
      'Losses',
      xs,
      [
        { label: 'discriminator', color: '#1f77b4', values: records.map((r) => r.dLoss) },
        { label: 'generator', color: '#d62728', values: records.map((r) => r.gLoss) },
      ],
      undefined,
      resets,
    ),
    panel(
      PANEL_H,
      'Discriminator accuracy (%)',
      xs,
      [{ label: 'accuracy', color: '#2ca02c', values: records.map((r) => 100 * r.dAccuracy) }],
      [0, 100],
      resets,
    ),
  ];
  if (fids.length > 0) {
    body.push(
      panel(
        2 * PANEL_H,
        'Classifier-FID (lower is better)',
        fids.map((f) => f.iteration),
        [{ label: 'FID', color: '#9467bd', values: fids.map((f) => f.fid) }],
        undefined,
        resets,
      ),
    );
  }
  const conditional = fids.filter((f) => f.classAccuracy !== undefined && f.classAccuracy.length > 0);
  if (conditional.length > 0) {
    body.push(
      panel(
        body.length * PANEL_H,
        'Worst digit: % classified as asked (higher is better)',
        conditional.map((f) => f.iteration),
        [{ label: 'worst digit', color: '#ff7f0e', values: conditional.map((f) => 100 * Math.min(...f.classAccuracy!)) }],
        [0, 100],
        resets,
      ),
    );
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${body.length * PANEL_H}" font-family="DejaVu Sans, sans-serif">
<rect width="100%" height="100%" fill="white"/>
${body.join('\n')}
</svg>`;
}

/** Renders the curves to PNG bytes (text needs a system font; lines render without one). */
export function curvesPng(records: readonly MetricRecord[], resets: readonly number[] = [], fids: readonly FidRecord[] = []): Buffer {
  if (records.length === 0) throw new Error('No metric records to plot');
  return new Resvg(curvesSvg(records, resets, fids), { font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } }).render().asPng();
}
