// The browser API (src/index.ts, which now carries the WGSL sources through the descriptors) and the GPU path
// must bundle for the browser: nothing they reach except node-device.ts / node-backend.ts
// may reach 'webgpu' (Dawn) or node:* modules.
import { expect, test } from 'vitest';
import { build } from 'esbuild';

test.each(['src/index.ts', 'src/gpu/index.ts', 'src/gpu/backend.ts'])('%s bundles for the browser without Node or Dawn', async (entry) => {
  const r = await build({ entryPoints: [entry], bundle: true, write: false, platform: 'browser', format: 'esm', loader: { '.wgsl': 'text' }, metafile: true, logLevel: 'silent' });
  const inputs = Object.keys(r.metafile.inputs);
  expect(inputs.some((i) => i.endsWith(entry))).toBe(true);
  expect(inputs.filter((i) => /^node:|node_modules\/webgpu\/|node-device|node-backend/.test(i))).toEqual([]);
});
