/**
 * The importance matrix as llama-imatrix (v0.5.0) makes it: for every matmul whose weight is a
 * `blk.*` tensor (and `output.weight` with processOutput), the sum over all evaluated tokens of the
 * squared F32 input activations, per input column, with the number of tokens as its count; every token
 * of every chunk counts. Written in llama-imatrix's GGUF format: general.type = imatrix,
 * imatrix.datasets, imatrix.chunk_count, imatrix.chunk_size, then `<name>.in_sum2` [n, 1] and
 * `<name>.counts` [1, 1] (F32) per entry, entries sorted by name.
 */
import { planOutput } from '../formats/gguf-writer.js';
import { GgufValueType, kvArray, kvString, kvU32 } from '../formats/gguf-kv.js';
import { GgmlType } from '../core/ggml-type.js';
import type { ForwardOptions, LlamaModel, MatmulBackend } from '../model/llama.js';
import { chunkTokens, planChunks, PplAccumulator, tokenNll } from './chunks.js';

export interface ImatrixEntry {
  /** Σ x² per input column, accumulated in F32 */
  readonly sums: Float32Array;
  count: number;
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
  const collect = (name: string, x: Float32Array, rows: number, cols: number) => {
    // (llama-imatrix skips matmuls over fewer than 16 rows, but its ubatches hold up to 512 tokens of several
    // chunks, so every chunk's rows are collected in practice)
    if (!(name.startsWith('blk.') || (o.processOutput && name === 'output.weight'))) return;
    let e = entries.get(name);
    if (!e) entries.set(name, (e = { sums: new Float32Array(cols), count: 0 }));
    const s = e.sums;
    for (let r = 0; r < rows; r++) {
      const off = r * cols;
      for (let j = 0; j < cols; j++) s[j] += x[off + j] * x[off + j];
    }
    e.count += rows;
  };
  // a backend that runs the whole pass hands over each chunk's Σx² per column, summed where it runs
  const collectSums = (name: string, sums: Float32Array, rows: number) => {
    if (!(name.startsWith('blk.') || (o.processOutput && name === 'output.weight'))) return;
    let e = entries.get(name);
    if (!e) entries.set(name, (e = { sums: new Float32Array(sums.length), count: 0 }));
    for (let j = 0; j < sums.length; j++) e.sums[j] += sums[j];
    e.count += rows;
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
  // llama-imatrix's chunk count: tokens seen by a tensor / chunk size
  const first = entries.values().next().value;
  return { entries, chunkCount: first ? Math.floor(first.count / plan.nCtx) : 0, chunkSize: plan.nCtx, ppl: ppl.final(), tokens: plan.nChunk * plan.nCtx };
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
    tensors.push({ name: `${n}.in_sum2`, ne: [e.sums.length, 1], type: GgmlType.F32, data: e.sums });
    tensors.push({ name: `${n}.counts`, ne: [1, 1], type: GgmlType.F32, data: Float32Array.of(e.count) });
  }
  const plan = planOutput({ kvs, tensors });
  const out = new Uint8Array(plan.fileSize);
  out.set(plan.meta, 0);
  tensors.forEach((t, i) => out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), plan.dataOffset + plan.offsets[i]));
  return out;
}
