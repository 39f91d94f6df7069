import * as tf from '@tensorflow/tfjs';

/**
 * Workarounds for tfjs-layers 4.22 bugs that break saving, loading or the symbolic shapes of models
 * (each checked by the converter's tests). Applied once, process-wide, before models are built:
 * - SeparableConv2D.getConfig() drops depthMultiplier, so a saved model does not load again;
 * - CategoryEncoding and CenterCrop compute their output shape by mutating their input's shape array,
 *   corrupting the shape of the tensor before them;
 * - Resizing's output shape drops the batch axis, and its call() (like CenterCrop's when it upsizes)
 *   resizes the list of inputs predict() passes instead of the tensor, so predict() fails; RandomWidth/RandomHeight report a
 *   width/height of -1;
 * - the activation 'gelu_new' is saved under a name the loader then looks up as 'geluNew', and Keras 3
 *   writes swish as 'silu'.
 */

type Shape = Array<number | null>;
type ClassEntry = [new (...args: never[]) => unknown, unknown];

function classOf(name: string): { prototype: Record<string, unknown> } | undefined {
  const entry = (tf.serialization.SerializationMap.getMap().classNameMap as Record<string, ClassEntry | undefined>)[name];
  return entry?.[0] as unknown as { prototype: Record<string, unknown> } | undefined;
}

function patch(
  name: string,
  method: string,
  wrap: (original: (...args: unknown[]) => unknown) => (this: Record<string, unknown>, ...args: unknown[]) => unknown,
): void {
  const cls = classOf(name);
  if (!cls) return;
  const original = cls.prototype[method] as (...args: unknown[]) => unknown;
  cls.prototype[method] = wrap(original);
}

const copy = (shape: unknown): unknown => (Array.isArray(shape) ? shape.map((d) => (Array.isArray(d) ? [...d] : d)) : shape);

let applied = false;

/** Applies the workarounds above (idempotent). */
export function applyTfjsFixes(): void {
  if (applied) return;
  applied = true;
  patch(
    'SeparableConv2D',
    'getConfig',
    (original) =>
      function (this: Record<string, unknown>) {
        return { ...(original.call(this) as object), depthMultiplier: this.depthMultiplier };
      },
  );
  for (const name of ['CategoryEncoding', 'CenterCrop']) {
    patch(
      name,
      'computeOutputShape',
      (original) =>
        function (this: Record<string, unknown>, shape: unknown) {
          return original.call(this, copy(shape));
        },
    );
  }
  patch(
    'Resizing',
    'computeOutputShape',
    () =>
      function (this: Record<string, unknown>, shape: unknown) {
        const s = (Array.isArray((shape as unknown[])[0]) ? (shape as Shape[])[0] : shape) as Shape;
        return s.length === 4 ? [s[0]!, this.height, this.width, s[3]!] : [this.height, this.width, s[s.length - 1]!];
      },
  );
  for (const name of ['Resizing', 'CenterCrop']) {
    patch(
      name,
      'call',
      (original) =>
        function (this: Record<string, unknown>, inputs: unknown, kwargs: unknown) {
          return original.call(this, Array.isArray(inputs) ? inputs[0] : inputs, kwargs);
        },
    );
  }
  for (const [name, axis] of [
    ['RandomWidth', -2],
    ['RandomHeight', -3],
  ] as const) {
    patch(
      name,
      'computeOutputShape',
      () =>
        function (this: Record<string, unknown>, shape: unknown) {
          const s = [...((Array.isArray((shape as unknown[])[0]) ? (shape as Shape[])[0] : shape) as Shape)];
          s[s.length + axis] = null;
          return s;
        },
    );
  }
  const map = tf.serialization.SerializationMap.getMap().classNameMap as Record<string, ClassEntry | undefined>;
  if (map.gelu_new && !map.geluNew) map.geluNew = map.gelu_new;
  if (map.swish && !map.silu) map.silu = map.swish;
}
