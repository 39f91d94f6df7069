import { defineCommand } from '../../lib/cli/command.ts';
import { conversionBackend, convertFile } from '../export/onnx/convert-file.ts';

/** `ganforge convert <model.json> <out.onnx>`: any tfjs layers model to ONNX. */
export const convertCommand = defineCommand({
  name: 'convert',
  summary: 'convert any tfjs layers model (model.json + weights) to ONNX',
  usage: '<model.json> <out.onnx>',
  flags: {},
  positionals: { min: 2, max: 2, names: '<model.json> <out.onnx>' },
  async run({ positionals }) {
    const [input, output] = positionals as [string, string];
    await conversionBackend();
    const { bytes, inputs, outputs } = await convertFile(input, output);
    console.log(`wrote ${output} (${bytes} bytes; inputs ${inputs.join(', ')}; outputs ${outputs.join(', ')})`);
  },
});
