import { runCommand } from '../lib/cli/command.ts';
import { runOnnxModel } from '../eval/onnx-compare.ts';
import { createConvertCommand } from '../train/commands/convert.ts';

await runCommand(createConvertCommand(runOnnxModel), process.argv.slice(2));
