/**
 * What the tests that hold our forward pass (src/model/llama.ts) against llama.cpp's llama_decode
 * (llama-decode.ts) share: loading our model from a GGUF, one sequence's logits from llama_decode, the worst
 * logit difference per position, both sides' perplexity/KLD statistics (llama_decode standing in for our
 * model in computeKld), the importance matrix collected from llama.cpp's graph over the imatrix chunks, the
 * stories260K vocabulary for generated models, and a generated model in the four types they compare. Every
 * llama_decode call here needs the oracle: callers check requireOracle() first.
 */
import path from 'node:path';
import { expect } from 'vitest';
import { FileSink, openGgufModelFile } from '../../src/node/file-io.js';
import { syntheticModel, type SyntheticSpec } from '../../src/synthetic-model.js';
import { GgmlType } from '../../src/core/ggml-type.js';
import { LlamaModel } from '../../src/model/llama.js';
import { chunkTokens, planChunks } from '../../src/eval/chunks.js';
import { computeKld, type KldStats } from '../../src/eval/kld.js';
import type { GgufKv } from '../../src/formats/gguf-kv.js';
import { SHARED } from '../golden/shared-paths.js';
import { openDecodeOracle, type OracleImatrixEntry } from './llama-decode.js';
import type { Oracle } from './llama-cpp.js';

const STORIES = path.join(SHARED, 'models/stories260K-gguf/stories260K.gguf');

/** the types the forward tests compare */
export const FORWARD_TYPES = ['F32', 'F16', 'Q8_0', 'Q4_K_M'] as const;
export type ForwardType = (typeof FORWARD_TYPES)[number];
/** llama_model_ftype */
const FTYPE = { Q8_0: 7, Q4_K_M: 15 } as const;

/**
 * `spec` (with the stories260K vocabulary, named `synthetic <name>`) written by us in F32 and F16 as
 * <dir>/<name>-<type>.gguf, and quantized from the F32 file to Q8_0 and Q4_K_M by llama_model_quantize
 */
export async function writeForwardModels(oracle: Oracle, dir: string, name: string, spec: SyntheticSpec): Promise<Map<ForwardType, string>> {
  const tokenizerKvs = await storiesTokenizerKvs();
  const files = new Map<ForwardType, string>();
  for (const [type, dtype] of [['F32', GgmlType.F32], ['F16', GgmlType.F16]] as const) {
    const f = path.join(dir, `${name}-${type}.gguf`);
    await syntheticModel({ ...spec, dtype, tokenizerKvs, name: `synthetic ${name}` }).write(await FileSink.create(f));
    files.set(type, f);
  }
  for (const type of ['Q8_0', 'Q4_K_M'] as const) {
    const q = path.join(dir, `${name}-${type}.gguf`);
    const status = oracle.modelQuantize(files.get('F32')!, q, { ftype: FTYPE[type] });
    expect(status, oracle.lastQuantizeError()).toBe(0);
    files.set(type, q);
  }
  return files;
}

/** our model from a GGUF file (the file is closed once the weights are read) */
export async function loadOurs(file: string): Promise<LlamaModel> {
  const m = await openGgufModelFile(file);
  try {
    return await LlamaModel.load(m);
  } finally {
    await m.close();
  }
}

/** the tokenizer.* key-values of stories260K (a 512-token SentencePiece vocabulary), for generated models */
export async function storiesTokenizerKvs(): Promise<GgufKv[]> {
  const stories = await openGgufModelFile(STORIES);
  const kvs = stories.kvs.filter((k) => k.key.startsWith('tokenizer.'));
  await stories.close();
  return kvs;
}

/** llama_decode's logits (ids.length × nVocab) of one sequence from position 0, in ubatches of `ubatch` */
export function decodeLogits(file: string, ids: ArrayLike<number>, ubatch: number): { logits: Float32Array; nVocab: number } {
  const o = openDecodeOracle(file, ids.length)!;
  const logits = o.decode(ids, ubatch);
  const nVocab = o.nVocab;
  o.free();
  return { logits, nVocab };
}

/** max |ours - llama_decode| per position */
export function worstPerPosition(ours: Float32Array, theirs: Float32Array, V: number): number[] {
  return Array.from({ length: ours.length / V }, (_, t) => {
    let d = 0;
    for (let i = 0; i < V; i++) d = Math.max(d, Math.abs(ours[t * V + i] - theirs[t * V + i]));
    return d;
  });
}

/**
 * computeKld over `ids` in chunks of `nCtx` (BOS 1) from our models and from llama_decode's logits (in
 * ubatches of `ubatch`; it stands in for our model: computeKld only calls forward and reads nVocab), and
 * one line comparing them, headed `label`
 */
export async function kldOursAndTheirs(label: string, base: string, quant: string, ids: ArrayLike<number>, nCtx: number, ubatch: number): Promise<{ ours: KldStats; theirs: KldStats }> {
  const viaOracle = (f: string) => {
    const o = openDecodeOracle(f, nCtx)!;
    return { o, model: { hp: { nVocab: o.nVocab }, forward: async (chunk: ArrayLike<number>) => o.decode(chunk, ubatch) } as unknown as LlamaModel };
  };
  const opts = { nCtx, bos: 1 };
  const a = await computeKld(await loadOurs(base), await loadOurs(quant), ids, opts);
  const theirs = { base: viaOracle(base), q: viaOracle(quant) };
  const b = await computeKld(theirs.base.model, theirs.q.model, ids, opts);
  theirs.base.o.free();
  theirs.q.o.free();
  console.log(`${label}: ppl_base ${a.ppl_base_full[0].toFixed(4)} vs ${b.ppl_base_full[0].toFixed(4)}, ppl_q ${a.ppl_q[0].toFixed(4)} vs ${b.ppl_q[0].toFixed(4)}, ` +
    `mean KLD ${a.mean_kld[0].toExponential(4)} vs ${b.mean_kld[0].toExponential(4)} (rel ${(Math.abs(a.mean_kld[0] - b.mean_kld[0]) / Math.abs(b.mean_kld[0])).toExponential(2)}), same top ${a.same_top_p_pct[0].toFixed(2)} vs ${b.same_top_p_pct[0].toFixed(2)} %`);
  return { ours: a, theirs: b };
}

/**
 * What llama-imatrix's collection rule gathers from llama.cpp's graph (llama-decode.ts's eval callback) over
 * the first `chunks` imatrix chunks of `nCtx` tokens of `ids` (BOS 1), each decoded in one ubatch
 */
export function decodeImatrix(file: string, ids: ArrayLike<number>, nCtx: number, chunks: number, processOutput: boolean): Map<string, OracleImatrixEntry> {
  const o = openDecodeOracle(file, nCtx, { imatrix: { processOutput } })!;
  const plan = planChunks(ids.length, nCtx, chunks, 'imatrix');
  for (let c = 0; c < plan.nChunk; c++) o.decode(chunkTokens(ids, plan, c, 1), nCtx);
  const imatrix = o.imatrix;
  o.free();
  return imatrix;
}
