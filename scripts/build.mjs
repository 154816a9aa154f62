// Bundles the TypeScript sources into dist/ with esbuild (run by `npm ci` through `prepare`).
// Node entries keep their npm dependencies external; .wgsl shaders are inlined as text.
import { build } from 'esbuild';
import fs from 'node:fs';

// dist/<out>.js from <in>: the Node-only modules live in src/node/ (src/node/index.ts is the `./node` export)
const entries = [
  ['src/node/cli.ts', 'cli'], ['src/index.ts', 'index'], ['src/node/index.ts', 'node'], ['src/node/quantize-worker.ts', 'quantize-worker'],
  ['bench/model-rss.ts', 'model-rss'], ['bench/quantize-throughput.ts', 'quantize-throughput'], ['bench/gpu-soak.ts', 'gpu-soak'], ['bench/fsync-cost.ts', 'fsync-cost'], ['bench/imatrix-throughput.ts', 'imatrix-throughput'], ['bench/device-whole-model.ts', 'device-whole-model'],
].filter(([f]) => fs.existsSync(f)).map(([f, out]) => ({ in: f, out }));
await build({
  entryPoints: entries,
  outdir: 'dist',
  bundle: true,
  splitting: false,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  loader: { '.wgsl': 'text' },
  sourcemap: true,
  logLevel: 'warning',
});
if (fs.existsSync('web/main.ts')) {
  // the page and its quantization worker (web/main.ts starts dist/web/worker.js by URL)
  await build({
    entryPoints: ['web/main.ts', 'web/worker.ts'].filter((f) => fs.existsSync(f)),
    outdir: 'dist/web',
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    loader: { '.wgsl': 'text' },
    logLevel: 'warning',
  });
  fs.copyFileSync('web/index.html', 'dist/web/index.html');
}
