/**
 * Shared by the whole-file oracle tests: the generated models, one option set run through both
 * llama.cpp's llama_model_quantize and our quantizeFile, and a precise account of where two GGUF files
 * differ (KV, tensor info, or which blocks of which tensor).
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { QuantizeError } from '../../src/errors.js';
import { encodeKv } from '../../src/formats/gguf-kv.js';
import { parseGgufBytes, type GgufFile } from '../../src/formats/gguf-reader.js';
import { FileSink } from '../../src/node/file-io.js';
import { quantizeFile } from '../../src/node/index.js';
import type { QuantizeBackend } from '../../src/pipeline/backend.js';
import { compareBlocks } from '../../src/pipeline/compare.js';
import type { QuantizeOptions } from '../../src/pipeline/options.js';
import { GgmlType, typeLayout } from '../../src/core/ggml-type.js';
import { syntheticModel, syntheticTensors, type SyntheticSpec } from '../../src/synthetic-model.js';
import type { ModelQuantizeParams, Oracle } from '../oracle/llama-cpp.js';

export interface ModelFixture {
  key: string;
  /** what the model exercises, for test names */
  about: string;
  spec: SyntheticSpec;
  path: string;
}

/** The generated models (spec §4: each shape reaches different mix rules and fallbacks). */
export const MODEL_SPECS: readonly Omit<ModelFixture, 'path'>[] = [
  {
    key: 'dense-f16', about: 'dense, 4 layers, 256 wide, GQA 4, untied output, F16',
    spec: { nLayer: 4, nEmbd: 256, nFf: 768, nHead: 8, nHeadKv: 2, nVocab: 512, dtype: GgmlType.F16, untiedOutput: true, seed: 11, name: 'e2e dense f16' },
  },
  {
    // 320 columns: every 256-block K-quant of a 320-wide tensor falls back; ffn_down (512 wide) does not
    key: 'dense320-f32', about: 'dense, 3 layers, 320 wide (K-quant fallbacks), tied embeddings, F32',
    spec: { nLayer: 3, nEmbd: 320, nFf: 512, nHead: 10, nHeadKv: 2, nVocab: 256, dtype: GgmlType.F32, untiedOutput: false, seed: 12, name: 'e2e dense 320 f32' },
  },
  {
    key: 'moe-bf16', about: 'MoE, 2 layers, 8 experts (3-D tensors), BF16',
    spec: { nLayer: 2, nEmbd: 256, nFf: 256, nHead: 8, nHeadKv: 2, nVocab: 384, nExpert: 8, dtype: GgmlType.BF16, untiedOutput: true, seed: 13, name: 'e2e moe bf16' },
  },
];

export function makeTempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export async function writeModels(dir: string): Promise<ModelFixture[]> {
  const out: ModelFixture[] = [];
  for (const m of MODEL_SPECS) {
    const p = path.join(dir, `${m.key}.gguf`);
    await syntheticModel(m.spec).write(await FileSink.create(p));
    out.push({ ...m, path: p });
  }
  return out;
}

/** The weights llama-imatrix would collect for a model: every 2-D/3-D `blk.*` matrix (spec §6.4). */
export function imatrixWeights(spec: SyntheticSpec): { name: string; ne: number[] }[] {
  return syntheticTensors(spec).filter((t) => t.name.startsWith('blk.') && t.ne.length >= 2 && !t.name.includes('ffn_gate_inp'));
}

export interface FtypeCase {
  name: string;
  id: number;
  onlyCopy?: boolean;
}

const FT: Record<string, number> = {
  Q4_0: 2, Q4_1: 3, Q5_0: 8, Q5_1: 9, Q8_0: 7, Q2_K: 10, Q2_K_S: 21, Q3_K_S: 11, Q3_K_M: 12, Q3_K_L: 13,
  Q4_K_S: 14, Q4_K_M: 15, Q5_K_S: 16, Q5_K_M: 17, Q6_K: 18, F16: 1, BF16: 32,
};

export function ftype(name: string): FtypeCase {
  if (name === 'COPY') return { name, id: 0, onlyCopy: true };
  if (FT[name] === undefined) throw new Error(`unknown ftype ${name}`);
  return { name, id: FT[name] };
}

export const ALL_FTYPES: readonly FtypeCase[] = [...Object.keys(FT), 'COPY'].map(ftype);

export type RunOptions = Partial<QuantizeOptions>;

/** The same request as llama-quantize's CLI would hand the library (see ModelQuantizeParams). */
export function oracleParams(ft: FtypeCase, o: RunOptions): ModelQuantizeParams {
  return {
    nthread: 2, // llama.cpp's bytes do not depend on it either (rows are independent)
    ftype: ft.id,
    onlyCopy: !!ft.onlyCopy,
    allowRequantize: o.allowRequantize,
    quantizeOutputTensor: !o.leaveOutputTensor,
    pure: o.pure,
    outputTensorType: o.outputTensorType,
    tokenEmbeddingType: o.tokenEmbeddingType,
    tensorTypes: o.tensorTypes,
    kvOverrides: o.overrideKv,
    pruneLayers: o.pruneLayers,
    imatrixFile: o.imatrixPath ? { path: o.imatrixPath, includeWeights: o.includeWeights, excludeWeights: o.excludeWeights } : undefined,
  };
}

/**
 * Whether llama.cpp would abort the process for this model and options: the explicitly requested
 * token-embedding / output type does not divide the row length (see runReferenceIsolated).
 */
export function explicitTypeMisfit(spec: SyntheticSpec, o: RunOptions): boolean {
  const misfit = (t: GgmlType | undefined) => t !== undefined && spec.nEmbd % typeLayout(t).blockSize !== 0;
  // with tied embeddings the output type reaches token_embd through the mix rules, and the fallback follows
  return misfit(o.tokenEmbeddingType) || (misfit(o.outputTensorType) && spec.untiedOutput !== false);
}

export interface RefRun {
  rc: number;
  /** llama.cpp's logged error when rc != 0 */
  error: string;
  out: string;
}

const CHILD = fileURLToPath(new URL('./oracle-child.ts', import.meta.url));

/**
 * The reference run in a child process: for combinations where llama.cpp aborts the whole process
 * (an explicit --token-embedding-type / --output-tensor-type whose block size does not divide the row
 * hits GGML_ASSERT in gguf.cpp, since those types skip the shape fallback). The abort message becomes the
 * error; rc is 134 (SIGABRT) then.
 */
export function runReferenceIsolated(input: string, out: string, ft: FtypeCase, o: RunOptions): RefRun {
  const r = spawnSync(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify({ input, output: out, params: oracleParams(ft, o) })], { encoding: 'utf8' });
  if (r.status === 0 && r.stdout) {
    const { rc, error } = JSON.parse(r.stdout) as { rc: number; error: string };
    return { rc, error: rc === 0 ? '' : error.split('\n').filter(Boolean).pop() ?? `rc ${rc}`, out };
  }
  const assert = /GGML_ASSERT\((.*)\) failed/.exec(r.stderr ?? '');
  const why = assert ? `aborts: GGML_ASSERT(${assert[1]})` : `exits with ${r.signal ?? r.status}: ${(r.stderr ?? '').trim().split('\n').pop()}`;
  return { rc: r.signal === 'SIGABRT' ? 134 : r.status ?? -1, error: why, out };
}

export function runReference(oracle: Oracle, input: string, out: string, ft: FtypeCase, o: RunOptions): RefRun {
  const rc = oracle.modelQuantize(input, out, oracleParams(ft, o));
  const error = rc === 0 ? '' : oracle.lastQuantizeError().split('\n').filter(Boolean).pop() ?? `rc ${rc}`;
  return { rc, error, out };
}

/** Our run; resolves to the thrown error instead of rejecting. */
export async function runOurs(input: string, out: string, ft: FtypeCase, o: RunOptions, backend: QuantizeBackend): Promise<Error | null> {
  try {
    await quantizeFile({
      input, output: out, backend,
      options: { ...o, ftype: ft.id, ftypeName: ft.name, onlyCopy: !!ft.onlyCopy, nthreads: 1, backend: 'cpu' },
    });
    return null;
  } catch (e) {
    return e as Error;
  }
}

export function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** A short text for a llama.cpp error message used in a test name. */
export function shortReason(msg: string): string {
  return msg.replace(/^llama_model_quantize: failed to quantize: /, '').replace(/\s+/g, ' ').slice(0, 90);
}

// ---------------------------------------------------------------------------------------------------
// where two GGUF files differ

function kvText(f: GgufFile, i: number): string {
  const e = f.kvs[i];
  const v = e.value;
  const shown = typeof v === 'object' && v !== null && 'length' in v ? `[${(v as ArrayLike<unknown>).length} items]` : String(v);
  return `${e.key} (type ${e.type}${e.isArray ? '[]' : ''}) = ${shown}`;
}

const same = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && Buffer.compare(a, b) === 0;

/**
 * '' when the files are byte-identical; otherwise every difference found: file size, each KV that
 * differs (by position), each tensor info, and for each tensor whose data differs its type, the number
 * of differing blocks and the first one (with the largest dequantized difference).
 */
export function diffGguf(refPath: string, ourPath: string): string {
  const a = new Uint8Array(fs.readFileSync(refPath));
  const b = new Uint8Array(fs.readFileSync(ourPath));
  if (same(a, b)) return '';
  const out: string[] = [];
  if (a.length !== b.length) out.push(`file size: llama.cpp ${a.length}, ours ${b.length}`);
  let fa: GgufFile;
  let fb: GgufFile;
  try {
    fa = parseGgufBytes(a, 'llama.cpp');
    fb = parseGgufBytes(b, 'ours');
  } catch (e) {
    return [...out, `unparseable: ${(e as Error).message}`].join('\n');
  }
  const nkv = Math.max(fa.kvs.length, fb.kvs.length);
  for (let i = 0; i < nkv; i++) {
    const ka = fa.kvs[i];
    const kb = fb.kvs[i];
    if (ka && kb && same(ka.raw ?? encodeKv(ka), kb.raw ?? encodeKv(kb))) continue;
    out.push(`KV #${i}: llama.cpp ${ka ? kvText(fa, i) : '(none)'} | ours ${kb ? kvText(fb, i) : '(none)'}`);
  }
  const nt = Math.max(fa.tensors.length, fb.tensors.length);
  for (let i = 0; i < nt; i++) {
    const ta = fa.tensors[i];
    const tb = fb.tensors[i];
    const info = (t: typeof ta) => (t ? `${t.name} ${typeLayout(t.type).name} [${t.ne.join(',')}] @${t.offset}` : '(none)');
    if (!ta || !tb || ta.name !== tb.name || ta.type !== tb.type || ta.offset !== tb.offset || ta.ne.join() !== tb.ne.join()) {
      out.push(`tensor info #${i}: llama.cpp ${info(ta)} | ours ${info(tb)}`);
      continue;
    }
    const da = a.subarray(ta.dataOffset, ta.dataOffset + ta.nbytes);
    const db = b.subarray(tb.dataOffset, tb.dataOffset + tb.nbytes);
    if (same(da, db)) continue;
    const c = compareBlocks(ta.type, da, db);
    const lay = typeLayout(ta.type);
    const row = Math.floor((c.first * lay.blockSize) / ta.ne[0]);
    out.push(`tensor data ${ta.name} (${lay.name}): ${c.blocks - c.identical} of ${c.blocks} blocks differ, first block ${c.first} (row ${row}), max |dequant diff| ${c.maxAbsDiff}`);
  }
  if (!out.length) {
    let k = 0;
    while (k < Math.min(a.length, b.length) && a[k] === b[k]) k++;
    out.push(`first differing byte at ${k} (outside KVs, tensor infos and tensor data: padding?)`);
  }
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------------
// one suite of cases: llama.cpp runs now (while tests are collected), ours inside the tests

export interface OracleCase {
  /** describe() group */
  group: string;
  /** test name, before the outcome */
  name: string;
  input: string;
  ft: FtypeCase;
  opts: RunOptions;
  /** run llama.cpp in a child process: it is expected to abort */
  isolate?: boolean;
}

let seq = 0;

/**
 * Runs llama.cpp for every case, then defines one test per case: the whole file sha256-identical, or,
 * where llama.cpp refuses (its reason in the test name), ours refusing with a QuantizeError and writing
 * nothing. Returns counters filled in as the tests pass.
 */
export function defineOracleCases(
  oracle: Oracle, dir: string, cases: readonly OracleCase[], backend: () => QuantizeBackend,
): { identical: number; refused: number; total: number } {
  const tally = { identical: 0, refused: 0, total: cases.length };
  const ran = cases.map((c) => {
    const id = `${seq++}-${c.ft.name}`;
    const out = path.join(dir, `${id}-ref.gguf`);
    return { c, id, ref: c.isolate ? runReferenceIsolated(c.input, out, c.ft, c.opts) : runReference(oracle, c.input, out, c.ft, c.opts) };
  });
  for (const group of [...new Set(cases.map((c) => c.group))]) {
    describe(group, () => {
      for (const { c, id, ref } of ran.filter((r) => r.c.group === group)) {
        const ours = path.join(dir, `${id}-ours.gguf`);
        if (ref.rc === 0) {
          it(`${c.name}: sha256-identical`, async () => {
            const err = await runOurs(c.input, ours, c.ft, c.opts, backend());
            expect(err?.message ?? null).toBeNull();
            if (sha256(ref.out) !== sha256(ours)) expect(diffGguf(ref.out, ours)).toBe('');
            tally.identical++;
            fs.rmSync(ref.out);
            fs.rmSync(ours);
          });
        } else {
          it(`${c.name}: llama.cpp refuses (${shortReason(ref.error)}), ours must refuse too`, async () => {
            const err = await runOurs(c.input, ours, c.ft, c.opts, backend());
            expect(err).toBeInstanceOf(QuantizeError);
            expect(fs.existsSync(ours)).toBe(false);
            tally.refused++;
          });
        }
      }
    });
  }
  return tally;
}
