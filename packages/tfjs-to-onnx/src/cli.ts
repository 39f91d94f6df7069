#!/usr/bin/env node
// The `tfjs-to-onnx` executable: `tfjs-to-onnx <model.json> <out.onnx> [--opset N] [--fp16] [--report]`.
import { convertCommand, convertHelp, parseConvertArgs } from './command.ts';
import { ParameterError } from './expected.ts';

/** One line for the user's mistakes and for the converter's refusals (plain Errors); the stack only for a bug. */
function report(err: unknown): string {
  if (!(err instanceof Error)) return `error: ${String(err)}`;
  if (err instanceof ParameterError || err.constructor === Error) return `error: ${err.message}`;
  return `error: ${err.stack ?? err.message}`;
}

try {
  const args = parseConvertArgs(process.argv.slice(2));
  if (args.help) console.log(convertHelp());
  else await convertCommand.run(args);
} catch (err) {
  console.error(report(err));
  process.exitCode = 1;
}
