/**
 * The import rules of ganforge: the folder a file lives in says what it may import. Checked by
 * `npm run deps` (part of `npm test`); test/tools/checkers.slow.test.ts proves each rule fails on a violation.
 *
 *   bin/       the ganforge executable, its command table and the worker-thread entries: may import anything (nothing imports them)
 *   lib/       Node helpers: shared/ and Node built-ins only, no ML runtime, no product folder
 *   shared/    platform-free: imports nothing outside shared/ (no Node, no DOM, no packages)
 *   train/     everything TensorFlow.js (the only folder that may import it)
 *   eval/      scoring with onnxruntime-node: lib/ and shared/, never train/ or serve/
 *   serve/     HTTP only: lib/ and shared/, never train/ or eval/
 *   web-demo/  the page (src/: shared/ and onnxruntime-web only) and its build (lib/, shared/, src/ constants)
 *   packages/tfjs-to-onnx/  the converter, an npm package of its own: imports only itself, its declared packages
 *              (@tensorflow/tfjs, @bufbuild/protobuf, onnx-buf, onnxruntime-node) and Node built-ins; the rest
 *              of ganforge imports it by its name (tsconfig paths), through its exports, from train/ only
 *   bench/     benchmarks, the Lighthouse audit, the PyTorch/FastAPI peers: may import product code and dev
 *              dependencies; only the command table (bin/commands.ts, lazily) imports it
 * No product folder imports a devDependency: `npm ci --omit=dev` must leave `ganforge serve` and `convert` working.
 */
const product = '^(bin|lib|shared|train|eval|serve|web-demo)/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', comment: 'Import cycles make load order matter; break them.', from: {}, to: { circular: true } },
    {
      name: 'shared-is-platform-free',
      severity: 'error',
      comment: 'shared/ runs in Node and in the browser: it imports only shared/.',
      from: { path: '^shared/' },
      to: { pathNot: '^shared/' },
    },
    {
      name: 'lib-has-no-product-or-ml-imports',
      severity: 'error',
      comment: 'lib/ is Node plumbing for every program: shared/, Node built-ins and small packages only.',
      from: { path: '^lib/' },
      to: { path: ['^(bin|train|eval|serve|web-demo|bench|test)/', 'node_modules/(@tensorflow|onnxruntime-node|onnxruntime-web|sharp)/'] },
    },
    {
      name: 'tfjs-only-in-train',
      severity: 'error',
      comment: 'TensorFlow.js belongs to training, the converter package (and their tests).',
      from: { pathNot: '^(train|test|packages/tfjs-to-onnx)/' },
      to: { path: 'node_modules/@tensorflow/' },
    },
    {
      name: 'onnxruntime-node-only-in-serve-and-eval',
      severity: 'error',
      comment:
        "onnxruntime-node runs models in the server, the evaluation, the converter's check and the ort training engine (train/ort/), and the tests that check them.",
      from: { pathNot: '^(serve|eval|test|packages/tfjs-to-onnx|train/ort)/' },
      to: { path: 'node_modules/onnxruntime-node/' },
    },
    {
      name: 'sharp-only-in-serve',
      severity: 'error',
      comment: 'sharp encodes the HTTP responses.',
      from: { pathNot: '^(serve|test)/' },
      to: { path: 'node_modules/sharp/' },
    },
    {
      name: 'onnxruntime-web-only-in-the-page',
      severity: 'error',
      comment: 'onnxruntime-web runs in the browser page.',
      from: { pathNot: '^(web-demo/src|test)/' },
      to: { path: 'node_modules/onnxruntime-web/' },
    },
    {
      name: 'the-page-imports-shared-only',
      severity: 'error',
      comment: 'The page is bundled for the browser: shared/ and onnxruntime-web, nothing Node.',
      from: { path: '^web-demo/src/' },
      to: { pathNot: ['^web-demo/src/', '^shared/', 'node_modules/onnxruntime-web/'] },
    },
    {
      name: 'serve-is-http-only',
      severity: 'error',
      comment: 'The server never imports training or evaluation code.',
      from: { path: '^serve/' },
      to: { path: '^(train|eval|web-demo|bin)/' },
    },
    {
      name: 'web-demo-never-imports-train-eval-or-serve',
      severity: 'error',
      from: { path: '^web-demo/' },
      to: { path: '^(train|eval|serve|bin)/' },
    },
    {
      name: 'eval-never-imports-train-or-serve',
      severity: 'error',
      comment: 'Evaluation scores ONNX files; it needs neither TensorFlow.js nor HTTP.',
      from: { path: '^eval/' },
      to: { path: '^(train|serve|web-demo|bin)/' },
    },
    {
      name: 'train-never-imports-serve-or-eval',
      severity: 'error',
      from: { path: '^train/' },
      to: { path: '^(serve|eval|web-demo|bin)/' },
    },
    {
      name: 'tfjs-to-onnx-stands-alone',
      severity: 'error',
      comment:
        'The converter is an npm package that converts any layers model: it imports itself, its declared packages and Node built-ins, never ganforge (no GAN, run-folder, shared/ or lib/ code).',
      from: { path: '^packages/tfjs-to-onnx/' },
      to: {
        pathNot: ['^packages/tfjs-to-onnx/', '^node_modules/(@tensorflow/tfjs|@bufbuild/protobuf|onnx-buf|onnxruntime-node)/'],
        dependencyTypesNot: ['core'],
      },
    },
    {
      name: 'tfjs-to-onnx-by-its-name',
      severity: 'error',
      comment: "ganforge imports the converter as a package ('tfjs-to-onnx', tsconfig paths to its exports), never a file of it by a relative path.",
      from: { pathNot: '^packages/tfjs-to-onnx/' },
      to: { path: '^packages/tfjs-to-onnx/src/', dependencyTypesNot: ['aliased-tsconfig'] },
    },
    {
      name: 'tfjs-to-onnx-only-in-train',
      severity: 'error',
      comment: 'The converter loads TensorFlow.js: training, export and its tests use it (and the command table, lazily, for `ganforge convert`).',
      from: { pathNot: '^(train|test|bench|packages/tfjs-to-onnx)/|^bin/commands\\.ts$' },
      to: { path: '^packages/tfjs-to-onnx/' },
    },
    {
      name: 'nothing-imports-entry-files',
      severity: 'error',
      comment: 'bin/ holds the programs; importing one would start it (bin/commands.ts is only their table).',
      from: { pathNot: '^bin/' },
      to: { path: '^bin/', pathNot: '^bin/commands\\.ts$' },
    },
    {
      name: 'product-never-imports-tests',
      severity: 'error',
      comment: 'Tests import the product, not the reverse (the command table lazily loads golden-update, a test tool).',
      from: { path: product, pathNot: '^bin/commands\\.ts$' },
      to: { path: '^test/' },
    },
    {
      name: 'product-never-imports-bench',
      severity: 'error',
      comment: 'Benchmarks and the audit live in bench/; only the command table loads them, lazily, when one runs.',
      from: { path: product, pathNot: '^bin/commands\\.ts$' },
      to: { path: '^bench/' },
    },
    {
      name: 'no-dev-dependencies-in-product',
      severity: 'error',
      comment:
        'A devDependency (autocannon, lighthouse, playwright-core, @sparticuz/chromium, ...) is absent after npm ci --omit=dev: product code must not import it (bench/ and test/ may).',
      from: { path: product },
      to: { dependencyTypes: ['npm-dev'] },
    },
    {
      name: 'no-unresolvable',
      severity: 'error',
      comment: 'Every import must resolve (a moved file left a stale path).',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(web-demo/dist|test-output|packages/[^/]+/dist)/' },
    preserveSymlinks: true,
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.json', '.d.ts'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
