/**
 * Whole-file sha256 identity with llama-quantize's own outputs in ../shared/golden/synth-v050 (pure types,
 * pure with imatrix, and the default mixes with their option variants). Types not implemented yet must
 * be refused with a one-line UnsupportedTypeError naming the type; where llama-quantize refused (rc 1),
 * we must refuse too.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QuantizeError, UnsupportedTypeError } from '../../src/errors.js';
import { quantizeFile } from '../../src/node.js';
import { InlineCpuBackend } from '../../src/pipeline/backend.js';
import { parseFtype } from '../../src/policy/ftype.js';
import { SYNTH_DIR } from './shared-paths.js';

interface ManifestOutput { ftype: string; rc: number; file_sha256?: string }
const manifest = JSON.parse(fs.readFileSync(path.join(SYNTH_DIR, 'MANIFEST.json'), 'utf8')) as { outputs: Record<string, ManifestOutput> };

/** `--pure` runs use the ftype that maps to the pure type (golden README) */
const PURE_FTYPE: Record<string, string> = { Q3_K: 'Q3_K_M', Q4_K: 'Q4_K_M', Q5_K: 'Q5_K_M', IQ2_S: 'IQ2_M', MXFP4: 'MXFP4_MOE' };

function argsFor(key: string, out: ManifestOutput) {
  const [dir, name] = key.split('/');
  const options: Record<string, unknown> = {};
  let ftypeName = out.ftype;
  if (dir === 'pure' || dir === 'pure-imatrix') {
    options.pure = true;
    ftypeName = PURE_FTYPE[name] ?? name;
  }
  if (dir === 'pure-imatrix' || name.includes('-imatrix')) options.imatrixPath = 'imatrix.gguf';
  if (name.endsWith('-leave-output')) options.leaveOutputTensor = true;
  if (name.endsWith('-q8-emb-out')) Object.assign(options, { outputTensorType: 8, tokenEmbeddingType: 8 });
  const f = parseFtype(ftypeName)!;
  return { ...options, ftype: f.id, ftypeName: f.name };
}

const sha = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

describe('golden synth-v050 outputs', () => {
  const cwd = process.cwd();
  let tmp: string;
  const backend = new InlineCpuBackend();
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wq-golden-'));
    // llama-quantize ran inside synth-v050 with relative paths; quantize.imatrix.file stores the path as typed
    process.chdir(SYNTH_DIR);
  });
  afterAll(() => {
    process.chdir(cwd);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const counts = { identical: 0, refusedUnsupported: 0, refusedLikeLlama: 0 };
  afterAll(() => console.log(`golden synth-v050: ${counts.identical} files sha256-identical, ${counts.refusedLikeLlama} refused as llama.cpp refused, ${counts.refusedUnsupported} refused as not implemented yet`));

  for (const [key, out] of Object.entries(manifest.outputs)) {
    it(key, async () => {
      const output = path.join(tmp, key.replace('/', '_') + '.gguf');
      const run = quantizeFile({ input: 'synth-f32.gguf', output, options: { ...argsFor(key, out), nthreads: 1 }, backend });
      if (out.rc !== 0) {
        await expect(run).rejects.toThrow(/imatrix|importance matrix/);
        expect(fs.existsSync(output)).toBe(false);
        counts.refusedLikeLlama++;
        return;
      }
      try {
        await run;
      } catch (e) {
        // only a type this project has no kernel for yet may be refused, and it must say which
        expect(e).toBeInstanceOf(UnsupportedTypeError);
        expect((e as QuantizeError).message).toMatch(/not implemented yet/);
        expect(fs.existsSync(output)).toBe(false);
        counts.refusedUnsupported++;
        return;
      }
      expect(sha(output)).toBe(out.file_sha256);
      counts.identical++;
    });
  }
});
