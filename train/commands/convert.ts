import { type Command, defineCommand } from '../../lib/cli/command.ts';
import { type Difference, difference, TOLERANCE, withinTolerance } from '../../shared/compare.ts';
import type { NamedTensors } from '../../shared/tensor-spec.ts';
import { DEFAULT_MAX_PARAMETERS } from '../tfjs/model-io.ts';
import { DEFAULT_OPSET, MAX_OPSET, MIN_OPSET } from '../export/onnx/graph-builder.ts';
import { conversionBackend, convertFile } from '../export/onnx/convert-file.ts';
import { formatReport } from '../export/onnx/report.ts';

/** Runs ONNX bytes on inputs (onnxruntime-node, wired in by bin/: training code does not import it). */
export type OnnxRunner = (onnx: Uint8Array, inputs: NamedTensors) => Promise<NamedTensors>;

const FLAGS = {
  opset: { kind: 'int', min: MIN_OPSET, max: MAX_OPSET, default: DEFAULT_OPSET, help: 'ONNX opset to write' },
  fp16: { kind: 'boolean', help: 'store weights as float16 (half the download; the error vs float32 is measured and printed)' },
  report: { kind: 'boolean', help: 'print a table of tfjs layers -> ONNX nodes and parameter counts' },
  'max-parameters': { kind: 'int', min: 1, default: DEFAULT_MAX_PARAMETERS, help: 'refuse models that declare more parameters' },
  samples: { kind: 'int', min: 0, max: 64, default: 4, help: 'random inputs the converted model is checked on (0: no check)' },
} as const;

const shape = (s: ReadonlyArray<number | string>): string => `[${s.join(',')}]`;

function describe(d: Difference): string {
  const rel = d.relLarge > 0 ? `, relative above 1: ${d.relLarge.toExponential(1)}` : '';
  return `worst |difference| ${d.abs.toExponential(1)} (output ${d.output})${rel}`;
}

/**
 * `ganforge convert <model.json> <out.onnx>`: any tfjs layers model to ONNX. With a runner (the CLI
 * passes onnxruntime-node's), the result is checked against tfjs on random inputs, and --fp16's error
 * against the float32 model is measured.
 */
export function createConvertCommand(runner?: OnnxRunner): Command<typeof FLAGS> {
  return defineCommand({
    name: 'convert',
    summary: 'convert any tfjs layers model (model.json + weights) to ONNX',
    usage: '<model.json> <out.onnx> [--opset N] [--fp16] [--report]',
    description:
      'Converts a tfjs layers model (tfjs model.save(), tensorflowjs_converter, Keras 2 or 3 exports; sharded and quantized weights) to ONNX, then checks it against tfjs on random inputs.',
    flags: FLAGS,
    positionals: { min: 2, max: 2, names: '<model.json> <out.onnx>' },
    async run({ values, positionals }) {
      const [input, output] = positionals as [string, string];
      await conversionBackend();
      const result = await convertFile(input, output, {
        opset: values.opset,
        fp16: values.fp16,
        maxParameters: values['max-parameters'],
        sampleBatch: runner ? values.samples : 0,
      });
      const io = (list: typeof result.inputs): string => list.map((t) => `${t.name} ${shape(t.shape)} ${t.dtype}`).join(', ');
      console.log(
        `wrote ${output} (${result.onnx.length} bytes, opset ${result.opset}, ${result.parameters} parameters; inputs ${io(result.inputs)}; outputs ${io(result.outputs)})`,
      );
      for (const note of result.loadNotes) console.log(`note: ${note}`);
      for (const row of result.report) for (const note of row.notes) if (!note.startsWith('folded into')) console.log(`note: ${row.layer}: ${note}`);
      if (runner && result.sample) {
        const fp32 = await runner(result.fp32Onnx ?? result.onnx, result.sample.inputs);
        const check = difference(result.sample.outputs, fp32);
        const ok = withinTolerance(check);
        console.log(
          `checked on ${values.samples} random samples: tfjs vs ONNX ${describe(check)}${ok ? '' : ` - WARNING: outside ganforge's tolerance (${TOLERANCE.abs} absolute, ${TOLERANCE.rel} relative above 1)`}`,
        );
        if (result.fp32Onnx) {
          const half = difference(fp32, await runner(result.onnx, result.sample.inputs));
          console.log(`--fp16: ${result.onnx.length} bytes instead of ${result.fp32Onnx.length}; fp16 vs fp32 ${describe(half)}`);
        }
      } else if (result.fp32Onnx) {
        console.log(`--fp16: ${result.onnx.length} bytes instead of ${result.fp32Onnx.length} (error not measured: --samples 0)`);
      }
      if (values.report) console.log(`\n${formatReport(result.report)}`);
    },
  });
}
