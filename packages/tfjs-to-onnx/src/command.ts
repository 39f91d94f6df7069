import { parseArgs } from 'node:util';
import { compareOutputs, type Difference, difference, type OutputDifference, TOLERANCE, withinTolerance } from './compare.ts';
import { conversionBackend, convertFile } from './convert-file.ts';
import { type GraphModelConversion, parseInputShapes, parseSampleValues } from './graph/convert-graph.ts';
import { describeRange, expected } from './expected.ts';
import { DEFAULT_OPSET, MAX_OPSET, MIN_OPSET } from './graph-builder.ts';
import { DEFAULT_MAX_PARAMETERS } from './model-io.ts';
import { requireOnnxRuntime, runOnnxGraph, runOnnxModel } from './onnxruntime.ts';
import { formatGraphReport, formatReport } from './report.ts';

/** One flag of the command: an integer with bounds, a switch, or a text (no default: absent is undefined). */
export type ConvertFlag =
  | { readonly kind: 'int'; readonly min: number; readonly max?: number; readonly default: number; readonly help: string }
  | { readonly kind: 'boolean'; readonly help: string }
  | { readonly kind: 'string'; readonly help: string; readonly placeholder: string };

/** The flags of `tfjs-to-onnx` (and of `ganforge convert`, which runs this same command). */
export const CONVERT_FLAGS = {
  opset: { kind: 'int', min: MIN_OPSET, max: MAX_OPSET, default: DEFAULT_OPSET, help: 'ONNX opset to write' },
  fp16: { kind: 'boolean', help: 'store weights as float16 (half the download; the error vs float32 is measured and printed)' },
  report: { kind: 'boolean', help: 'print a table of tfjs layers -> ONNX nodes and parameter counts (graph models: tfjs ops -> ONNX nodes)' },
  'max-parameters': { kind: 'int', min: 1, default: DEFAULT_MAX_PARAMETERS, help: 'refuse models that declare more parameters' },
  samples: { kind: 'int', min: 0, max: 64, default: 4, help: 'random inputs the converted model is checked on (0: no check)' },
  'input-shape': {
    kind: 'string',
    placeholder: 'name=d1,d2,...',
    help: "graph models: fix an input's unknown sizes (-1 keeps one unknown; several inputs separated by ';')",
  },
  'sample-value': {
    kind: 'string',
    placeholder: 'name=value',
    help: "graph models: check with this input filled with one value instead of random ones (a ratio, a zero state; several separated by ';')",
  },
} as const satisfies Record<string, ConvertFlag>;

/** The parsed values of {@link CONVERT_FLAGS}. */
export interface ConvertFlagValues {
  readonly opset: number;
  readonly fp16: boolean;
  readonly report: boolean;
  readonly 'max-parameters': number;
  readonly samples: number;
  /** Graph models: `name=d1,d2,...[;name2=...]`. */
  readonly 'input-shape'?: string;
  /** Graph models: `name=value[;name2=value]`. */
  readonly 'sample-value'?: string;
}

/** The parsed command line: flag values and the two paths. */
export interface ConvertArgs {
  readonly values: ConvertFlagValues;
  readonly positionals: readonly string[];
}

/** The convert command: its flags, help texts and what it does; any command-line runner can mount it. */
export interface ConvertCommand {
  readonly name: 'convert';
  readonly summary: string;
  readonly usage: string;
  readonly description: string;
  readonly flags: typeof CONVERT_FLAGS;
  readonly positionals: { readonly min: 2; readonly max: 2; readonly names: '<model.json> <out.onnx>' };
  /** Converts, checks and prints; output lines go to `log` (default console.log). */
  run(args: ConvertArgs, argv?: readonly string[], log?: (line: string) => void): Promise<void>;
}

const shape = (s: ReadonlyArray<number | string>): string => `[${s.join(',')}]`;

function describe(d: Difference): string {
  const rel = d.relLarge > 0 ? `, relative above 1: ${d.relLarge.toExponential(1)}` : '';
  return `worst |difference| ${d.abs.toExponential(1)} (output ${d.output})${rel}`;
}

/**
 * `tfjs-to-onnx <model.json> <out.onnx>`: any tfjs layers model to ONNX. Unless `--samples 0`, the result
 * is checked against tfjs on random inputs with onnxruntime-node (an optional peer dependency, loaded
 * before anything is converted so that its absence fails at once), and --fp16's error against the
 * float32 model is measured.
 */
export const convertCommand: ConvertCommand = {
  name: 'convert',
  summary: 'convert any tfjs layers or graph model (model.json + weights) to ONNX',
  usage: '<model.json> <out.onnx> [--opset N] [--fp16] [--report]',
  description:
    'Converts a tfjs layers model (tfjs model.save(), tensorflowjs_converter, Keras 2 or 3 exports) or graph model (tensorflowjs_converter output of SavedModels and TF Hub models), sharded and quantized weights included, to ONNX, then checks it against tfjs on random inputs.',
  flags: CONVERT_FLAGS,
  positionals: { min: 2, max: 2, names: '<model.json> <out.onnx>' },
  async run({ values, positionals }, _argv = [], log = console.log) {
    const [input, output] = positionals as [string, string];
    const inputShapes = values['input-shape'] === undefined ? undefined : parseInputShapes(values['input-shape']);
    const sampleValues = values['sample-value'] === undefined ? undefined : parseSampleValues(values['sample-value']);
    if (values.samples > 0) await requireOnnxRuntime();
    await conversionBackend();
    const result = await convertFile(input, output, {
      opset: values.opset,
      fp16: values.fp16,
      maxParameters: values['max-parameters'],
      sampleBatch: values.samples,
      ...(inputShapes ? { inputShapes } : {}),
      ...(sampleValues ? { sampleValues } : {}),
    });
    if (result.kind === 'graph-model') {
      await reportGraph(result, output, values, log);
      return;
    }
    const io = (list: typeof result.inputs): string => list.map((t) => `${t.name} ${shape(t.shape)} ${t.dtype}`).join(', ');
    log(
      `wrote ${output} (${result.onnx.length} bytes, opset ${result.opset}, ${result.parameters} parameters; inputs ${io(result.inputs)}; outputs ${io(result.outputs)})`,
    );
    for (const note of result.loadNotes) log(`note: ${note}`);
    for (const row of result.report) for (const note of row.notes) if (!note.startsWith('folded into')) log(`note: ${row.layer}: ${note}`);
    if (result.sample) {
      const fp32 = await runOnnxModel(result.fp32Onnx ?? result.onnx, result.sample.inputs);
      const check = difference(result.sample.outputs, fp32);
      const ok = withinTolerance(check);
      log(
        `checked on ${values.samples} random samples: tfjs vs ONNX ${describe(check)}${ok ? '' : ` - WARNING: outside the tolerance (${TOLERANCE.abs} absolute, ${TOLERANCE.rel} relative above 1)`}`,
      );
      if (result.fp32Onnx) {
        const half = difference(fp32, await runOnnxModel(result.onnx, result.sample.inputs));
        log(`--fp16: ${result.onnx.length} bytes instead of ${result.fp32Onnx.length}; fp16 vs fp32 ${describe(half)}`);
      }
    } else if (result.fp32Onnx) {
      log(`--fp16: ${result.onnx.length} bytes instead of ${result.fp32Onnx.length} (error not measured: --samples 0)`);
    }
    if (values.report) log(`\n${formatReport(result.report)}`);
  },
};

/** One line per output: its worst difference (floats) or whether it is exact (integers and bools). */
function describeOutput(d: OutputDifference): string {
  const head = `  output ${d.name} ${shape(d.shape)} ${d.dtype}: `;
  if (d.problem) return `${head}WARNING: ${d.problem}`;
  if (d.dtype !== 'float32') {
    return `${head}${d.mismatches === 0 ? 'exact' : `${d.mismatches} values differ - WARNING: integer outputs must be exact`}`;
  }
  const rel = d.relLarge > 0 ? `, relative above 1: ${d.relLarge.toExponential(1)}` : '';
  // The output's scale: deep models on random inputs reach large values, where float32 rounding alone differs by more than the tolerance.
  const scaled = d.largest > 1 ? `, ${(d.abs / d.largest).toExponential(1)} of the largest |value| ${d.largest.toExponential(1)}` : '';
  return `${head}worst |difference| ${d.abs.toExponential(1)}${rel}${scaled}${d.ok ? '' : ` - WARNING: outside the tolerance (${TOLERANCE.abs} absolute, ${TOLERANCE.rel} relative above 1)`}`;
}

/** What the command prints for a graph model. */
async function reportGraph(result: GraphModelConversion, output: string, values: ConvertFlagValues, log: (line: string) => void): Promise<void> {
  const io = (list: typeof result.inputs): string => list.map((t) => `${t.name} ${shape(t.shape)} ${t.dtype}`).join(', ');
  log(
    `wrote ${output} (${result.onnx.length} bytes, opset ${result.opset}, ${result.parameters} parameters; graph model; inputs ${io(result.inputs)}; outputs ${io(result.outputs)})`,
  );
  for (const note of result.loadNotes) log(`note: ${note}`);
  if (result.sample) {
    const fp32 = await runOnnxGraph(result.fp32Onnx ?? result.onnx, result.sample.inputs);
    const rows = compareOutputs(result.sample.outputs, fp32);
    const fed = Object.entries(result.sample.inputs)
      .map(([name, t]) => `${name} ${shape(t.shape)}`)
      .join(', ');
    log(
      `checked against tfjs executeAsync on random inputs (${fed}): ${rows.every((r) => r.ok) ? 'every output within the tolerance' : 'WARNING: some outputs differ'}`,
    );
    for (const row of rows) log(describeOutput(row));
    if (!rows.every((r) => r.ok) && rows.every((r) => !r.problem && r.mismatches === 0)) {
      log(
        "note: on random inputs float32 rounding alone can move a deep model's outputs this much (for the README's Real models, tfjs against itself on inputs changed by one rounding differs as much): differences near 1e-6 of an output's largest value are rounding, not conversion errors",
      );
    }
    if (result.fp32Onnx) {
      const half = compareOutputs(fp32, await runOnnxGraph(result.onnx, result.sample.inputs));
      const worst = half.filter((r) => r.dtype === 'float32').reduce((m, r) => Math.max(m, r.abs), 0);
      log(`--fp16: ${result.onnx.length} bytes instead of ${result.fp32Onnx.length}; fp16 vs fp32 worst |difference| ${worst.toExponential(1)}`);
    }
  } else if (result.fp32Onnx) {
    log(`--fp16: ${result.onnx.length} bytes instead of ${result.fp32Onnx.length} (error not measured: --samples 0)`);
  }
  if (values.report) log(`\n${formatGraphReport(result.report)}`);
}

/** What {@link parseConvertArgs} returns: the arguments, or a request for help. */
export type ParsedConvertArgs = (ConvertArgs & { readonly help: false }) | { readonly help: true };

/**
 * Parses a command line against {@link CONVERT_FLAGS} (node's `util.parseArgs`, strict): unknown flags,
 * missing or ill-typed values and a wrong number of paths are errors naming what is wrong.
 */
export function parseConvertArgs(argv: readonly string[]): ParsedConvertArgs {
  const options = Object.fromEntries(
    Object.entries(CONVERT_FLAGS).map(([name, f]: [string, ConvertFlag]) => [name, { type: f.kind === 'boolean' ? 'boolean' : 'string' }] as const),
  );
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options: { ...options, help: { type: 'boolean' } }, strict: true, allowPositionals: true });
  } catch (err) {
    // node's messages are clear ("Unknown option '--foo'"); its advice about '--' separators is not.
    throw new Error(((err as Error).message.split('\n')[0] ?? '').split('. To specify')[0]!.replace(/\.$/, ''));
  }
  if (parsed.values.help === true) return { help: true };
  const int = (name: 'opset' | 'max-parameters' | 'samples'): number => {
    const flag = CONVERT_FLAGS[name];
    const raw = parsed.values[name];
    if (typeof raw !== 'string') return flag.default;
    const max = 'max' in flag ? flag.max : undefined;
    const n = raw.trim() === '' ? Number.NaN : Number(raw);
    if (!Number.isInteger(n) || n < flag.min || (max !== undefined && n > max)) throw expected(describeRange('integer', flag.min, max), `--${name}`, raw);
    return n;
  };
  const values: ConvertFlagValues = {
    opset: int('opset'),
    fp16: parsed.values.fp16 === true,
    report: parsed.values.report === true,
    'max-parameters': int('max-parameters'),
    samples: int('samples'),
    ...(typeof parsed.values['input-shape'] === 'string' ? { 'input-shape': parsed.values['input-shape'] } : {}),
    ...(typeof parsed.values['sample-value'] === 'string' ? { 'sample-value': parsed.values['sample-value'] } : {}),
  };
  const paths = parsed.positionals;
  if (paths.length !== 2) throw expected('2 arguments', '<model.json> <out.onnx>', paths.length ? paths.join(' ') : undefined);
  return { help: false, values, positionals: paths };
}

/** The --help text: usage, description, one line per flag with its default. */
export function convertHelp(program = 'tfjs-to-onnx'): string {
  const rows = Object.entries(CONVERT_FLAGS).map(([name, f]: [string, ConvertFlag]) => [
    `--${name}${f.kind === 'int' ? ' <int>' : f.kind === 'string' ? ` <${f.placeholder}>` : ''}`,
    `${f.help}${f.kind === 'int' ? ` [default: ${f.default}]` : ''}`,
  ]);
  rows.push(['--help', 'print this help']);
  const width = Math.max(...rows.map(([l]) => l!.length)) + 2;
  return [`Usage: ${program} ${convertCommand.usage}`, '', convertCommand.description, '', 'Flags:', ...rows.map(([l, h]) => `  ${l!.padEnd(width)}${h}`)].join(
    '\n',
  );
}
