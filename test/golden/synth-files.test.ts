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
import { quantizeFile } from '../../src/node/index.js';
import { InlineCpuBackend, type QuantizeBackend } from '../../src/pipeline/backend.js';
import { GpuBackend } from '../../src/gpu/backend.js';
import { GpuQuantizer } from '../../src/gpu/quantize-gpu.js';
import { gpuEnv, requireAdapterInCi } from '../gpu/gpu-env.js';
import { parseFtype } from '../../src/policy/ftype.js';
import { typeLayout } from '../../src/core/ggml-type.js';
import { SYNTH_DIR } from './shared-paths.js';


interface ManifestOutput { ftype: string; rc: number; file_sha256?: string; tensors: Record<string, { type: string }> }
const manifest = JSON.parse(fs.readFileSync(path.join(SYNTH_DIR, 'MANIFEST.json'), 'utf8')) as { outputs: Record<string, ManifestOutput> };

/**
 * THE LIST TO EDIT: types the CPU path does not implement yet. Every golden output that needs one must be
 * refused naming it; every other output must be sha256-identical. When you add a type, delete it here.
 */
const NOT_IMPLEMENTED_YET: string[] = [];
/**
 * Types with a WGSL kernel (src/gpu/kernels.ts). `--backend gpu` refuses the others ("no GPU kernel yet"),
 * so the GPU suite expects those outputs refused. When you add a kernel, add its type here.
 */
const GPU_KERNEL_TYPES = [
  'F16', 'BF16', 'Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K',
  'IQ4_NL', 'IQ4_XS', 'TQ1_0', 'TQ2_0', 'MXFP4', 'Q1_0', 'Q2_0', 'IQ1_S', 'IQ1_M', 'IQ3_XXS', 'IQ3_S',
  'IQ2_XXS', 'IQ2_XS', 'IQ2_S',
];

/**
 * Blocks the kernels flag and the host re-quantizes, per output, exactly: the synth model's tiny/huge
 * tensor (blk.0.ffn_up: rows of 1e-30, whose squares underflow, and of 1e-7) and a few imatrix-weighted
 * blocks; every one of them satisfies the host rule (src/gpu/fallback.ts mayNeedHostPath), which the suite
 * checks separately (ordinaryFallback == 0). Measured on SwiftShader; the kernels decide a flag from the
 * operands' bit patterns (shaders/lib/exact-f32.wgsl), so a conforming device gives the same counts.
 */
const EXPECTED_FALLBACK: Record<string, number> = {
  'pure/Q4_0': 0, 'pure-imatrix/Q4_0': 1024, 'pure/Q4_1': 0, 'pure-imatrix/Q4_1': 1024, 'pure/Q5_0': 0,
  'pure-imatrix/Q5_0': 1024, 'pure/Q5_1': 0, 'pure-imatrix/Q5_1': 1030, 'pure/Q8_0': 0, 'pure-imatrix/Q8_0': 0,
  'pure/Q2_K': 128, 'pure-imatrix/Q2_K': 128, 'pure/Q3_K': 122, 'pure-imatrix/Q3_K': 128, 'pure/Q4_K': 128,
  'pure-imatrix/Q4_K': 128, 'pure/Q5_K': 128, 'pure-imatrix/Q5_K': 135, 'pure/Q6_K': 202, 'pure-imatrix/Q6_K': 0,
  'pure/F16': 0, 'pure-imatrix/F16': 0, 'pure/BF16': 0, 'pure-imatrix/BF16': 0,
  'mix/Q4_K_M': 128, 'mix/Q4_K_M-imatrix': 128, 'mix/Q4_K_M-leave-output': 128, 'mix/Q4_K_M-imatrix-q8-emb-out': 128,
  'mix/Q5_K_M': 128, 'mix/Q5_K_M-imatrix': 135, 'mix/Q5_K_M-leave-output': 128, 'mix/Q5_K_M-imatrix-q8-emb-out': 135,
  'mix/Q3_K_M': 122, 'mix/Q3_K_M-imatrix': 128, 'mix/Q3_K_M-leave-output': 122, 'mix/Q3_K_M-imatrix-q8-emb-out': 128,
  'mix/Q2_K': 128, 'mix/Q2_K-imatrix': 128, 'mix/Q2_K-leave-output': 128, 'mix/Q2_K-imatrix-q8-emb-out': 128,
  'pure/IQ4_NL': 0, 'pure-imatrix/IQ4_NL': 1024, 'pure/IQ4_XS': 0, 'pure-imatrix/IQ4_XS': 128,
  'pure/MXFP4': 0, 'pure-imatrix/MXFP4': 0, 'pure/Q1_0': 0, 'pure-imatrix/Q1_0': 0, 'pure/Q2_0': 0, 'pure-imatrix/Q2_0': 0,
  'pure/TQ1_0': 0, 'pure-imatrix/TQ1_0': 0, 'pure/TQ2_0': 0, 'pure-imatrix/TQ2_0': 0,
  'pure-imatrix/IQ1_S': 128, 'pure-imatrix/IQ1_M': 128,
  'pure-imatrix/IQ3_XXS': 128, 'pure/IQ3_S': 155, 'pure-imatrix/IQ3_S': 128,
  'pure-imatrix/IQ2_XXS': 128, 'pure-imatrix/IQ2_XS': 128, 'pure-imatrix/IQ2_S': 128,
  'mix/IQ2_M-imatrix': 128, 'mix/IQ2_M-imatrix-q8-emb-out': 128,
};

/** the types an output's tensors were converted to (F32 tensors of an F32 model are copies) */
const convertedTypes = (out: ManifestOutput) => [...new Set(Object.values(out.tensors).map((t) => t.type))].filter((t) => t !== 'F32');

type Expected = { kind: 'refused-like-llama' } | { kind: 'identical' } | { kind: 'refused'; types: string[]; why: RegExp };

function expected(out: ManifestOutput, gpu: boolean): Expected {
  if (out.rc !== 0) return { kind: 'refused-like-llama' };
  const missing = convertedTypes(out).filter((t) => NOT_IMPLEMENTED_YET.includes(t));
  if (missing.length) return { kind: 'refused', types: missing, why: /not implemented yet/ };
  const noKernel = gpu ? convertedTypes(out).filter((t) => !GPU_KERNEL_TYPES.includes(t)) : [];
  if (noKernel.length) return { kind: 'refused', types: noKernel, why: /no GPU kernel yet/ };
  return { kind: 'identical' };
}

/**
 * Per output on the GPU backend: the i-quant grid searches (IQ2_XS above all: 19 trial scales x 2 groups per
 * 16 values, neighbour lists up to 292 points) take minutes on SwiftShader on a loaded 2-core machine.
 */
const GPU_OUTPUT_TIMEOUT_MS = 600_000;

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
 * Every MANIFEST output through one backend: each is sha256-identical, refused like llama-quantize, or
 * refused naming a type of the lists above; the totals must be exactly what the lists give. `device`
 * backends must compute their blocks themselves: the host fallback may take exactly the blocks the
 * kernels flag for subnormal/overflow inputs (EXPECTED_FALLBACK), never an ordinary block.
 */
function goldenSuite(label: string, backend: () => QuantizeBackend | null, reason = '') {
  describe.skipIf(!backend())(`golden synth-v050 outputs, ${label}${reason ? ` (${reason})` : ''}`, () => {
    const gpu = backend()?.kind === 'gpu';
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
    const refusedTypes = new Set<string>();
    const want = Object.values(manifest.outputs).map((o) => expected(o, gpu));
    const wantRefusedTypes = new Set(want.flatMap((w) => (w.kind === 'refused' ? w.types : [])));

    for (const [key, out] of Object.entries(manifest.outputs)) {
      it(key, async () => {
        const b = backend()!;
        const exp = expected(out, gpu);
        const output = path.join(tmp, key.replace('/', '_') + '.gguf');
        const run = quantizeFile({ input: 'synth-f32.gguf', output, options: { ...argsFor(key, out), nthreads: 1 }, backend: b });
        if (exp.kind === 'refused-like-llama') {
          await expect(run).rejects.toThrow(/imatrix|importance matrix/);
          expect(fs.existsSync(output)).toBe(false);
          counts.refusedLikeLlama++;
          return;
        }
        if (exp.kind === 'refused') {
          // one line naming the type; nothing written
          const e = await run.then(() => null, (err: unknown) => err);
          expect(e, `${key} must be refused (needs ${exp.types.join(', ')})`).toBeInstanceOf(UnsupportedTypeError);
          const msg = (e as QuantizeError).message;
          expect(msg).toMatch(exp.why);
          expect(msg).not.toMatch(/\n/);
          const named = exp.types.filter((t) => new RegExp(`\\b${t}\\b`, 'i').test(msg));
          expect(named, `${key}: the refusal names one of ${exp.types.join(', ')}: ${msg}`).toHaveLength(1);
          expect(fs.existsSync(output)).toBe(false);
          refusedTypes.add(named[0]);
          counts.refusedUnsupported++;
          return;
        }
        const result = await run;
        expect(sha(output)).toBe(out.file_sha256);
        counts.identical++;
        if (gpu) {
          const c = result.blockCounts!;
          const converted = result.plan.entries.filter((e) => e.quantize).reduce((n, e) => n + (e.ne[0] * e.ne[1] * e.ne[2] * e.ne[3]) / typeLayout(e.targetType).blockSize, 0);
          expect(c.device + c.fallback, `${key}: blocks accounted for`).toBe(converted);
          expect(c.ordinaryFallback, `${key}: ordinary blocks (inputs in the normal range) on the host fallback`).toBe(0);
          expect(c.noKernel, `${key}: blocks on the CPU path for want of a kernel`).toBe(0);
          expect(EXPECTED_FALLBACK[key], `${key}: no expected host-fallback count (add the measured one to EXPECTED_FALLBACK)`).toBeDefined();
          expect(c.fallback, `${key}: blocks on the host fallback`).toBe(EXPECTED_FALLBACK[key]);
          counts.deviceBlocks += c.device;
          counts.fallbackBlocks += c.fallback;
        }
      }, gpu ? GPU_OUTPUT_TIMEOUT_MS : undefined);
    }

    it('totals: exactly the outputs and refused types the lists give', () => {
      const line = `golden synth-v050 (${label}): ${counts.identical} files sha256-identical, ${counts.refusedLikeLlama} refused as llama.cpp refused, ` +
        `${counts.refusedUnsupported} refused for ${[...refusedTypes].sort().join(' ')}` +
        (gpu ? `; blocks on the device ${counts.deviceBlocks}, via the host fallback ${counts.fallbackBlocks}` : '');
      console.log(line);
      expect(counts.identical).toBe(want.filter((w) => w.kind === 'identical').length);
      expect(counts.refusedLikeLlama).toBe(want.filter((w) => w.kind === 'refused-like-llama').length);
      expect(counts.refusedUnsupported).toBe(want.filter((w) => w.kind === 'refused').length);
      expect([...refusedTypes].sort()).toEqual([...wantRefusedTypes].sort());
      // every listed type must still be refused somewhere: a stale entry fails here
      if (!gpu) expect([...wantRefusedTypes].sort()).toEqual([...NOT_IMPLEMENTED_YET].sort());
      // and the literal figures, so that an edit of the lists above shows in the diff: 66 outputs in MANIFEST.json
      if (!gpu) expect([counts.identical, counts.refusedLikeLlama, counts.refusedUnsupported]).toEqual([64, 2, 0]);
    });
  });
}

const cpuBackend = new InlineCpuBackend();
goldenSuite('CPU path', () => cpuBackend);

const env = await gpuEnv();
requireAdapterInCi(env);
const gpuBackend = env.handle ? new GpuBackend(await GpuQuantizer.create({ handle: env.handle })) : null; // strict: --backend gpu
afterAll(async () => gpuBackend?.close());
goldenSuite(`--backend gpu${gpuBackend ? ` on ${gpuBackend.quantizer.adapterName}` : ''}`, () => gpuBackend, env.reason);
