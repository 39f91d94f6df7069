import type { LayerReport } from './convert.ts';

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
