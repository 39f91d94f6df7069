import * as tf from '@tensorflow/tfjs';
import { describeSelection, selectBackend, type BackendChoice, type BackendSelection } from './backend.ts';
import { CONDITIONAL_KINDS, type ModelKind } from '../gan/models.ts';

/**
 * Selects the tfjs backend (ganforge's WASM kernels are installed when WASM loads) and logs the choice.
 * Shared by the training and benchmark entry points.
 */
export async function startBackend(choice: BackendChoice, log: (line: string) => void, requiredKernels: readonly string[] = []): Promise<BackendSelection> {
  // Production mode: no debug checks, and no banner suggesting tfjs-node (the selection log says it).
  tf.enableProdMode();
  const selection = await selectBackend(tf, choice, undefined, requiredKernels);
  log(describeSelection(selection));
  return selection;
}

/** Kernels a model's training needs beyond the dense basics (the convolution gradients for dcgan). */
export function kernelsFor(model: ModelKind): string[] {
  const conv = ['Conv2DBackpropFilter', 'Conv2DBackpropInput'];
  // The conditional generators' Embedding needs UnsortedSegmentSum for its gradient.
  return model === 'dcgan' ? conv : CONDITIONAL_KINDS.includes(model) ? [...conv, 'UnsortedSegmentSum'] : [];
}
