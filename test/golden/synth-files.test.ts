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
import { InlineCpuBackend, type QuantizeBackend } from '../../src/pipeline/backend.js';
import { GpuBackend } from '../../src/gpu/backend.js';
import { GpuQuantizer } from '../../src/gpu/quantize-gpu.js';
import { gpuEnv, requireAdapterInCi } from '../gpu/gpu-env.js';
import { parseFtype } from '../../src/policy/ftype.js';
import { typeLayout } from '../../src/core/ggml-type.js';
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

/**
 * Every MANIFEST output through one backend. `device` backends must compute blocks themselves: a run
 * whose every block went to the CPU fallback would prove nothing about the kernels.
 */
function goldenSuite(label: string, backend: () => QuantizeBackend | null, reason = '') {
  describe.skipIf(!backend())(`golden synth-v050 outputs, ${label}${reason ? ` (${reason})` : ''}`, () => {
    const cwd = process.cwd();
    let tmp: string;
    beforeAll(() => {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wq-golden-'));
      // llama-quantize ran inside synth-v050 with relative paths; quantize.imatrix.file stores the path as typed
      process.chdir(SYNTH_DIR);
    });
    afterAll(() => {
      process.chdir(cwd);
      fs.rmSync(tmp, { recursive: true, force: true });
    });

    const counts = { identical: 0, refusedUnsupported: 0, refusedLikeLlama: 0, deviceBlocks: 0, fallbackBlocks: 0 };
    afterAll(() => console.log(`golden synth-v050 (${label}): ${counts.identical} files sha256-identical, ${counts.refusedLikeLlama} refused as llama.cpp refused, ${counts.refusedUnsupported} refused as not implemented yet` +
      (counts.deviceBlocks + counts.fallbackBlocks ? `; blocks on the device ${counts.deviceBlocks}, via the host fallback ${counts.fallbackBlocks}` : '')));

    for (const [key, out] of Object.entries(manifest.outputs)) {
      it(key, async () => {
        const b = backend()!;
        const output = path.join(tmp, key.replace('/', '_') + '.gguf');
        const fallback0 = b.hostFallbackBlocks?.() ?? 0;
        const run = quantizeFile({ input: 'synth-f32.gguf', output, options: { ...argsFor(key, out), nthreads: 1 }, backend: b });
        if (out.rc !== 0) {
          await expect(run).rejects.toThrow(/imatrix|importance matrix/);
          expect(fs.existsSync(output)).toBe(false);
          counts.refusedLikeLlama++;
          return;
        }
        let result;
        try {
          result = await run;
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
        if (b.hostFallbackBlocks) {
          const converted = result.plan.entries.filter((e) => e.quantize).reduce((n, e) => n + (e.ne[0] * e.ne[1] * e.ne[2] * e.ne[3]) / typeLayout(e.targetType).blockSize, 0);
          const fallback = b.hostFallbackBlocks() - fallback0;
          counts.deviceBlocks += converted - fallback;
          counts.fallbackBlocks += fallback;
          // the synth model's 1e-30 rows (tiny-huge) are the only blocks that may need the host path
          expect(fallback, 'blocks computed by the CPU fallback').toBeLessThan(converted / 4);
        }
      });
    }
  });
}

const cpuBackend = new InlineCpuBackend();
goldenSuite('CPU path', () => cpuBackend);

const env = await gpuEnv();
requireAdapterInCi(env);
const gpuBackend = env.handle ? new GpuBackend(await GpuQuantizer.create({ handle: env.handle })) : null;
afterAll(async () => gpuBackend?.close());
goldenSuite(`--backend gpu${gpuBackend ? ` on ${gpuBackend.quantizer.adapterName}` : ''}`, () => gpuBackend, env.reason);
