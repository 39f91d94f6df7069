import type { LayerReport } from './convert.ts';
import type { GraphOpReport } from './graph/convert-graph.ts';

/** ONNX op types as a short list: 'Conv, Relu' or 'MatMul, Add x2'. */
export function opList(ops: readonly string[]): string {
  const counts: [string, number][] = [];
  for (const op of ops) {
    const last = counts[counts.length - 1];
    if (last && last[0] === op) last[1]++;
    else counts.push([op, 1]);
  }
  return counts.map(([op, n]) => (n > 1 ? `${op} x${n}` : op)).join(', ');
}

/** The --report table: one row per tfjs layer with its ONNX nodes and parameter count, and totals. */
export function formatReport(report: readonly LayerReport[]): string {
  const rows = report.map((r) => [
    r.layer,
    r.className,
    r.nodes.length ? opList(r.nodes) : r.notes.length ? '' : '(none: identity)',
    String(r.parameters),
    r.notes.join('; '),
  ]);
  const header = ['tfjs layer', 'class', 'ONNX nodes', 'params', 'notes'];
  const total = ['total', '', `${report.reduce((s, r) => s + r.nodes.length, 0)} nodes`, String(report.reduce((s, r) => s + r.parameters, 0)), ''];
  const all = [header, ...rows, total];
  const widths = header.map((_, i) => Math.min(48, Math.max(...all.map((r) => r[i]!.length))));
  const line = (r: string[]): string =>
    r
      .map((cell, i) => (i === 3 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line), line(total)].join('\n');
}

/** The --report table of a graph model: one row per TensorFlow op with its node count and ONNX nodes. */
export function formatGraphReport(report: readonly GraphOpReport[]): string {
  const rows = [...report]
    .sort((a, b) => b.count - a.count || a.op.localeCompare(b.op))
    .map((r) => [
      r.op,
      r.count ? String(r.count) : '',
      r.nodes.length ? opList([...r.nodes].sort()) : r.op === 'Const' ? '(initializers)' : r.notes.length || r.folded ? '' : '(none)',
      [...(r.folded ? [`${r.folded} computed when converting`] : []), ...r.notes].join('; '),
    ]);
  const header = ['tfjs op', 'nodes', 'ONNX nodes', 'notes'];
  const total = ['total', String(report.reduce((s, r) => s + r.count, 0)), `${report.reduce((s, r) => s + r.nodes.length, 0)} nodes`, ''];
  const all = [header, ...rows, total];
  const widths = header.map((_, i) => Math.min(60, Math.max(...all.map((r) => r[i]!.length))));
  const line = (r: string[]): string =>
    r
      .map((cell, i) => (i === 1 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line), line(total)].join('\n');
}
