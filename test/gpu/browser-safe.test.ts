// Everything the browser loads (src/index.ts carries the WGSL sources through the type descriptors) must
// bundle without Node or Dawn: the Node-only modules all live in src/node/
// (file I/O, worker_threads pool, Dawn/SwiftShader device, CLI), and no browser entry may reach them.
import { expect, test } from 'vitest';
import { build } from 'esbuild';

/** what a browser bundle must never contain: node:* builtins, Dawn (`webgpu`), or anything under src/node/ */
export const NODE_ONLY = /^node:|node_modules\/webgpu\/|(^|\/)src\/node\//;

async function bundleInputs(entry: string): Promise<string[]> {
  const r = await build({ entryPoints: [entry], bundle: true, write: false, platform: 'browser', format: 'esm', loader: { '.wgsl': 'text' }, metafile: true, logLevel: 'silent' });
  return Object.keys(r.metafile.inputs);
}

test.each(['src/index.ts', 'src/gpu/index.ts', 'src/gpu/backend.ts', 'src/pipeline/choose-backend.ts', 'web/main.ts', 'web/worker.ts'])('%s bundles for the browser without Node, Dawn or src/node/', async (entry) => {
  const inputs = await bundleInputs(entry);
  expect(inputs.some((i) => i.endsWith(entry))).toBe(true);
  expect(inputs.filter((i) => NODE_ONLY.test(i))).toEqual([]);
});

test('the guard sees a Node-only module (src/node/index.ts pulls in src/node/ and node:*)', async () => {
  // a browser build of the Node entry must trip the same filter, or the test above could never fail
  const r = await build({ entryPoints: ['src/node/index.ts'], bundle: true, write: false, platform: 'node', format: 'esm', loader: { '.wgsl': 'text' }, metafile: true, logLevel: 'silent', packages: 'external' });
  const hits = Object.keys(r.metafile.inputs).filter((i) => NODE_ONLY.test(i));
  expect(hits).toContain('src/node/file-io.ts');
  expect(hits).toContain('src/node/cpu-workers.ts');
});
