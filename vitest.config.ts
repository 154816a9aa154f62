import { defineConfig } from 'vitest/config';
import fs from 'node:fs';

export default defineConfig({
  plugins: [
    {
      // .wgsl files are imported as text, as esbuild's text loader does for the bundle
      name: 'wgsl-text',
      transform(_code: string, id: string) {
        if (id.endsWith('.wgsl')) return { code: `export default ${JSON.stringify(fs.readFileSync(id, 'utf8'))};`, map: null };
        return null;
      },
    },
  ],
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
