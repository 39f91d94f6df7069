/**
 * The onnxruntime-web files the page serves beside itself, per runtime: an ES module bundle (the JS
 * API with its Emscripten glue built in) and the WebAssembly binary that glue was built with. A bundle
 * must be given its own binary: onnxruntime-web 1.30's WebGPU bundle embeds the glue of the
 * `asyncify` build (its WebGPU execution provider compiled with emdawnwebgpu), and pointing it at the
 * `jsep` binary, as this demo once did, fails inside the session with
 * "Cannot read properties of undefined (reading 'Xe')" (an export the glue expects is missing) or
 * crashes the renderer.
 */
export const RUNTIME_FILES = {
  webgpu: { bundle: 'ort.webgpu.bundle.min.mjs', wasm: 'ort-wasm-simd-threaded.asyncify.wasm' },
  wasm: { bundle: 'ort.wasm.bundle.min.mjs', wasm: 'ort-wasm-simd-threaded.wasm' },
} as const;

/** The runtimes the page can run on, in order of preference. */
export type RuntimeId = keyof typeof RUNTIME_FILES;
