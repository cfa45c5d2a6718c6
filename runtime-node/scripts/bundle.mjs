// Bundles the compiled runtime (dist/src/main.js, from `tsc -b`) into one CommonJS file,
// dist/runtime-node.cjs: loading tsyringe and ~30 small modules unbundled costs 25-45 ms of a
// replica's cold start; one file costs a few. ctx.state talks HTTP to the gateway's state service
// (or IPC to local mode's supervisor): the bundle must never contain a Redis client.
// The init container of a warm-pool pod runs a second, dist/pool-token-init.cjs (see its source).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outputs = [
  { entry: 'dist/src/main.js', outfile: 'dist/runtime-node.cjs' },
  { entry: 'dist/src/pool/pool-token-init.js', outfile: 'dist/pool-token-init.cjs' },
];
const [main] = outputs;

const common = {
  absWorkingDir: root,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  minify: false,
  sourcemap: 'linked',
  // The handler's `import(pathToFileURL(file).href)` has a computed specifier, which esbuild leaves as
  // a real dynamic import; the bundle must not resolve anything from node_modules at run time.
  packages: 'bundle',
  // The lite build skips reflect-metadata's Map/Set/WeakMap polyfills, which Node never needs.
  alias: { 'reflect-metadata': 'reflect-metadata/lite' },
  // tsyringe's ES2015 module build lets esbuild drop the parts the runtime never calls (~35 KB
  // less to parse at every start); its default CommonJS build cannot be tree-shaken.
  mainFields: ['es2015', 'module', 'main'],
  logLevel: 'warning',
  metafile: true,
};

for (const { entry, outfile } of outputs) {
  const result = await build({
    ...common,
    entryPoints: [path.join(root, entry)],
    outfile: path.join(root, outfile),
  });
  const bytes = result.metafile.outputs[outfile]?.bytes;
  console.log(
    `bundled ${path.relative(process.cwd(), path.join(root, outfile))}${bytes === undefined ? '' : ` (${bytes} bytes)`}`,
  );
  if (outfile === main.outfile) {
    const inputs = Object.keys(result.metafile.inputs);
    const heavy = inputs.find((input) => /node_modules\/ioredis\/|store\/dist\/src\/redis\//.test(input));
    if (heavy !== undefined) throw new Error(`${outfile} must not contain a Redis client, but has ${heavy}`);
  }
}
