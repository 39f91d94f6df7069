import * as tf from '@tensorflow/tfjs';
import { describeSelection, selectBackend, type BackendChoice, type BackendSelection } from './backend.ts';
import { registerWasmKernels } from './wasm-kernels.ts';

/**
 * Selects the tfjs backend, installs ganforge's WASM kernels when WASM runs, and logs the choice.
 * Shared by the training and benchmark entry points.
 */
export async function startBackend(choice: BackendChoice, log: (line: string) => void): Promise<BackendSelection> {
  // tfjs prints a banner suggesting tfjs-node when it is missing; the selection log says it better.
  tf.env().set('IS_TEST', true);
  const selection = await selectBackend(tf, choice);
  if (selection.name === 'wasm') registerWasmKernels();
  log(describeSelection(selection));
  return selection;
}
