/**
 * The forward pass of a `llama`-family GGUF model on the CPU, one chunk (one sequence starting at
 * position 0) at a time: token embedding, per layer RMSNorm -> Q/K/V (+ their biases when the file has
 * them) -> [per-head RMSNorm of Q and K] -> RoPE -> causal grouped-query attention -> output projection
 * -> residual, RMSNorm -> FFN -> residual, then the final RMSNorm and the output logits [+ output.bias].
 * The FFN is SwiGLU, or with `<arch>.expert_count` > 0 (architecture llama: Mixtral-style files) a mixture
 * of experts (moeFfn: a router picks `expert_used_count` SwiGLU experts per token, see routeTokens).
 * What differs between the architectures is in ARCHS (one entry each).
 *
 * It computes what llama.cpp's CPU backend computes on x86-64 (ggml-cpu's AVX-512 variant, the one the
 * oracle library loads here), down to the order of its float operations where that order reaches the
 * results (cpu-simd-math.ts holds the pieces):
 * - the activations going into each matmul are rounded to the weight type's dot-product type (act-round.ts);
 * - F32, F16 and BF16 weights are multiplied as llamafile's tinyBLAS does (matmulLanes16: 16 lanes of fused
 *   multiply-adds, vdpbf16ps pairs for BF16, then the lanes' horizontal sum); quantized weights, whose
 *   integer dot products ggml-cpu scales per block, get the exactly rounded sum;
 * - RMSNorm sums F32 squares in double; RoPE's two products are one fused multiply-add each; SwiGLU's
 *   SiLU is ggml_v_silu (vExpf);
 * - K and V are kept in an F16 cache, and attention follows ggml's one-row flash-attention loop (Q rounded
 *   to F16, q·k as ggml_vec_dot_f16, the V accumulator held in F16 and fed by fused multiply-adds).
 *   llama-imatrix and llama-perplexity run 16 sequences per batch in ubatches of 512, which gives each
 *   sequence 32 queries per ubatch: that loop, the default. `attention: 'auto'` follows instead the kernel
 *   ggml-cpu picks per ubatch for one sequence (llama_decode through the oracle): its tiled kernel
 *   (tiledAttentionRow) for ubatches of 64 or more queries.
 * Measured against llama-imatrix on models and texts the tests never saw (bench/results): every imatrix
 * entry within 2.2e-5 (F16 llama) and 7.3e-5 (BF16 qwen3) of its tensor's max; what remains comes from
 * libm's expf, sinf and cosf, which are not correctly rounded and which this path takes as Math.exp,
 * Math.sin and Math.cos rounded to F32.
 * Weights keep their stored bytes (what the GPU forward pass, gpu-forward.ts, uploads); the CPU path expands
 * them to F32 the first time it needs them, for every type the registry can dequantize.
 *
 * A backend with its own `forward` (GpuForward) runs the whole pass instead; `MatmulBackend.matmul` alone
 * puts only the matmuls elsewhere (gpu-matmul.ts).
 */
import { QuantizeError } from '../errors.js';
import { findKv, kvNumber, kvStringValue, type GgufKv } from '../formats/gguf-kv.js';
import { readTensorRows, toFloat32, type GgufModel } from '../formats/gguf-model.js';
import type { GgufTensorInfo } from '../formats/gguf-reader.js';
import { GgmlType, typeLayout } from '../core/ggml-type.js';
import { dequantizeRows, quantType } from '../quant/registry.js';
import { actRoundFor, roundActivations, type ActRound } from './act-round.js';
import { fma32, reduceAdd16, vecDotF16, vExpf, vSilu } from './cpu-simd-math.js';

/**
 * What an architecture's graph does differently from llama's (llama.cpp v0.5.0, src/models/<arch>.cpp).
 * Common to all of them: `blk.N.attn_{q,k,v}.bias` are added after their matmuls when the file has them
 * (llama.cpp's create_tensor_qkv loads them as optional for every architecture here; Qwen2 files have
 * them), and an absent `output.weight` means the output is tied to `token_embd.weight`.
 */
export interface ArchConfig {
  /** RoPE pairs: 'norm' rotates (2i, 2i+1); 'neox' rotates (i, i + ropeDims/2) */
  readonly rope: 'norm' | 'neox';
  /** RMSNorm of each Q and K head (`blk.N.attn_{q,k}_norm.weight`, headDim wide) after the bias, before RoPE */
  readonly qkNorm: boolean;
  /** `output.bias` (optional) is added to the logits */
  readonly outputBias: boolean;
  /**
   * the FFN: 'dense'; 'optional' experts (llama: with `<arch>.expert_count` > 0 every layer is a mixture whose
   * experts are feed_forward_length wide); 'required' (qwen3moe: always a mixture, its experts
   * expert_feed_forward_length wide, else feed_forward_length / expert_used_count)
   */
  readonly experts: 'dense' | 'optional' | 'required';
}

export const ARCHS: Readonly<Record<string, ArchConfig>> = {
  llama: { rope: 'norm', qkNorm: false, outputBias: false, experts: 'optional' },
  qwen2: { rope: 'neox', qkNorm: false, outputBias: true, experts: 'dense' },
  qwen3: { rope: 'neox', qkNorm: true, outputBias: false, experts: 'dense' },
  qwen3moe: { rope: 'neox', qkNorm: true, outputBias: false, experts: 'required' },
};

export interface LlamaHParams {
  readonly arch: string;
  readonly archConfig: ArchConfig;
  readonly nEmbd: number;
  /** the FFN's width (each expert's, in a mixture of experts) */
  readonly nFf: number;
  readonly nLayer: number;
  readonly nHead: number;
  readonly nHeadKv: number;
  readonly headDim: number;
  readonly ropeDims: number;
  readonly ropeBase: number;
  readonly ropeFreqScale: number;
  readonly eps: number;
  readonly nVocab: number;
  readonly nCtxTrain: number;
  /** experts per layer (0: dense FFN) and the experts each token uses */
  readonly nExpert: number;
  readonly nExpertUsed: number;
}

/** One weight matrix: its stored bytes, and its F32 values made on first use (shared by a tied copy). */
export class Weight {
  readonly round: ActRound;
  constructor(
    readonly name: string,
    readonly type: GgmlType,
    /** output rows (ne[1]) */
    readonly rows: number,
    /** values per row (ne[0]) */
    readonly cols: number,
    /** the tensor's bytes as the file stores them */
    readonly stored: Uint8Array,
    private readonly cache: { values?: Float32Array } = {},
  ) {
    this.round = actRoundFor(type);
  }

  /** dequantized, row-major rows × cols */
  get data(): Float32Array {
    if (!this.cache.values) {
      const { type, stored } = this;
      // F32: a view of the stored bytes (no second copy) when they are aligned
      if (type === GgmlType.F32 && stored.byteOffset % 4 === 0) this.cache.values = new Float32Array(stored.buffer, stored.byteOffset, this.rows * this.cols);
      else if (type === GgmlType.F32 || type === GgmlType.F16 || type === GgmlType.BF16) this.cache.values = toFloat32(type, stored);
      else {
        const v = new Float32Array(this.rows * this.cols);
        dequantizeRows(quantType(type)!, stored, v, v.length);
        this.cache.values = v;
      }
    }
    return this.cache.values;
  }
}

/** the dense FFN: down(silu(gate·x) * up·x) */
export interface DenseFfn {
  readonly kind: 'dense';
  readonly gate: Weight;
  readonly up: Weight;
  readonly down: Weight;
}

/**
 * A mixture of SwiGLU experts (llama.cpp's build_moe_ffn as the llama graph calls it): `gateInp` (the
 * router, `blk.N.ffn_gate_inp.weight`, n_expert rows) and per expert its gate/up/down matrices, each a
 * slice of the rows of the 3-D `blk.N.ffn_{gate,up,down}_exps.weight` (every expert's Weight carries the
 * tensor's name).
 */
export interface MoeFfn {
  readonly kind: 'moe';
  readonly gateInp: Weight;
  /** experts per token */
  readonly nUsed: number;
  readonly gate: readonly Weight[];
  readonly up: readonly Weight[];
  readonly down: readonly Weight[];
}

export interface Layer {
  attnNorm: Float32Array;
  q: Weight;
  k: Weight;
  v: Weight;
  /** absent when the file has no such tensor */
  qBias?: Float32Array;
  kBias?: Float32Array;
  vBias?: Float32Array;
  /** with archConfig.qkNorm */
  qNorm?: Float32Array;
  kNorm?: Float32Array;
  o: Weight;
  ffnNorm: Float32Array;
  ffn: DenseFfn | MoeFfn;
}

/** which expert's matrix a matmul multiplies with: `index` of `count` (the imatrix keeps one row of sums per expert) */
export interface ExpertSlot {
  readonly index: number;
  readonly count: number;
}

/** where the matmuls run: the CPU loop here, or the GPU (gpu-matmul.ts); or the whole pass (gpu-forward.ts) */
export interface MatmulBackend {
  readonly name: string;
  /** out (T × m) = x (T × n) · wᵀ; `dot`: the weight's dot-product type (its activations' rounding) */
  matmul(x: Float32Array, w: Float32Array, T: number, n: number, m: number, out: Float32Array, dot?: ActRound): void | Promise<void>;
  /** the whole forward pass of one chunk, when the backend runs it (LlamaModel.forward then delegates) */
  forward?(model: LlamaModel, tokens: ArrayLike<number>, opts: ForwardOptions): Promise<Float32Array>;
}

export const CPU_MATMUL: MatmulBackend = {
  name: 'cpu',
  matmul: (x, w, T, n, m, out, dot) => (tinyBlasApplies(dot, T, n, m) ? matmulLanes16(x, w, T, n, m, out, dot as 'f32' | 'f16' | 'bf16') : matmul(x, w, T, n, m, out)),
};

export interface ForwardOptions {
  /** default: CPU_MATMUL */
  matmul?: MatmulBackend;
  /** ggml's rounding of activations to each weight's dot-product type (default true) */
  roundActivations?: boolean;
  /**
   * 'fa-f16' (default): ggml's one-row flash-attention loop (F16 Q and V accumulator); 'f32': its tiled
   * kernel (F32 Q and accumulator, keys in tiles of 64); 'auto': per ubatch, as ggml-cpu (x86-64, AVX-512 variant) chooses for one sequence: 'f32'
   * (its tiled kernel) when the ubatch has at least 64 queries and the head size is a multiple of 16
   */
  attention?: 'auto' | 'fa-f16' | 'f32';
  /** tokens per llama_decode ubatch, for attention 'auto' (default: the whole sequence in one) */
  ubatch?: number;
  /**
   * each matmul's F32 input (rows = tokens, or for an expert the (slot, token) pairs routed to it, slot by
   * slot), before any rounding, with the weight's name (and which expert)
   */
  onMatmulInput?: (weight: string, x: Float32Array, rows: number, cols: number, expert?: ExpertSlot) => void;
  /**
   * per chunk, for each matmul: Σ x² over the chunk's rows per input column of its F32 input (before any
   * rounding), with the weight's name and the row count; what the imatrix needs, computed where the pass
   * runs (on the device for GpuForward, which reads them back once per chunk)
   */
  onMatmulSums?: (weight: string, sums: Float32Array, rows: number, expert?: ExpertSlot) => void;
}

const fround = Math.fround;
/** Veltkamp split: rounds a double to 11 significant bits (binary16's precision, normal range) */
const SPLIT16 = 2 ** 42 + 1;
/** adding and removing it rounds a double below 2^51 to an integer, ties to even */
const ROUND_INT = 1.5 * 2 ** 52;
/**
 * a value rounded to binary16 (ties to even), as the x86 conversion ggml uses: 11 significant bits in the
 * normal range, multiples of 2^-24 (the subnormal halves) below 2^-14, the sign kept (F16 attention
 * accumulators do reach that range: tiny weights times small V values)
 */
const r16 = (x: number): number => {
  if (Math.abs(x) < 2 ** -14) {
    const h = (Math.abs(x) * 2 ** 24 + ROUND_INT - ROUND_INT) / 2 ** 24;
    return x < 0 || Object.is(x, -0) ? -h : h;
  }
  const t = x * SPLIT16;
  return t - (t - x);
};

function hparams(kvs: readonly GgufKv[], file: string, tensors: Map<string, GgufTensorInfo>): LlamaHParams {
  const arch = kvStringValue(kvs, 'general.architecture') ?? '';
  const archConfig = Object.hasOwn(ARCHS, arch) ? ARCHS[arch] : undefined;
  if (!archConfig) {
    throw new QuantizeError(`${file}: architecture '${arch}' is not supported by the forward pass (${Object.keys(ARCHS).join(', ')})`);
  }
  const need = (key: string): number => {
    const v = kvNumber(kvs, `${arch}.${key}`);
    if (v === undefined) throw new QuantizeError(`${file}: key '${arch}.${key}' is missing`);
    return v;
  };
  const opt = (key: string, dflt: number) => kvNumber(kvs, `${arch}.${key}`) ?? dflt;
  const nEmbd = need('embedding_length');
  const nHead = need('attention.head_count');
  const headDim = opt('attention.key_length', nEmbd / nHead);
  const valueDim = opt('attention.value_length', headDim);
  const ropeDims = opt('rope.dimension_count', headDim);
  // llama.cpp's llama/qwen2/qwen3 graphs assert both
  if (valueDim !== headDim) throw new QuantizeError(`${file}: attention.value_length ${valueDim} differs from attention.key_length ${headDim}`);
  if (ropeDims !== headDim) throw new QuantizeError(`${file}: rope.dimension_count ${ropeDims} differs from the head size ${headDim}`);
  const scaling = kvStringValue(kvs, `${arch}.rope.scaling.type`);
  if (scaling && scaling !== 'none' && scaling !== 'linear') {
    throw new QuantizeError(`${file}: rope scaling '${scaling}' is not supported by the forward pass (none, linear)`);
  }
  const factor = opt('rope.scaling.factor', 0);
  const embd = tensors.get('token_embd.weight');
  if (!embd) throw new QuantizeError(`${file}: tensor 'token_embd.weight' is missing`);
  const tok = findKv(kvs, 'tokenizer.ggml.tokens');
  const nExpert = archConfig.experts === 'dense' ? 0 : opt('expert_count', 0);
  const nExpertUsed = nExpert ? opt('expert_used_count', 0) : 0;
  if (archConfig.experts === 'required' && nExpert === 0) throw new QuantizeError(`${file}: key '${arch}.expert_count' is missing or 0 (${arch} is a mixture of experts)`);
  if (nExpert > 0 && !(nExpertUsed >= 1 && nExpertUsed <= nExpert)) {
    throw new QuantizeError(`${file}: ${arch}.expert_used_count is ${nExpertUsed}, expected 1 to ${arch}.expert_count (${nExpert})`);
  }
  const nFf = archConfig.experts === 'required'
    ? opt('expert_feed_forward_length', 0) || Math.floor(need('feed_forward_length') / nExpertUsed)
    : need('feed_forward_length');
  return {
    nExpert, nExpertUsed, nFf,
    arch, archConfig, nEmbd, nHead, headDim, ropeDims,
    nLayer: need('block_count'),
    nHeadKv: opt('attention.head_count_kv', nHead),
    ropeBase: opt('rope.freq_base', 10000),
    ropeFreqScale: factor ? 1 / factor : 1,
    eps: need('attention.layer_norm_rms_epsilon'),
    nVocab: tok?.isArray ? (tok.value as string[]).length : embd.ne[1],
    nCtxTrain: opt('context_length', 0),
  };
}

export class LlamaModel {
  private constructor(
    readonly hp: LlamaHParams,
    readonly tokEmbd: Weight,
    readonly layers: readonly Layer[],
    readonly outNorm: Float32Array,
    readonly output: Weight,
    readonly outputBias: Float32Array | undefined,
  ) {}

  /** Read and dequantize every weight of a llama GGUF. */
  static async load(model: GgufModel): Promise<LlamaModel> {
    const byName = new Map(model.tensors.map((t) => [t.name, t]));
    const hp = hparams(model.kvs, model.name, byName);
    const load = async (name: string, rows: number, cols: number): Promise<Weight> => {
      const t = byName.get(name);
      if (!t) throw new QuantizeError(`${model.name}: tensor '${name}' is missing`);
      if (t.ne[0] !== cols || t.ne[1] * t.ne[2] * t.ne[3] !== rows) {
        throw new QuantizeError(`${model.name}: tensor '${name}' is ${t.ne.join('x')}, expected ${cols}x${rows}`);
      }
      const bytes = await readTensorRows(model.sources[t.shard], t, 0, rows);
      if (!(t.type === GgmlType.F32 || t.type === GgmlType.F16 || t.type === GgmlType.BF16) && !quantType(t.type)) {
        throw new QuantizeError(`${model.name}: tensor '${name}' has type ${typeLayout(t.type).name}, which this tool cannot dequantize yet`);
      }
      return new Weight(name, t.type, rows, cols, bytes);
    };
    /** the n experts of a 3-D `*_exps` tensor (cols × rows × n): each a Weight over its slice of the stored bytes */
    const experts = async (name: string, rows: number, cols: number, n: number): Promise<Weight[]> => {
      const t = byName.get(name);
      if (t && (t.ne[1] !== rows || t.ne[2] !== n || t.ne[3] !== 1)) {
        throw new QuantizeError(`${model.name}: tensor '${name}' is ${t.ne.join('x')}, expected ${cols}x${rows}x${n}`);
      }
      const all = await load(name, rows * n, cols);
      const bytes = all.stored.length / n;
      return Array.from({ length: n }, (_, e) => new Weight(name, all.type, rows, cols, all.stored.subarray(e * bytes, (e + 1) * bytes)));
    };
    const vec = async (name: string, n: number) => (await load(name, 1, n)).data;
    const optVec = async (name: string, n: number) => (byName.has(name) ? vec(name, n) : undefined);
    const { nEmbd, nFf, nHead, nHeadKv, headDim, nVocab, archConfig, nExpert } = hp;
    const ffn = async (p: string): Promise<DenseFfn | MoeFfn> => {
      if (nExpert === 0) {
        return { kind: 'dense', gate: await load(p + 'ffn_gate.weight', nFf, nEmbd), up: await load(p + 'ffn_up.weight', nFf, nEmbd), down: await load(p + 'ffn_down.weight', nEmbd, nFf) };
      }
      for (const s of ['ffn_gate_shexp', 'ffn_up_shexp', 'ffn_down_shexp']) {
        if (byName.has(`${p}${s}.weight`)) throw new QuantizeError(`${model.name}: tensor '${p}${s}.weight' (a shared expert) is not supported by the forward pass`);
      }
      return {
        kind: 'moe',
        gateInp: await load(p + 'ffn_gate_inp.weight', nExpert, nEmbd),
        nUsed: hp.nExpertUsed,
        gate: await experts(p + 'ffn_gate_exps.weight', nFf, nEmbd, nExpert),
        up: await experts(p + 'ffn_up_exps.weight', nFf, nEmbd, nExpert),
        down: await experts(p + 'ffn_down_exps.weight', nEmbd, nFf, nExpert),
      };
    };
    const layers: Layer[] = [];
    for (let i = 0; i < hp.nLayer; i++) {
      const p = `blk.${i}.`;
      if (byName.has(p + 'attn_qkv.weight')) throw new QuantizeError(`${model.name}: tensor '${p}attn_qkv.weight' (fused Q/K/V) is not supported by the forward pass`);
      layers.push({
        attnNorm: await vec(p + 'attn_norm.weight', nEmbd),
        q: await load(p + 'attn_q.weight', nHead * headDim, nEmbd),
        k: await load(p + 'attn_k.weight', nHeadKv * headDim, nEmbd),
        v: await load(p + 'attn_v.weight', nHeadKv * headDim, nEmbd),
        qBias: await optVec(p + 'attn_q.bias', nHead * headDim),
        kBias: await optVec(p + 'attn_k.bias', nHeadKv * headDim),
        vBias: await optVec(p + 'attn_v.bias', nHeadKv * headDim),
        qNorm: archConfig.qkNorm ? await vec(p + 'attn_q_norm.weight', headDim) : undefined,
        kNorm: archConfig.qkNorm ? await vec(p + 'attn_k_norm.weight', headDim) : undefined,
        o: await load(p + 'attn_output.weight', nEmbd, nHead * headDim),
        ffnNorm: await vec(p + 'ffn_norm.weight', nEmbd),
        ffn: await ffn(p),
      });
    }
    const tokEmbd = await load('token_embd.weight', nVocab, nEmbd);
    // tied: llama.cpp multiplies with token_embd.weight itself, under that name (so llama-imatrix
    // --process-output, which collects only a weight named output.weight, collects nothing for it)
    const output = byName.has('output.weight') ? await load('output.weight', nVocab, nEmbd) : tokEmbd;
    const outputBias = archConfig.outputBias ? await optVec('output.bias', nVocab) : undefined;
    return new LlamaModel(hp, tokEmbd, layers, await vec('output_norm.weight', nEmbd), output, outputBias);
  }

  /** Logits (tokens.length × nVocab) for one sequence whose first token is at position 0. */
  async forward(tokens: ArrayLike<number>, opts: ForwardOptions = {}): Promise<Float32Array> {
    const backend = opts.matmul ?? CPU_MATMUL;
    if (backend.forward) return backend.forward(this, tokens, opts);
    const { nEmbd, nFf, nHead, nHeadKv, headDim, eps, nVocab } = this.hp;
    const T = tokens.length;
    const round = opts.roundActivations ?? true;
    const attnModes = attentionModes(T, opts.ubatch ?? T, headDim, opts.attention ?? 'fa-f16');
    const x = new Float32Array(T * nEmbd);
    for (let t = 0; t < T; t++) {
      const id = tokens[t];
      if (!(id >= 0 && id < nVocab)) throw new RangeError(`token ${id} at position ${t} is outside the vocabulary (${nVocab})`);
      x.set(this.tokEmbd.data.subarray(id * nEmbd, (id + 1) * nEmbd), t * nEmbd);
    }
    const cur = new Float32Array(T * nEmbd);
    const q = new Float32Array(T * nHead * headDim);
    const k = new Float32Array(T * nHeadKv * headDim);
    const v = new Float32Array(T * nHeadKv * headDim);
    const att = new Float32Array(T * nHead * headDim);
    const proj = new Float32Array(T * nEmbd);
    const rounded = new Map<ActRound, Float32Array>();
    /** the matmuls that read `src` (rows × cols), its rounding made once per dot-product type */
    const mm = async (src: Float32Array, rows: number, cols: number, ws: [Weight, Float32Array][], expert?: ExpertSlot) => {
      rounded.clear();
      for (const [w] of ws) opts.onMatmulInput?.(w.name, src, rows, cols, expert);
      if (opts.onMatmulSums) {
        const sums = columnSquares(src, rows, cols);
        for (const [w] of ws) opts.onMatmulSums(w.name, sums, rows, expert);
      }
      for (const [w, dst] of ws) {
        let xin = src;
        if (round && w.round !== 'f32') {
          let r = rounded.get(w.round);
          if (!r) {
            r = src.slice(0, rows * cols);
            roundActivations(r, cols, w.round);
            rounded.set(w.round, r);
          }
          xin = r;
        }
        await backend.matmul(xin, w.data, rows, cols, w.rows, dst, round ? w.round : 'f32');
      }
    };
    /**
     * gate and up (rows × nFf) become silu(gate) * up in `gate`, as ggml_vec_swiglu_f32 computes each row:
     * ggml_v_silu 16 lanes at a time, the row's last nFf mod 16 values with expf
     */
    const vectorCols = nFf - (nFf % 16);
    const swiglu = (gate: Float32Array, up: Float32Array, n: number) => {
      for (let i = 0; i < n; i++) {
        const g = gate[i];
        const silu = i % nFf < vectorCols ? vSilu(g) : fround(g / fround(1 + fround(Math.exp(-g))));
        gate[i] = fround(silu * up[i]);
      }
    };
    const dense = { gate: new Float32Array(T * nFf), up: new Float32Array(T * nFf) };
    for (const L of this.layers) {
      rmsNorm(x, L.attnNorm, T, nEmbd, eps, cur);
      await mm(cur, T, nEmbd, [[L.q, q], [L.k, k], [L.v, v]]);
      if (L.qBias) addRows(q, L.qBias);
      if (L.kBias) addRows(k, L.kBias);
      if (L.vBias) addRows(v, L.vBias);
      if (L.qNorm) rmsNorm(q, L.qNorm, T * nHead, headDim, eps, q);
      if (L.kNorm) rmsNorm(k, L.kNorm, T * nHeadKv, headDim, eps, k);
      this.rope(q, T, nHead);
      this.rope(k, T, nHeadKv);
      for (let i = 0; i < k.length; i++) k[i] = r16(k[i]); // the F16 KV cache
      for (let i = 0; i < v.length; i++) v[i] = r16(v[i]);
      attention(q, k, v, T, nHead, nHeadKv, headDim, attnModes, att);
      await mm(att, T, nHead * headDim, [[L.o, proj]]);
      for (let i = 0; i < x.length; i++) x[i] = fround(x[i] + proj[i]);
      rmsNorm(x, L.ffnNorm, T, nEmbd, eps, cur);
      const F = L.ffn;
      if (F.kind === 'dense') {
        await mm(cur, T, nEmbd, [[F.gate, dense.gate], [F.up, dense.up]]);
        swiglu(dense.gate, dense.up, T * nFf);
        await mm(dense.gate, T, nFf, [[F.down, proj]]);
      } else {
        await this.moeFfn(F, cur, T, mm, swiglu, proj);
      }
      for (let i = 0; i < x.length; i++) x[i] = fround(x[i] + proj[i]);
    }
    rmsNorm(x, this.outNorm, T, nEmbd, eps, cur);
    const logits = new Float32Array(T * nVocab);
    await mm(cur, T, nEmbd, [[this.output, logits]]);
    if (this.outputBias) addRows(logits, this.outputBias);
    return logits;
  }

  /**
   * The mixture-of-experts FFN of one layer on `cur` (T × n_embd) into `out`: the router's logits
   * (gateInp·x, a plain matmul), routeTokens, then per expert the rows routed to it, gathered slot by slot
   * and token by token (ggml-cpu's MUL_MAT_ID and llama-imatrix visit them in that order), through its
   * SwiGLU; each result scaled by its token's weight for that slot, and the slots summed in order.
   */
  private async moeFfn(F: MoeFfn, cur: Float32Array, T: number, mm: MatmulGroup,
    swiglu: (gate: Float32Array, up: Float32Array, n: number) => void, out: Float32Array): Promise<void> {
    const { nEmbd, nFf, nExpert } = this.hp;
    const k = F.nUsed;
    const logits = new Float32Array(T * nExpert);
    await mm(cur, T, nEmbd, [[F.gateInp, logits]]);
    const { experts, weights } = routeTokens(logits, T, nExpert, k);
    /** each (token, slot)'s expert output, scaled by its weight */
    const slots = new Float32Array(T * k * nEmbd);
    for (let e = 0; e < nExpert; e++) {
      const routed: number[] = []; // t * k + s
      for (let s = 0; s < k; s++) for (let t = 0; t < T; t++) if (experts[t * k + s] === e) routed.push(t * k + s);
      const R = routed.length;
      if (R === 0) continue;
      const xe = new Float32Array(R * nEmbd);
      routed.forEach((ts, r) => xe.set(cur.subarray(Math.floor(ts / k) * nEmbd, (Math.floor(ts / k) + 1) * nEmbd), r * nEmbd));
      const gate = new Float32Array(R * nFf);
      const up = new Float32Array(R * nFf);
      const down = new Float32Array(R * nEmbd);
      const slot = { index: e, count: nExpert };
      await mm(xe, R, nEmbd, [[F.gate[e], gate], [F.up[e], up]], slot);
      swiglu(gate, up, R * nFf);
      await mm(gate, R, nFf, [[F.down[e], down]], slot);
      routed.forEach((ts, r) => {
        const w = weights[ts];
        for (let j = 0; j < nEmbd; j++) slots[ts * nEmbd + j] = fround(down[r * nEmbd + j] * w);
      });
    }
    for (let t = 0; t < T; t++) {
      for (let j = 0; j < nEmbd; j++) {
        let a = slots[t * k * nEmbd + j];
        for (let s = 1; s < k; s++) a = fround(a + slots[(t * k + s) * nEmbd + j]);
        out[t * nEmbd + j] = a;
      }
    }
  }

  /**
   * ggml_rope_ext over the first ropeDims of each head, the i-th pair turned by theta = pos·base^(-2i/n):
   * mode NORM pairs (2i, 2i+1), mode NEOX pairs (i, i + ropeDims/2).
   */
  private rope(a: Float32Array, T: number, nh: number): void {
    const { headDim, ropeDims } = this.hp;
    const neox = this.hp.archConfig.rope === 'neox';
    const half = ropeDims / 2;
    const table = ropeTable(this.hp, T);
    for (let t = 0; t < T; t++) {
      const cs = table.subarray(t * ropeDims, (t + 1) * ropeDims);
      for (let h = 0; h < nh; h++) {
        const o = (t * nh + h) * headDim;
        for (let i = 0; i < ropeDims; i += 2) {
          const i0 = neox ? o + i / 2 : o + i;
          const i1 = neox ? i0 + half : i0 + 1;
          const x0 = a[i0];
          const x1 = a[i1];
          // ggml-cpu's x0·cos − x1·sin and x0·sin + x1·cos, each contracted by the compiler into one fused
          // multiply-add over the rounded second product
          a[i0] = fma32(x0, cs[i], -fround(x1 * cs[i + 1]));
          a[i1] = fma32(x0, cs[i + 1], fround(x1 * cs[i]));
        }
      }
    }
  }
}

/**
 * RoPE's cos and sin for positions 0 .. T-1 as ggml computes them (theta advanced by a float product per
 * pair): row t holds (cos, sin) of pair i at [2i, 2i+1], ropeDims values per row. The GPU pass uploads it.
 */
export function ropeTable(hp: LlamaHParams, T: number): Float32Array {
  const { ropeDims, ropeBase, ropeFreqScale } = hp;
  const thetaScale = fround(Math.pow(ropeBase, -2 / ropeDims));
  const cs = new Float32Array(T * ropeDims);
  for (let t = 0; t < T; t++) {
    let theta = t;
    for (let i = 0; i < ropeDims; i += 2) {
      const th = fround(ropeFreqScale * theta);
      cs[t * ropeDims + i] = fround(Math.cos(th));
      cs[t * ropeDims + i + 1] = fround(Math.sin(th));
      theta = fround(theta * thetaScale);
    }
  }
  return cs;
}

/** the matmuls that share one input (see LlamaModel.forward) */
type MatmulGroup = (src: Float32Array, rows: number, cols: number, ws: [Weight, Float32Array][], expert?: ExpertSlot) => Promise<void>;

/** the experts each token uses, best first (T × k), and the weight of each (T × k) */
export interface Routing {
  readonly experts: Int32Array;
  readonly weights: Float32Array;
}

/**
 * llama.cpp's gating for the llama MoE graph (build_moe_ffn with softmax gating and norm_w): per token the
 * softmax of the router logits (ggml_soft_max: exp(x - max) in F32, their sum in double, scaled by the F32
 * reciprocal); the k experts of largest probability by a descending argsort, ties to the lower expert
 * index (ggml-cpu's std::sort is libstdc++'s insertion sort, stable, for up to 16 experts; past 16 its
 * tie order is the introsort's and not reproduced here); their probabilities divided by their F32 sum
 * clamped below at 2^-14. (llama does not read expert_weights_scale: no scaling.)
 */
export function routeTokens(logits: Float32Array, T: number, nExpert: number, k: number): Routing {
  const experts = new Int32Array(T * k);
  const weights = new Float32Array(T * k);
  const p = new Float32Array(nExpert);
  for (let t = 0; t < T; t++) {
    const row = logits.subarray(t * nExpert, (t + 1) * nExpert);
    let max = -Infinity;
    for (let e = 0; e < nExpert; e++) max = Math.max(max, row[e]);
    let sum = 0;
    for (let e = 0; e < nExpert; e++) sum += p[e] = fround(Math.exp(fround(row[e] - max)));
    const inv = fround(1 / sum);
    for (let e = 0; e < nExpert; e++) p[e] = fround(p[e] * inv);
    let wsum = 0;
    for (let s = 0; s < k; s++) {
      let best = -1;
      for (let e = 0; e < nExpert; e++) {
        if (p[e] === -Infinity) continue;
        if (best < 0 || p[e] > p[best]) best = e;
      }
      experts[t * k + s] = best;
      weights[t * k + s] = p[best];
      wsum = fround(wsum + p[best]);
      p[best] = -Infinity; // taken
    }
    wsum = Math.max(wsum, 6.103515625e-5);
    for (let s = 0; s < k; s++) weights[t * k + s] = fround(weights[t * k + s] / wsum);
  }
  return { experts, weights };
}

/** Σ x² per column over the rows, accumulated in F32 row by row */
function columnSquares(x: Float32Array, rows: number, cols: number): Float32Array {
  const s = new Float32Array(cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let j = 0; j < cols; j++) s[j] += x[o + j] * x[o + j];
  }
  return s;
}

/** ggml_add of a vector to every row: a (rows × b.length) += b, in F32 */
function addRows(a: Float32Array, b: Float32Array): void {
  const n = b.length;
  for (let i = 0; i < a.length; i++) a[i] = fround(a[i] + b[i % n]);
}

/** ggml_rms_norm (sum of squares in double, scale = 1/sqrtf(mean + eps)) then the elementwise weight; out may be x */
function rmsNorm(x: Float32Array, w: Float32Array, T: number, n: number, eps: number, out: Float32Array): void {
  for (let t = 0; t < T; t++) {
    const o = t * n;
    let sum = 0;
    for (let i = 0; i < n; i++) sum += fround(x[o + i] * x[o + i]);
    const scale = fround(1 / fround(Math.sqrt(fround(fround(sum / n) + eps))));
    for (let i = 0; i < n; i++) out[o + i] = fround(fround(x[o + i] * scale) * w[i]);
  }
}

/** out (T × m) = x (T × n) · wᵀ, w row-major m × n */
export function matmul(x: Float32Array, w: Float32Array, T: number, n: number, m: number, out: Float32Array): void {
  let t = 0;
  for (; t + 4 <= T; t += 4) {
    const x0 = t * n;
    const x1 = x0 + n;
    const x2 = x1 + n;
    const x3 = x2 + n;
    for (let o = 0; o < m; o++) {
      const wo = o * n;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let i = 0; i < n; i++) {
        const wv = w[wo + i];
        s0 += x[x0 + i] * wv;
        s1 += x[x1 + i] * wv;
        s2 += x[x2 + i] * wv;
        s3 += x[x3 + i] * wv;
      }
      out[t * m + o] = s0;
      out[(t + 1) * m + o] = s1;
      out[(t + 2) * m + o] = s2;
      out[(t + 3) * m + o] = s3;
    }
  }
  for (; t < T; t++) {
    const x0 = t * n;
    for (let o = 0; o < m; o++) {
      const wo = o * n;
      let s = 0;
      for (let i = 0; i < n; i++) s += x[x0 + i] * w[wo + i];
      out[t * m + o] = s;
    }
  }
}

/**
 * Whether ggml-cpu (x86-64, AVX-512 variant with AVX512_BF16) hands this matmul to llamafile's tinyBLAS:
 * F32, F16 or BF16 weights (activations as F32, or rounded to F16 / BF16), at least 2 rows of
 * activations, rows of a multiple of 16 values (32 for BF16) and a multiple of 4 weight rows. Other
 * matmuls keep the exactly rounded sum of `matmul`.
 */
export function tinyBlasApplies(dot: ActRound | undefined, T: number, n: number, m: number): boolean {
  if (T < 2 || m % 4 !== 0) return false;
  if (dot === 'f32' || dot === 'f16') return n % 16 === 0;
  return dot === 'bf16' && n % 32 === 0;
}

/**
 * out (T × m) = x (T × n) · wᵀ as tinyBLAS sums each output with AVX-512: 16 lanes, lane p taking the
 * products of columns p, p+16, p+32, … by fused multiply-adds (for BF16, vdpbf16ps: lane p takes columns
 * 2p+1 then 2p of each run of 32, each by a fused multiply-add), then the lanes added as
 * _mm512_reduce_add_ps adds them. `dot` is the weight's dot-product type: with F16 or BF16 values on both
 * sides a product has at most 22 significant bits, so the double sum of it and an F32 accumulator is exact
 * whenever it can change the F32 result, and rounding that sum once is the fused multiply-add; F32 products
 * take fma32, which settles the double sums that land halfway between two F32 values.
 */
export function matmulLanes16(x: Float32Array, w: Float32Array, T: number, n: number, m: number, out: Float32Array, dot: 'f32' | 'f16' | 'bf16'): void {
  const lanes = new Float64Array(16);
  for (let t = 0; t < T; t++) {
    const xo = t * n;
    for (let o = 0; o < m; o++) {
      const wo = o * n;
      for (let p = 0; p < 16; p++) {
        let a = 0;
        if (dot === 'bf16') {
          for (let i = xo + 2 * p, j = wo + 2 * p, end = xo + n; i < end; i += 32, j += 32) {
            a = fround(x[i] * w[j] + fround(x[i + 1] * w[j + 1] + a));
          }
        } else if (dot === 'f16') {
          for (let i = xo + p, j = wo + p, end = xo + n; i < end; i += 16, j += 16) a = fround(x[i] * w[j] + a);
        } else {
          for (let i = xo + p, j = wo + p, end = xo + n; i < end; i += 16, j += 16) a = fma32(x[i], w[j], a);
        }
        lanes[p] = a;
      }
      out[t * m + o] = reduceAdd16(lanes, 0);
    }
  }
}

/** ggml-cpu's tiled flash-attention kernel takes runs of at least this many queries (GGML_FA_TILE_Q) */
const FA_TILE_Q = 64;
/** and head sizes that are a multiple of its F32 SIMD width (GGML_F32_EPR: 16 with AVX-512) */
const FA_SIMD_WIDTH = 16;

/** the attention mode of each query position, ubatch by ubatch */
export function attentionModes(T: number, ubatch: number, d: number, mode: 'auto' | 'fa-f16' | 'f32'): ('fa-f16' | 'f32')[] {
  if (!(ubatch >= 1)) throw new RangeError(`ubatch ${ubatch} must be at least 1`);
  return Array.from({ length: T }, (_, t) => {
    if (mode !== 'auto') return mode;
    const start = t - (t % ubatch);
    return Math.min(ubatch, T - start) >= FA_TILE_Q && d % FA_SIMD_WIDTH === 0 ? 'f32' : 'fa-f16';
  });
}

/** keys per tile of ggml-cpu's tiled flash-attention kernel (GGML_FA_TILE_KV) */
const FA_TILE_KV = 64;

/**
 * Causal attention, softmax(q·k/√d)·v per head; query head h reads KV head h / (nHead/nHeadKv).
 * 'fa-f16' follows ggml's flash-attention loop for short query runs: online softmax over the keys in
 * order, Q rounded to F16, the V accumulator rounded to F16 after every scale and every added row.
 * 'f32' follows ggml's tiled kernel (tiledAttentionRow).
 */
function attention(q: Float32Array, k: Float32Array, v: Float32Array, T: number, nHead: number, nHeadKv: number, d: number,
  modes: readonly ('fa-f16' | 'f32')[], out: Float32Array): void {
  const scale = fround(1 / Math.sqrt(d));
  const group = nHead / nHeadKv;
  const qh = new Float64Array(d);
  const acc = new Float64Array(d);
  const tile = new Float32Array(FA_TILE_KV);
  for (let t = 0; t < T; t++) {
    const f16 = modes[t] === 'fa-f16';
    for (let h = 0; h < nHead; h++) {
      const qo = (t * nHead + h) * d;
      const kvh = Math.floor(h / group);
      const oo = (t * nHead + h) * d;
      if (!f16) {
        tiledAttentionRow(q, qo, k, v, kvh, nHeadKv, d, t, scale, acc, tile);
        for (let i = 0; i < d; i++) out[oo + i] = acc[i];
        continue;
      }
      for (let i = 0; i < d; i++) qh[i] = r16(q[qo + i]);
      let M = -Infinity;
      let S = 0;
      acc.fill(0);
      for (let j = 0; j <= t; j++) {
        const ko = (j * nHeadKv + kvh) * d;
        const s = fround(vecDotF16(qh, 0, k, ko, d) * scale);
        let ms = 1;
        let vs = 1;
        if (s > M) {
          const old = M;
          M = s;
          ms = fround(Math.exp(old - M));
          for (let i = 0; i < d; i++) acc[i] = r16(fround(acc[i] * ms));
        } else {
          vs = fround(Math.exp(s - M));
        }
        // V row by fused multiply-add (rounded to F32, then to the F16 accumulator); the sum unfused
        for (let i = 0; i < d; i++) acc[i] = r16(fma32(v[ko + i], vs, acc[i]));
        S = fround(fround(S * ms) + vs);
      }
      const inv = fround(1 / S);
      for (let i = 0; i < d; i++) out[oo + i] = fround(acc[i] * inv);
    }
  }
}

/**
 * One query row of ggml-cpu's tiled flash-attention kernel (AVX-512 variant), into `acc`: the keys in
 * tiles of 64 from cell 0; per tile the scores are F32 fused-multiply-add chains over the head dimension,
 * scaled; the running max moves to the tile's max (rescaling the accumulator and the sum by expf of the
 * difference); the tile's weights are ggml_v_expf(score - max), summed 16 lanes at a time into the row's
 * sum; and the accumulator takes each key's V row by fused multiply-adds, key by key. Masked keys (after
 * the query's position) weigh 0 and change nothing.
 */
function tiledAttentionRow(q: Float32Array, qo: number, k: Float32Array, v: Float32Array, kvh: number, nHeadKv: number,
  d: number, t: number, scale: number, acc: Float64Array, w: Float32Array): void {
  let M = -Infinity;
  let S = 0;
  acc.fill(0);
  for (let ic = 0; ic <= t; ic += FA_TILE_KV) {
    let tileMax = -Infinity;
    for (let tk = 0; tk < FA_TILE_KV; tk++) {
      const j = ic + tk;
      if (j > t) {
        w[tk] = -Infinity;
        continue;
      }
      const ko = (j * nHeadKv + kvh) * d;
      let s = 0;
      for (let i = 0; i < d; i++) s = fma32(q[qo + i], k[ko + i], s);
      w[tk] = fround(s * scale);
      if (w[tk] > tileMax) tileMax = w[tk];
    }
    const Mnew = Math.max(M, tileMax);
    if (Mnew > M) {
      const ms = fround(Math.exp(M - Mnew));
      for (let i = 0; i < d; i++) acc[i] = fround(acc[i] * ms);
      S = fround(S * ms);
    }
    M = Mnew;
    let sum = 0;
    for (let tk = 0; tk < FA_TILE_KV; tk++) w[tk] = vExpf(fround(w[tk] - M));
    for (let g = 0; g < FA_TILE_KV; g += 16) sum += reduceAdd16(w, g);
    S = fround(S + sum);
    for (let tk = 0; tk < FA_TILE_KV && ic + tk <= t; tk++) {
      const vo = ((ic + tk) * nHeadKv + kvh) * d;
      const p = w[tk];
      for (let i = 0; i < d; i++) acc[i] = fma32(p, v[vo + i], acc[i]);
    }
  }
  const inv = S === 0 ? 0 : fround(1 / S);
  for (let i = 0; i < d; i++) acc[i] = fround(acc[i] * inv);
}
