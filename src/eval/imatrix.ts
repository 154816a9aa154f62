/**
 * The importance matrix as llama-imatrix (v0.5.0) makes it: for every matmul whose weight is a
 * `blk.*` tensor (and `output.weight` with processOutput), the sum over all evaluated tokens of the
 * squared F32 input activations, per input column, with the number of tokens as its count; every token
 * of every chunk counts. A mixture-of-experts matrix (`*_exps`, ggml's MUL_MAT_ID) keeps one row of sums
 * and one count per expert: expert e sums the inputs of the (token, slot) pairs routed to it (for
 * gate/up the token's normed state, for down that expert's SwiGLU output) and counts them; an expert no
 * token chose keeps zeros. Written in llama-imatrix's GGUF format: general.type = imatrix,
 * imatrix.datasets, imatrix.chunk_count, imatrix.chunk_size, then `<name>.in_sum2` [n, n_mat] and
 * `<name>.counts` [1, n_mat] (F32) per entry (n_mat = 1, or n_expert), entries sorted by name.
 */
import { planOutput } from '../formats/gguf-writer.js';
import { GgufValueType, kvArray, kvString, kvU32 } from '../formats/gguf-kv.js';
import { GgmlType } from '../core/ggml-type.js';
import type { ExpertSlot, ForwardOptions, LlamaModel, MatmulBackend } from '../model/llama.js';
import { chunkTokens, planChunks, PplAccumulator, tokenNll } from './chunks.js';

export interface ImatrixEntry {
  /** Σ x² per input column, accumulated in F32: n_mat rows (1, or one per expert) of the matrix's columns */
  readonly sums: Float32Array;
  /** rows summed, per matrix (n_mat) */
  readonly counts: number[];
}

export interface ImatrixResult {
  /** weight name -> data, in the order first seen */
  readonly entries: Map<string, ImatrixEntry>;
  readonly chunkCount: number;
  readonly chunkSize: number;
  /** perplexity over the chunks' second halves: [value, uncertainty] */
  readonly ppl: [number, number];
  readonly tokens: number;
}

export interface ImatrixOptions {
  nCtx: number;
  /** at most this many chunks (default: all) */
  chunks?: number;
  /** also collect output.weight (llama-imatrix --process-output) */
  processOutput?: boolean;
  /** where the matmuls run (default: the CPU); a backend with its own `forward` (GpuForward) sums on the device */
  matmul?: MatmulBackend;
  /** the forward pass's attention kernel (see ForwardOptions; each chunk is one ubatch) */
  attention?: ForwardOptions['attention'];
  /** BOS id put at each chunk's start, or null */
  bos: number | null;
  /** after each chunk: its 1-based number, the total, the running perplexity */
  onChunk?: (done: number, total: number, ppl: number) => void;
  what?: string;
}

export async function computeImatrix(model: LlamaModel, tokens: ArrayLike<number>, o: ImatrixOptions): Promise<ImatrixResult> {
  const plan = planChunks(tokens.length, o.nCtx, o.chunks, o.what ?? 'imatrix');
  const entries = new Map<string, ImatrixEntry>();
  const wanted = (name: string) => name.startsWith('blk.') || (o.processOutput && name === 'output.weight');
  /** the entry's sums row and count slot for this matmul (an expert's own row of an n_expert-row entry) */
  const slotOf = (name: string, cols: number, expert?: ExpertSlot) => {
    const nMat = expert?.count ?? 1;
    let e = entries.get(name);
    if (!e) entries.set(name, (e = { sums: new Float32Array(cols * nMat), counts: new Array<number>(nMat).fill(0) }));
    if (e.counts.length !== nMat || e.sums.length !== cols * nMat) {
      throw new RangeError(`imatrix: '${name}' is used with ${cols} x ${nMat} and ${e.sums.length / e.counts.length} x ${e.counts.length} values`);
    }
    const i = expert?.index ?? 0;
    return { e, i, s: e.sums.subarray(i * cols, (i + 1) * cols) };
  };
  const collect = (name: string, x: Float32Array, rows: number, cols: number, expert?: ExpertSlot) => {
    // (llama-imatrix skips plain matmuls over fewer than 16 rows, but its ubatches hold up to 512 tokens of several
    // chunks, so every chunk's rows are collected in practice; expert matmuls it collects whatever their rows)
    if (!wanted(name)) return;
    const { e, i, s } = slotOf(name, cols, expert);
    for (let r = 0; r < rows; r++) {
      const off = r * cols;
      for (let j = 0; j < cols; j++) s[j] += x[off + j] * x[off + j];
    }
    e.counts[i] += rows;
  };
  // a backend that runs the whole pass hands over each chunk's Σx² per column, summed where it runs
  const collectSums = (name: string, sums: Float32Array, rows: number, expert?: ExpertSlot) => {
    if (!wanted(name)) return;
    const { e, i, s } = slotOf(name, sums.length, expert);
    for (let j = 0; j < sums.length; j++) s[j] += sums[j];
    e.counts[i] += rows;
  };
  const onDevice = !!o.matmul?.forward;
  const ppl = new PplAccumulator();
  const nVocab = model.hp.nVocab;
  for (let c = 0; c < plan.nChunk; c++) {
    const chunk = chunkTokens(tokens, plan, c, o.bos);
    const logits = await model.forward(chunk, onDevice
      ? { onMatmulSums: collectSums, matmul: o.matmul, attention: o.attention }
      : { onMatmulInput: collect, matmul: o.matmul, attention: o.attention });
    for (let i = plan.first; i < plan.nCtx - 1; i++) ppl.add(tokenNll(logits, i * nVocab, nVocab, tokens[c * plan.nCtx + i + 1]));
    o.onChunk?.(c + 1, plan.nChunk, ppl.ppl);
  }
  for (const [name, e] of entries) {
    for (let j = 0; j < e.sums.length; j++) {
      if (!Number.isFinite(e.sums[j])) throw new RangeError(`imatrix: non-finite values in '${name}' (column ${j})`);
    }
  }
  // llama-imatrix's chunk count: the most rows any matrix saw / chunk size (an expert sees at most every token)
  let most = 0;
  for (const e of entries.values()) for (const c of e.counts) most = Math.max(most, c);
  return { entries, chunkCount: Math.floor(most / plan.nCtx), chunkSize: plan.nCtx, ppl: ppl.final(), tokens: plan.nChunk * plan.nCtx };
}

const ENC = new TextEncoder();
function byteCompare(a: string, b: string): number {
  const x = ENC.encode(a);
  const y = ENC.encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

/** The imatrix GGUF file's bytes; `datasets` are the text file names as given on the command line. */
export function imatrixGguf(r: ImatrixResult, datasets: readonly string[]): Uint8Array {
  const names = [...r.entries.keys()].sort(byteCompare);
  const kvs = [
    kvString('general.type', 'imatrix'),
    kvArray('imatrix.datasets', GgufValueType.STRING, [...datasets]),
    kvU32('imatrix.chunk_count', r.chunkCount),
    kvU32('imatrix.chunk_size', r.chunkSize),
  ];
  const tensors: { name: string; ne: number[]; type: GgmlType; data: Float32Array }[] = [];
  for (const n of names) {
    const e = r.entries.get(n)!;
    const nMat = e.counts.length;
    tensors.push({ name: `${n}.in_sum2`, ne: [e.sums.length / nMat, nMat], type: GgmlType.F32, data: e.sums });
    tensors.push({ name: `${n}.counts`, ne: [1, nMat], type: GgmlType.F32, data: Float32Array.from(e.counts) });
  }
  const plan = planOutput({ kvs, tensors });
  const out = new Uint8Array(plan.fileSize);
  out.set(plan.meta, 0);
  tensors.forEach((t, i) => out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), plan.dataOffset + plan.offsets[i]));
  return out;
}
