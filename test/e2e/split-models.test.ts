/**
 * Split inputs through the whole pipeline: a 3-shard model quantizes to the same single file as the
 * unsplit model, and `--keep-split` writes the same shard files as llama_model_quantize with keep_split.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { quantizeFile } from '../../src/node/index.js';
import { InlineCpuBackend } from '../../src/pipeline/backend.js';
import { parseGgufBytes } from '../../src/formats/gguf-reader.js';
import { oracleUnavailable } from '../oracle/llama-cpp.js';
import { requireOracle } from '../oracle/require-oracle.js';
import { synthF32, tempDir, writeSynthShards } from '../formats/gguf-fixtures.js';
import { SYNTH_DIR } from '../golden/shared-paths.js';

const dir = tempDir('e2e-split');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const sha = (f: string) => createHash('sha256').update(fs.readFileSync(f)).digest('hex');
const manifest = JSON.parse(fs.readFileSync(path.join(SYNTH_DIR, 'MANIFEST.json'), 'utf8'));
const names = parseGgufBytes(new Uint8Array(fs.readFileSync(synthF32)), synthF32).tensors.map((t) => t.name);
// shard groups in file order, cutting through layers so that write order and shard order differ
const GROUPS = [names.slice(0, 7), names.slice(7, 13), names.slice(13)];
const backend = new InlineCpuBackend();

describe('split models', () => {
  it('a 3-shard input gives the single-file output of the unsplit model', async () => {
    const [first] = await writeSynthShards(path.join(dir, 'merged'), GROUPS);
    const out = path.join(dir, 'merged-Q4_K_M.gguf');
    await quantizeFile({ input: first, output: out, options: { ftype: 15, ftypeName: 'Q4_K_M' }, backend });
    expect(sha(out)).toBe(manifest.outputs['mix/Q4_K_M'].file_sha256);
  });

  const oracle = requireOracle();
  describe.skipIf(!oracle)(`--keep-split against llama_model_quantize${oracle ? '' : ` (${oracleUnavailable})`}`, () => {
    for (const [ftype, name] of [[15, 'Q4_K_M'], [12, 'Q3_K_M'], [7, 'Q8_0']] as const) {
      it(name, async () => {
        const [first] = await writeSynthShards(path.join(dir, `ks-${name}`), GROUPS);
        const ours = path.join(dir, `ours-${name}.gguf`);
        // the library takes the prefix; the CLI strips ".gguf" from the path it is given, as ours does
        const ref = path.join(dir, `ref-${name}`);
        await quantizeFile({ input: first, output: ours, options: { ftype, ftypeName: name, keepSplit: true }, backend });
        expect(oracle!.modelQuantize(first, ref, { ftype, keepSplit: true, nthread: 1 })).toBe(0);
        for (let i = 1; i <= 3; i++) {
          const suffix = `-0000${i}-of-00003.gguf`;
          const a = path.join(dir, `ours-${name}${suffix}`);
          const b = path.join(dir, `ref-${name}${suffix}`);
          expect(fs.existsSync(a)).toBe(true);
          expect(sha(a)).toBe(sha(b));
        }
      });
    }
  });
});
