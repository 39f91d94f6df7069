import { parseArgs } from 'node:util';
import { runCli } from './cli.ts';
import { conversionBackend, convertFile } from './export.ts';

// `npm run convert -- <model.json> <out.onnx>`: any tfjs layers model to ONNX.
runCli(async () => {
  const { positionals } = parseArgs({ args: process.argv.slice(2), strict: true, allowPositionals: true, options: {} });
  if (positionals.length !== 2) throw new Error(`Expected <model.json> <out.onnx> but received ${positionals.length} argument(s)`);
  await conversionBackend();
  const [input, output] = positionals as [string, string];
  const { bytes, inputs, outputs } = await convertFile(input, output);
  console.log(`wrote ${output} (${bytes} bytes; inputs ${inputs.join(', ')}; outputs ${outputs.join(', ')})`);
});
