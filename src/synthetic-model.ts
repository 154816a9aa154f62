/**
 * A llama-family GGUF (architecture llama, qwen2, qwen3 or qwen3moe) made from seeded random values: the built-in demo model, the generated
 * models that tests quantize with both llama.cpp and this project, and the multi-GB models of the memory
 * benchmark. Streams tensor data row slab by row slab, so a 4 GB model never sits in memory.
 * Browser-safe.
 */
import { GgufValueType, kvArray, kvF32, kvString, kvU32, type GgufKv } from './formats/gguf-kv.js';
import { planOutput, paddingAfter, ZERO_PAD, type OutputPlan } from './formats/gguf-writer.js';
import type { ByteSink } from './formats/byte-source.js';
import { fp32ToBf16, fp32ToFp16 } from './core/half.js';
import { GgmlType } from './core/ggml-type.js';

export interface SyntheticSpec {
  /**
   * default llama; qwen2 adds blk.N.attn_{q,k,v}.bias, qwen3 and qwen3moe add blk.N.attn_{q,k}_norm.weight
   * (qwen3moe: with nExpert, its experts nFf wide as expert_feed_forward_length)
   */
  arch?: 'llama' | 'qwen2' | 'qwen3' | 'qwen3moe';
  /** attention head size (default nEmbd / nHead); when given, written as attention.key_length/value_length */
  headDim?: number;
  nLayer: number;
  nEmbd: number;
  nFf: number;
  nHead: number;
  nHeadKv: number;
  nVocab: number;
  /** experts per layer (0: dense); with experts the FFN tensors are 3-D `*_exps` */
  nExpert?: number;
  /** storage type of the 2-D weights: F32, F16 or BF16 (norms stay F32) */
  dtype?: GgmlType.F32 | GgmlType.F16 | GgmlType.BF16;
  /** write a separate output.weight (otherwise embeddings are tied) */
  untiedOutput?: boolean;
  /** write an output.bias [nVocab] (qwen2 loads one when present) */
  outputBias?: boolean;
  /** the `tokenizer.*` KVs to write instead of the generated `tok<i>` vocabulary (nVocab tokens) */
  tokenizerKvs?: readonly GgufKv[];
  seed?: number;
  name?: string;
  /** value generator; default: gaussian rows with per-row scale and rare outliers */
  values?: (tensor: string, row: number, out: Float32Array, rand: () => number) => void;
}

export interface SyntheticTensor {
  name: string;
  ne: number[];
  type: GgmlType;
}

/** mulberry32: a small, fast, seeded generator of uniform numbers in [0, 1) (shared by tests and benches) */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

function defaultValues(_tensor: string, _row: number, out: Float32Array, rand: () => number): void {
  const scale = 0.02 * Math.exp(2 * (rand() - 0.5));
  for (let i = 0; i < out.length; i++) {
    const u = Math.max(rand(), 1e-12);
    const g = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
    out[i] = rand() < 0.002 ? g * scale * 20 : g * scale;
  }
}

export function syntheticTensors(spec: SyntheticSpec): SyntheticTensor[] {
  const w = spec.dtype ?? GgmlType.F32;
  const headDim = spec.headDim ?? spec.nEmbd / spec.nHead;
  const qDim = headDim * spec.nHead;
  const kvDim = headDim * spec.nHeadKv;
  const t: SyntheticTensor[] = [{ name: 'token_embd.weight', ne: [spec.nEmbd, spec.nVocab], type: w }];
  if (spec.untiedOutput !== false) t.push({ name: 'output.weight', ne: [spec.nEmbd, spec.nVocab], type: w });
  if (spec.outputBias) t.push({ name: 'output.bias', ne: [spec.nVocab], type: GgmlType.F32 });
  t.push({ name: 'output_norm.weight', ne: [spec.nEmbd], type: GgmlType.F32 });
  for (let l = 0; l < spec.nLayer; l++) {
    const b = `blk.${l}.`;
    t.push(
      { name: `${b}attn_norm.weight`, ne: [spec.nEmbd], type: GgmlType.F32 },
      { name: `${b}attn_q.weight`, ne: [spec.nEmbd, qDim], type: w },
      { name: `${b}attn_k.weight`, ne: [spec.nEmbd, kvDim], type: w },
      { name: `${b}attn_v.weight`, ne: [spec.nEmbd, kvDim], type: w },
    );
    if (spec.arch === 'qwen2') {
      t.push(
        { name: `${b}attn_q.bias`, ne: [qDim], type: GgmlType.F32 },
        { name: `${b}attn_k.bias`, ne: [kvDim], type: GgmlType.F32 },
        { name: `${b}attn_v.bias`, ne: [kvDim], type: GgmlType.F32 },
      );
    }
    if (spec.arch === 'qwen3' || spec.arch === 'qwen3moe') {
      t.push(
        { name: `${b}attn_q_norm.weight`, ne: [headDim], type: GgmlType.F32 },
        { name: `${b}attn_k_norm.weight`, ne: [headDim], type: GgmlType.F32 },
      );
    }
    t.push(
      { name: `${b}attn_output.weight`, ne: [qDim, spec.nEmbd], type: w },
      { name: `${b}ffn_norm.weight`, ne: [spec.nEmbd], type: GgmlType.F32 },
    );
    if (spec.nExpert && spec.nExpert > 1) {
      t.push(
        { name: `${b}ffn_gate_inp.weight`, ne: [spec.nEmbd, spec.nExpert], type: GgmlType.F32 },
        { name: `${b}ffn_gate_exps.weight`, ne: [spec.nEmbd, spec.nFf, spec.nExpert], type: w },
        { name: `${b}ffn_up_exps.weight`, ne: [spec.nEmbd, spec.nFf, spec.nExpert], type: w },
        { name: `${b}ffn_down_exps.weight`, ne: [spec.nFf, spec.nEmbd, spec.nExpert], type: w },
      );
    } else {
      t.push(
        { name: `${b}ffn_gate.weight`, ne: [spec.nEmbd, spec.nFf], type: w },
        { name: `${b}ffn_up.weight`, ne: [spec.nEmbd, spec.nFf], type: w },
        { name: `${b}ffn_down.weight`, ne: [spec.nFf, spec.nEmbd], type: w },
      );
    }
  }
  return t;
}

export function syntheticKvs(spec: SyntheticSpec): GgufKv[] {
  const tokens = Array.from({ length: spec.nVocab }, (_, i) => (i < 3 ? ['<unk>', '<s>', '</s>'][i] : `tok${i}`));
  const a = spec.arch ?? 'llama';
  const kvs: GgufKv[] = [
    kvString('general.architecture', a),
    kvString('general.name', spec.name ?? 'synthetic'),
    kvU32(`${a}.context_length`, 256),
    kvU32(`${a}.embedding_length`, spec.nEmbd),
    // (qwen3moe's experts are expert_feed_forward_length wide; its feed_forward_length, unused, differs here)
    kvU32(`${a}.feed_forward_length`, a === 'qwen3moe' ? 3 * spec.nFf : spec.nFf),
    kvU32(`${a}.block_count`, spec.nLayer),
    kvU32(`${a}.attention.head_count`, spec.nHead),
    kvU32(`${a}.attention.head_count_kv`, spec.nHeadKv),
    kvF32(`${a}.attention.layer_norm_rms_epsilon`, 1e-5),
    kvU32(`${a}.rope.dimension_count`, spec.headDim ?? spec.nEmbd / spec.nHead),
  ];
  if (spec.headDim !== undefined) kvs.push(kvU32(`${a}.attention.key_length`, spec.headDim), kvU32(`${a}.attention.value_length`, spec.headDim));
  if (spec.nExpert && spec.nExpert > 1) {
    kvs.push(kvU32(`${a}.expert_count`, spec.nExpert), kvU32(`${a}.expert_used_count`, 2));
    if (a === 'qwen3moe') kvs.push(kvU32(`${a}.expert_feed_forward_length`, spec.nFf));
  }
  kvs.push(kvU32('general.file_type', spec.dtype === GgmlType.F16 ? 1 : spec.dtype === GgmlType.BF16 ? 32 : 0));
  if (spec.tokenizerKvs) {
    kvs.push(...spec.tokenizerKvs);
    return kvs;
  }
  kvs.push(
    kvString('tokenizer.ggml.model', 'llama'),
    kvArray('tokenizer.ggml.tokens', GgufValueType.STRING, tokens),
    kvArray('tokenizer.ggml.scores', GgufValueType.FLOAT32, new Float32Array(spec.nVocab)),
    kvArray('tokenizer.ggml.token_type', GgufValueType.INT32, Int32Array.from(tokens, (_, i) => (i < 3 ? 3 : 1))),
    kvU32('tokenizer.ggml.bos_token_id', 1),
    kvU32('tokenizer.ggml.eos_token_id', 2),
    kvU32('tokenizer.ggml.unknown_token_id', 0),
  );
  return kvs;
}

export interface SyntheticModel {
  tensors: SyntheticTensor[];
  layout: OutputPlan;
  /** write the whole file (header, then every tensor's data slab by slab) */
  write(sink: ByteSink, slabBytes?: number): Promise<void>;
}

export function syntheticModel(spec: SyntheticSpec): SyntheticModel {
  const tensors = syntheticTensors(spec);
  const layout = planOutput({ kvs: syntheticKvs(spec), tensors });
  const gen = spec.values ?? defaultValues;
  const write = async (sink: ByteSink, slabBytes = 16 << 20) => {
    await sink.write(layout.meta);
    for (const t of tensors) {
      const rand = mulberry32(hash(t.name) ^ (spec.seed ?? 1));
      const n = t.ne[0];
      const rows = t.ne.slice(1).reduce((a, b) => a * b, 1);
      const elt = t.type === GgmlType.F32 ? 4 : 2;
      const step = Math.max(1, Math.floor(slabBytes / (n * elt)));
      const row = new Float32Array(n);
      for (let r0 = 0; r0 < rows; r0 += step) {
        const m = Math.min(step, rows - r0);
        const buf = new Uint8Array(m * n * elt);
        const dv = new DataView(buf.buffer);
        for (let r = 0; r < m; r++) {
          if (t.name.endsWith('.bias')) for (let i = 0; i < n; i++) row[i] = 0.5 * (rand() - 0.5); // biases around 0
          else if (t.ne.length === 1) for (let i = 0; i < n; i++) row[i] = 1 + 0.1 * (rand() - 0.5); // norms near 1
          else gen(t.name, r0 + r, row, rand);
          for (let i = 0; i < n; i++) {
            const o = (r * n + i) * elt;
            if (t.type === GgmlType.F32) dv.setFloat32(o, row[i], true);
            else dv.setUint16(o, t.type === GgmlType.F16 ? fp32ToFp16(row[i]) : fp32ToBf16(row[i]), true);
          }
        }
        await sink.write(buf);
      }
      const nbytes = rows * n * elt;
      await sink.write(ZERO_PAD.subarray(0, paddingAfter(nbytes)));
    }
    await sink.close();
  };
  return { tensors, layout, write };
}

/** The built-in demo: a 2-layer llama with 256-wide embeddings (every K-quant applies), about 5 MB in F32. */
export const DEMO_SPEC: SyntheticSpec = {
  nLayer: 2, nEmbd: 256, nFf: 512, nHead: 4, nHeadKv: 1, nVocab: 320, name: 'webgpu-quantize demo', seed: 7,
};
