// Bundles the TypeScript sources into dist/ with esbuild (run by `npm ci` through `prepare`).
// Node entries keep their npm dependencies external; .wgsl shaders are inlined as text.
import { build } from 'esbuild';
import fs from 'node:fs';

const entries = ['src/cli.ts', 'src/index.ts', 'src/node.ts', 'src/pipeline/quantize-worker.ts', 'bench/model-rss.ts', 'bench/quantize-throughput.ts', 'bench/gpu-soak.ts', 'bench/fsync-cost.ts', 'bench/imatrix-throughput.ts', 'bench/device-whole-model.ts']
  .filter((f) => fs.existsSync(f));
await build({
  entryPoints: entries,
  outdir: 'dist',
  entryNames: '[name]',
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
