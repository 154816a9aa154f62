/**
 * The whole forward pass of a llama-family model (llama, qwen2, qwen3: the ARCHS of llama.ts) on WebGPU,
 * one chunk (one sequence from position 0) at a time, batched over its tokens: token embedding, per layer
 * RMSNorm -> Q/K/V matmuls (+ biases) -> [per-head Q/K RMSNorm] -> RoPE (NORM or NEOX) -> F16 KV -> causal
 * grouped-query attention -> output projection -> residual, RMSNorm -> SwiGLU FFN or mixture of experts
 * (router matmul, moe.wgsl's softmax/top-k, every expert's SwiGLU over all tokens, each token keeping its
 * own experts' outputs by weight: n_expert / n_expert_used times the FFN work of routing rows, in exchange
 * for no readback of the routing and the dense matmul kernels as they are) -> residual, then the
 * final RMSNorm and the logits (+ output.bias). The activations stay on the device; a chunk reads back its logits and,
 * for the imatrix (ForwardOptions.onMatmulSums), the Σx² per column of every matmul's input, accumulated on
 * the device (one readback per chunk).
 *
 * It mirrors the CPU path (llama.ts) including ggml's rounding points: each matmul's activations rounded to
 * the weight's dot-product type (act-round.wgsl), K and V rounded to F16, the F16 flash-attention
 * accumulator; and its float operations in their order (shaders/lib/fused-f32.wgsl: fused multiply-adds
 * built from f32 arithmetic, ggml_v_expf, float-float where the CPU path uses double): for F32, F16 and
 * BF16 weights the logits and Σx² are the CPU path's bit for bit (test/gpu/forward-gpu.test.ts). Not
 * mirrored: quantized weights' matmuls (a plain F32 sum, the CPU's is double) and the 'f32' attention
 * kernel (the CPU's tiled one); values that reach F32 subnormals (flushed by SwiftShader).
 *
 * Weights: the stored bytes are uploaded and dequantized on the device (src/gpu/dequant.ts; F32 is uploaded
 * as it is). A model whose F32 weights fit the memory budget stays
 * resident (dequantized once); otherwise its layers are streamed: each chunk uploads, dequantizes, runs and
 * releases one layer at a time, waiting for the device before the next, so at most one layer's weights
 * (or the embedding/output matrix) are on the device at once. A weight whose bytes (stored or F32) exceed
 * one storage binding is cut into row slices, each within the binding limit (and, when streamed, the
 * budget): each slice is dequantized on its own and its matmul writes its own output columns (the token
 * embedding reads its rows from the slice that holds them), so the results are those of the unsliced pass
 * bit for bit; a streamed model waits for the device after each slice of such a weight.
 *
 * Activations: the logits (T × n_vocab F32: 262 MB for Llama-3-8B at T = 512) are made in token slices of as
 * many rows as one binding holds, each slice's output matmul (+ bias) reading its rows of the rounded
 * activations (ggml rounds them per row, so the results are the unsliced pass's) and read back on its own;
 * a streamed model makes its output weight again for each token slice. Every other activation buffer holds T
 * rows of at most max(n_embd, n_ff, q width, k × n_embd) values and must fit one binding: a context too long
 * for that is refused with one line naming the buffer and the longest context that fits.
 *
 * Browser-safe: the device comes from the caller (Dawn in Node, navigator.gpu in a page).
 */
import matmulWgsl from '../../shaders/model/matmul.wgsl';
import matmulRowsWgsl from '../../shaders/model/matmul-rows.wgsl';
import rmsNormWgsl from '../../shaders/model/rms-norm.wgsl';
import actRoundWgsl from '../../shaders/model/act-round.wgsl';
import ropeWgsl from '../../shaders/model/rope.wgsl';
import attentionWgsl from '../../shaders/model/attention.wgsl';
import elementwiseWgsl from '../../shaders/model/elementwise.wgsl';
import moeWgsl from '../../shaders/model/moe.wgsl';
import elementwiseAbiWgsl from '../../shaders/lib/elementwise-abi.wgsl';
import { BASE_LIBS } from '../gpu/kernels.js';
import { GpuDequantizer, type DequantPath } from '../gpu/dequant.js';
import { GpuError } from '../errors.js';
import { BUFFER_COPY_DST, BUFFER_COPY_SRC, BUFFER_MAP_READ, BUFFER_STORAGE, BUFFER_UNIFORM, MAP_MODE_READ } from '../gpu/webgpu-consts.js';
import type { ActRound } from './act-round.js';
import { GpuMatmul, matmulMode } from './gpu-matmul.js';
import { attentionModes, ropeTable, type ExpertSlot, type ForwardOptions, type Layer, type LlamaHParams, type LlamaModel, type MatmulBackend, type Weight } from './llama.js';

const WG = 64;
const TILE = 16;
/** act-round.wgsl's modes and the values one invocation rounds */
const ROUND_MODE: Record<Exclude<ActRound, 'f32'>, { mode: number; unit: number }> = {
  f16: { mode: 1, unit: 1 }, bf16: { mode: 2, unit: 1 }, q8_0: { mode: 3, unit: 32 }, q8_K: { mode: 4, unit: 256 },
};
const MAX_HEAD_DIM = 256;
/** a streamed weight larger than the budget is sliced to the budget, but never below this */
const MIN_BUDGET_SLICE = 16 * 2 ** 20;

export interface GpuForwardOptions {
  /**
   * A software adapter (SwiftShader): the matmuls use matmul-rows.wgsl (one invocation per output, no
   * workgroup memory), which runs there about 7x faster than the tiled matmul.wgsl that a GPU gets.
   */
  software?: boolean;
  /**
   * Device memory for resident weights, in bytes (default 4 GiB): a model whose F32 weights fit in what
   * is left of it stays on the device; otherwise its layers are streamed through it chunk by chunk.
   */
  budgetBytes?: number;
  /**
   * Test-only: the largest storage binding a weight slice or a token slice of the logits may use, below the
   * device's own limit (maxStorageBufferBindingSize, maxBufferSize), to run the sliced paths on a small model.
   */
  maxBindingBytes?: number;
}

/** rows [row0, row0 + rows) of a weight: one dequantization and one storage binding */
export interface RowSlice { row0: number; rows: number }

/**
 * The row slices of weight `w`: all its rows when they fit in one slice, else as many rows per slice as fit.
 * A row takes the larger of its F32 and its stored bytes; a slice may take `bindingBytes` (what one storage
 * binding holds) and, when the model is streamed (`streamedBudget` not null), also that budget, but never
 * less than MIN_BUDGET_SLICE.
 */
export function rowSlices(w: { name: string; rows: number; cols: number; storedBytes: number }, bindingBytes: number, streamedBudget: number | null): RowSlice[] {
  const rowBytes = Math.max(w.cols * 4, w.storedBytes / w.rows);
  const cap = streamedBudget === null ? bindingBytes : Math.min(bindingBytes, Math.max(streamedBudget, MIN_BUDGET_SLICE));
  if (rowBytes > cap) throw new GpuError('unavailable', `${w.name}: one row of ${rowBytes} bytes exceeds the ${cap} bytes a weight slice may bind on this adapter`);
  const per = Math.floor(cap / rowBytes);
  const out: RowSlice[] = [];
  for (let row0 = 0; row0 < w.rows; row0 += per) out.push({ row0, rows: Math.min(per, w.rows - row0) });
  return out;
}

/** What the pass knows about one model on this device. */
interface ModelState {
  resident: boolean;
  /** F32 bytes of its distinct weight matrices */
  weightBytes: number;
  /**
   * Σx² slots: the input of each matmul group, by the weights that share it; an expert's slot holds only
   * the rows routed to it, and their number after its n sums
   */
  sums: { offset: number; n: number; weights: string[]; expert?: ExpertSlot }[];
  sumsLength: number;
}

/** The activation buffers of one chunk length. */
interface Acts {
  T: number;
  ids: GPUBuffer;
  rope: GPUBuffer;
  x: GPUBuffer; cur: GPUBuffer; q: GPUBuffer; k: GPUBuffer; v: GPUBuffer; k16: GPUBuffer; v16: GPUBuffer;
  att: GPUBuffer; proj: GPUBuffer; gate: GPUBuffer; up: GPUBuffer; act: GPUBuffer;
  /** the logits of `logitTokens` tokens (a token slice: all T when T × n_vocab F32 fit one binding) */
  logits: GPUBuffer;
  logitTokens: number;
  rounded: Map<ActRound, GPUBuffer>;
  /** with experts: router logits (T × n_expert), chosen experts (u32) and weights (T × k), each slot's output (T × k × n_embd) */
  moe?: { logits: GPUBuffer; sel: GPUBuffer; wts: GPUBuffer; slots: GPUBuffer };
  /** the largest activation row set a matmul reads (T × max(n_embd, n_ff, q width)) */
  maxIn: number;
}

export class GpuForward implements MatmulBackend {
  readonly name = 'gpu';
  private readonly d: GPUDevice;
  private readonly pipes: Record<'matmul' | 'matmulRows' | 'rms' | 'round' | 'rope' | 'add' | 'bias' | 'swiglu' | 'getRows' | 'sumsq', GPUComputePipeline>;
  /** attention pipelines by head size (the per-invocation arrays are sized to it) */
  private readonly attnPipes = new Map<number, GPUComputePipeline>();
  private readonly dequant: GpuDequantizer;
  private readonly budget: number;
  private readonly rowsMatmul: boolean;
  /** the bytes one weight slice may bind (F32 values and stored bytes alike) */
  private readonly sliceBytes: number;
  private readonly states = new Map<LlamaModel, ModelState>();
  private residentBytes = 0;
  /** resident weights' slices by their stored bytes (a tied output shares its embedding's buffers) */
  private readonly weights = new Map<Uint8Array, GPUBuffer[]>();
  private readonly vectors = new Map<Float32Array, GPUBuffer>();
  private readonly uniforms = new Map<string, GPUBuffer>();
  private readonly acts = new Map<string, Acts>();
  private matmulOnly?: GpuMatmul;
  /** moe.wgsl's entry points, made on the first model with experts */
  private moePipes?: Record<'route' | 'combine' | 'sum' | 'sumsq', GPUComputePipeline>;
  /** where each weight's values were made, by weight name (the last model run) */
  readonly paths = new Map<string, DequantPath>();
  /** into how many row slices each weight was cut, by weight name (the last model run) */
  readonly slicesByWeight = new Map<string, number>();
  /** into how many token slices the logits were cut (the last chunk) */
  logitSlices = 0;

  constructor(device: GPUDevice, readonly adapterName: string, opts: GpuForwardOptions = {}) {
    this.d = device;
    this.budget = opts.budgetBytes ?? 4 * 2 ** 30;
    this.rowsMatmul = opts.software ?? false;
    this.sliceBytes = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize, opts.maxBindingBytes ?? Infinity);
    this.dequant = new GpuDequantizer(device);
    const pipe = (code: string, entryPoint = 'main') =>
      device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code }), entryPoint } });
    const exact = [BASE_LIBS.exactF32, BASE_LIBS.half];
    const elementwise = device.createShaderModule({ code: [elementwiseAbiWgsl, elementwiseWgsl, BASE_LIBS.exactF32, BASE_LIBS.fused].join('\n') });
    const ew = (entryPoint: string) => device.createComputePipeline({ layout: 'auto', compute: { module: elementwise, entryPoint } });
    this.pipes = {
      matmul: pipe([BASE_LIBS.fused, matmulWgsl].join('\n')),
      matmulRows: pipe([BASE_LIBS.fused, matmulRowsWgsl].join('\n')),
      rms: pipe([rmsNormWgsl, BASE_LIBS.exactF32, BASE_LIBS.fused].join('\n')),
      round: pipe([actRoundWgsl, ...exact].join('\n')),
      rope: pipe([ropeWgsl, BASE_LIBS.fused].join('\n')),
      add: ew('add_main'), bias: ew('bias_main'), swiglu: ew('swiglu_main'), getRows: ew('get_rows_main'), sumsq: ew('sumsq_main'),
    };
  }

  private attention(headDim: number): GPUComputePipeline {
    let p = this.attnPipes.get(headDim);
    if (!p) {
      const code = [attentionWgsl.replace(/const MAX_HEAD_DIM: u32 = \d+u;/, `const MAX_HEAD_DIM: u32 = ${headDim}u;`), BASE_LIBS.half, BASE_LIBS.exactF32, BASE_LIBS.fused].join('\n');
      p = this.d.createComputePipeline({ layout: 'auto', compute: { module: this.d.createShaderModule({ code }), entryPoint: 'main' } });
      this.attnPipes.set(headDim, p);
    }
    return p;
  }

  /** MatmulBackend: a single matmul on the device (the forward pass itself goes through `forward`). */
  matmul(x: Float32Array, w: Float32Array, T: number, n: number, m: number, out: Float32Array, dot?: ActRound): Promise<void> {
    this.matmulOnly ??= new GpuMatmul(this.d, this.adapterName);
    return this.matmulOnly.matmul(x, w, T, n, m, out, dot);
  }

  /** act-round.wgsl on `x` (rows of whole blocks): the values ggml's dot-product type holds (for tests). */
  async roundActivations(x: Float32Array, mode: Exclude<ActRound, 'f32'>): Promise<Float32Array> {
    const d = this.d;
    const r = ROUND_MODE[mode];
    const src = this.buffer(x.byteLength);
    d.queue.writeBuffer(src, 0, x.buffer, x.byteOffset, x.byteLength);
    const out = this.buffer(x.byteLength);
    const rb = d.createBuffer({ size: out.size, usage: BUFFER_MAP_READ | BUFFER_COPY_DST });
    const enc = d.createCommandEncoder();
    const pass = enc.beginComputePass();
    this.dispatch1d(pass, this.pipes.round, [[0, this.uniform([x.length / r.unit, r.mode])], [1, src], [3, out]], x.length / r.unit);
    pass.end();
    enc.copyBufferToBuffer(out, 0, rb, 0, out.size);
    d.queue.submit([enc.finish()]);
    await rb.mapAsync(MAP_MODE_READ);
    const v = new Float32Array(rb.getMappedRange().slice(0, x.byteLength));
    rb.unmap();
    for (const b of [src, out, rb]) b.destroy();
    return v;
  }

  /** Whether `model`'s weights stay on the device (decided on its first chunk). */
  isResident(model: LlamaModel): boolean | undefined {
    return this.states.get(model)?.resident;
  }

  private buffer(bytes: number, usage = BUFFER_STORAGE | BUFFER_COPY_SRC | BUFFER_COPY_DST): GPUBuffer {
    const limit = Math.min(this.d.limits.maxStorageBufferBindingSize, this.d.limits.maxBufferSize);
    if (bytes > limit) throw new GpuError('unavailable', `forward pass: a buffer of ${bytes} bytes exceeds this adapter's storage binding limit of ${limit} bytes`);
    return this.d.createBuffer({ size: Math.max(16, Math.ceil(bytes / 16) * 16), usage });
  }

  /** a uniform of 8 words: `words` from the start as u32, `floats` at the end as f32; cached by its contents */
  private uniform(words: readonly number[], floats: readonly number[] = []): GPUBuffer {
    const key = `${words.join(',')}|${floats.join(',')}`;
    let b = this.uniforms.get(key);
    if (!b) {
      const data = new Uint32Array(8);
      data.set(words);
      const f = new Float32Array(data.buffer);
      floats.forEach((v, i) => (f[8 - floats.length + i] = v));
      b = this.d.createBuffer({ size: 32, usage: BUFFER_UNIFORM | BUFFER_COPY_DST });
      this.d.queue.writeBuffer(b, 0, data);
      this.uniforms.set(key, b);
    }
    return b;
  }

  private vector(v: Float32Array): GPUBuffer {
    let b = this.vectors.get(v);
    if (!b) {
      b = this.buffer(v.byteLength);
      this.d.queue.writeBuffer(b, 0, v.buffer, v.byteOffset, v.byteLength);
      this.vectors.set(v, b);
    }
    return b;
  }

  private static ffnMatrices(L: Layer): Weight[] {
    const F = L.ffn;
    return F.kind === 'dense' ? [F.gate, F.up, F.down] : [F.gateInp, ...F.gate, ...F.up, ...F.down];
  }

  private static matrices(model: LlamaModel): Weight[] {
    return [model.tokEmbd, ...model.layers.flatMap((L) => [L.q, L.k, L.v, L.o, ...GpuForward.ffnMatrices(L)]), model.output];
  }

  private moe(): NonNullable<GpuForward['moePipes']> {
    if (!this.moePipes) {
      const module = this.d.createShaderModule({ code: [elementwiseAbiWgsl, moeWgsl, BASE_LIBS.exactF32, BASE_LIBS.fused].join('\n') });
      const p = (entryPoint: string) => this.d.createComputePipeline({ layout: 'auto', compute: { module, entryPoint } });
      this.moePipes = { route: p('route_main'), combine: p('combine_main'), sum: p('sum_main'), sumsq: p('sumsq_main') };
    }
    return this.moePipes;
  }

  private state(model: LlamaModel): ModelState {
    let s = this.states.get(model);
    if (s) return s;
    const { nEmbd, nFf, nHead, headDim, nLayer } = model.hp;
    if (headDim > MAX_HEAD_DIM) throw new GpuError('unavailable', `forward pass on the GPU: head size ${headDim} is above ${MAX_HEAD_DIM}`);
    const seen = new Set<Uint8Array>();
    let weightBytes = 0;
    for (const w of GpuForward.matrices(model)) {
      if (seen.has(w.stored)) continue;
      seen.add(w.stored);
      weightBytes += w.rows * w.cols * 4;
    }
    const sums: ModelState['sums'] = [];
    let off = 0;
    const slot = (n: number, weights: string[], expert?: ExpertSlot) => {
      sums.push({ offset: off, n, weights, expert });
      off += n + (expert ? 1 : 0);
    };
    for (let i = 0; i < nLayer; i++) {
      const L = model.layers[i];
      slot(nEmbd, [L.q.name, L.k.name, L.v.name]);
      slot(nHead * headDim, [L.o.name]);
      const F = L.ffn;
      if (F.kind === 'dense') {
        slot(nEmbd, [F.gate.name, F.up.name]);
        slot(nFf, [F.down.name]);
      } else {
        if (F.gate.length > 256) throw new GpuError('unavailable', `forward pass on the GPU: ${F.gate.length} experts are above moe.wgsl's 256`);
        slot(nEmbd, [F.gateInp.name]);
        F.gate.forEach((w, index) => {
          const expert = { index, count: F.gate.length };
          slot(nEmbd, [w.name, F.up[index].name], expert);
          slot(nFf, [F.down[index].name], expert);
        });
      }
    }
    slot(nEmbd, [model.output.name]);
    const resident = this.residentBytes + weightBytes <= this.budget;
    if (resident) this.residentBytes += weightBytes;
    s = { resident, weightBytes, sums, sumsLength: off };
    this.states.set(model, s);
    return s;
  }

  private actsFor(hp: LlamaHParams, T: number): Acts {
    const key = `${T}/${hp.nEmbd}/${hp.nFf}/${hp.nHead}/${hp.nHeadKv}/${hp.headDim}/${hp.nVocab}/${hp.ropeDims}/${hp.ropeBase}/${hp.ropeFreqScale}/${hp.nExpert}/${hp.nExpertUsed}`;
    let a = this.acts.get(key);
    if (a) return a;
    const { nEmbd, nFf, nHead, nHeadKv, headDim, nVocab } = hp;
    // every other activation buffer holds T rows: one clear line when the widest of them cannot be bound
    const rows: [string, number][] = [['x/cur/proj', nEmbd], ['q/att', nHead * headDim], ['k/v', nHeadKv * headDim], ['gate/up/act', nFf]];
    if (hp.nExpert) rows.push(['router logits', hp.nExpert], ['expert slots', hp.nExpertUsed * nEmbd]);
    const [name, width] = rows.reduce((a, b) => (b[1] > a[1] ? b : a));
    const limit = Math.min(this.d.limits.maxStorageBufferBindingSize, this.d.limits.maxBufferSize);
    if (T * width * 4 > limit) {
      throw new GpuError('unavailable', `forward pass: the ${name} activations of ${T} tokens × ${width} values (${T * width * 4} bytes) exceed this ` +
        `adapter's storage binding limit of ${limit} bytes; use a context of at most ${Math.floor(limit / (width * 4))} tokens (-c, --eval-ctx)`);
    }
    // the logits in token slices of as many rows as one binding holds
    const logitTokens = Math.min(T, Math.floor(this.sliceBytes / (nVocab * 4)));
    if (logitTokens < 1) throw new GpuError('unavailable', `forward pass: one token's ${nVocab} logits (${nVocab * 4} bytes) exceed the ${this.sliceBytes} bytes a logits slice may bind on this adapter`);
    const f = (n: number) => this.buffer(n * 4);
    const rope = ropeTable(hp, T);
    const ropeBuf = f(rope.length);
    this.d.queue.writeBuffer(ropeBuf, 0, rope.buffer as ArrayBuffer, rope.byteOffset, rope.byteLength);
    const maxIn = T * Math.max(nEmbd, nFf, nHead * headDim);
    a = {
      T, ids: f(T), rope: ropeBuf,
      x: f(T * nEmbd), cur: f(T * nEmbd), q: f(T * nHead * headDim), k: f(T * nHeadKv * headDim), v: f(T * nHeadKv * headDim),
      k16: f(T * nHeadKv * headDim), v16: f(T * nHeadKv * headDim), att: f(T * nHead * headDim), proj: f(T * nEmbd),
      gate: f(T * nFf), up: f(T * nFf), act: f(T * nFf), logits: f(logitTokens * nVocab), logitTokens, rounded: new Map(), maxIn,
      moe: hp.nExpert ? { logits: f(T * hp.nExpert), sel: f(T * hp.nExpertUsed), wts: f(T * hp.nExpertUsed), slots: f(T * hp.nExpertUsed * nEmbd) } : undefined,
    };
    this.acts.set(key, a);
    return a;
  }

  private dispatch(pass: GPUComputePassEncoder, pipe: GPUComputePipeline, entries: [number, GPUBuffer][], x: number, y = 1): void {
    const bind = this.d.createBindGroup({
      layout: pipe.getBindGroupLayout(0),
      entries: entries.map(([binding, buffer]) => ({ binding, resource: { buffer } })),
    });
    pass.setPipeline(pipe);
    pass.setBindGroup(0, bind);
    pass.dispatchWorkgroups(x, y);
  }

  /** a 1-D dispatch of `n` invocations in workgroups of 64, folded into y past the per-dimension limit */
  private dispatch1d(pass: GPUComputePassEncoder, pipe: GPUComputePipeline, entries: [number, GPUBuffer][], n: number): void {
    const groups = Math.max(1, Math.ceil(n / WG));
    const maxX = this.d.limits.maxComputeWorkgroupsPerDimension;
    this.dispatch(pass, pipe, entries, Math.min(groups, maxX), Math.ceil(groups / maxX));
  }

  /** the F32 values of slice `i` of `w` on the device: resident (made once) or streamed (made now, released by the caller) */
  private weightSlice(w: Weight, st: ModelState, slices: RowSlice[], i: number, pass: GPUComputePassEncoder, temps: GPUBuffer[]): GPUBuffer {
    let made = st.resident ? this.weights.get(w.stored) : undefined;
    if (made?.[i]) return made[i];
    const { row0, rows } = slices[i];
    const rowStored = w.stored.byteLength / w.rows;
    const stored = slices.length === 1 ? w.stored : w.stored.subarray(row0 * rowStored, (row0 + rows) * rowStored);
    const what = slices.length === 1 ? w.name : `${w.name} rows ${row0}..${row0 + rows - 1}`;
    const { buffer, path } = this.dequant.values(w.type, stored, rows * w.cols, pass, temps, what);
    this.paths.set(w.name, path);
    if (st.resident) {
      if (!made) this.weights.set(w.stored, (made = []));
      made[i] = buffer;
    } else temps.push(buffer);
    return buffer;
  }

  /** One chunk's logits (tokens.length × nVocab); device errors come back as GpuError (validation, out-of-memory). */
  async forward(model: LlamaModel, tokens: ArrayLike<number>, opts: ForwardOptions = {}): Promise<Float32Array> {
    const d = this.d;
    d.pushErrorScope('out-of-memory');
    d.pushErrorScope('validation');
    let logits: Float32Array | undefined;
    let failure: unknown;
    try {
      logits = await this.chunk(model, tokens, opts);
    } catch (e) {
      failure = e;
    }
    const v = await d.popErrorScope();
    const o = await d.popErrorScope();
    const where = `forward pass of ${tokens.length} tokens (${this.adapterName})`;
    if (o) throw new GpuError('out-of-memory', `${o.message} (${where}; --gpu-budget below the model's F32 size streams its layers)`);
    if (v) throw new GpuError('validation', `${v.message} (${where})`);
    if (failure !== undefined) throw failure;
    return logits!;
  }

  private async chunk(model: LlamaModel, tokens: ArrayLike<number>, opts: ForwardOptions): Promise<Float32Array> {
    if (opts.onMatmulInput) throw new Error('the GPU forward pass reports Σx² per column (onMatmulSums), not whole matmul inputs (onMatmulInput)');
    const hp = model.hp;
    const { nEmbd, nFf, nHead, nHeadKv, headDim, nVocab, eps, ropeDims } = hp;
    const T = tokens.length;
    for (let t = 0; t < T; t++) {
      const id = tokens[t];
      if (!(id >= 0 && id < nVocab)) throw new RangeError(`token ${id} at position ${t} is outside the vocabulary (${nVocab})`);
    }
    const st = this.state(model);
    const A = this.actsFor(hp, T);
    const d = this.d;
    const P = this.pipes;
    const round = opts.roundActivations ?? true;
    // 'auto' follows ggml-cpu's kernel choice per ubatch; one kernel for the whole chunk here
    const modes = attentionModes(T, opts.ubatch ?? T, headDim, opts.attention ?? 'fa-f16');
    if (modes.some((m) => m !== modes[0])) throw new Error(`the GPU forward pass runs one attention kernel per chunk; ubatch ${opts.ubatch} mixes two in ${T} tokens`);
    const fa16 = modes[0] === 'fa-f16' ? 1 : 0;
    d.queue.writeBuffer(A.ids, 0, Uint32Array.from(tokens as ArrayLike<number>));
    const collect = !!opts.onMatmulSums;
    const sumsBuf = collect ? this.buffer(st.sumsLength * 4) : null;
    let temps: GPUBuffer[] = [];
    let enc = d.createCommandEncoder();
    if (sumsBuf) enc.clearBuffer(sumsBuf);
    let pass = enc.beginComputePass();
    let slot = 0;

    const sumsq = (x: GPUBuffer, n: number) => {
      const s = st.sums[slot++];
      if (!sumsBuf) return;
      if (s.n !== n || s.expert) throw new Error(`forward pass: Σx² slot of ${s.n} columns${s.expert ? ' (an expert)' : ''} for an input of ${n}`);
      this.dispatch1d(pass, P.sumsq, [[0, this.uniform([0, n, T, s.offset])], [1, x], [3, sumsBuf]], n);
    };
    /** Σx² over the rows routed to expert e (and their count), from the chosen experts in `sel` */
    const sumsqExpert = (x: GPUBuffer, n: number, e: number, k: number, sel: GPUBuffer) => {
      const s = st.sums[slot++];
      if (!sumsBuf) return;
      if (s.n !== n || s.expert?.index !== e) throw new Error(`forward pass: Σx² slot of ${s.n} columns (expert ${s.expert?.index}) for an input of ${n} (expert ${e})`);
      this.dispatch1d(pass, this.moe().sumsq, [[0, this.uniform([0, n, k, e, T, s.offset])], [1, x], [4, sel], [3, sumsBuf]], n + 1);
    };
    const rms = (x: GPUBuffer, w: Float32Array, rows: number, n: number, out: GPUBuffer) => {
      const maxX = d.limits.maxComputeWorkgroupsPerDimension;
      this.dispatch(pass, P.rms, [[0, this.uniform([rows, n], [eps, 0])], [1, x], [2, this.vector(w)], [3, out]], Math.min(rows, maxX), Math.ceil(rows / maxX));
    };
    const roundedBuf = (mode: ActRound) => {
      let b = A.rounded.get(mode);
      if (!b) A.rounded.set(mode, (b = this.buffer(A.maxIn * 4)));
      return b;
    };
    const roundInto = (x: GPUBuffer, values: number, mode: Exclude<ActRound, 'f32'>, out: GPUBuffer) => {
      const r = ROUND_MODE[mode];
      if (values % r.unit) throw new RangeError(`${mode} activations: ${values} values are not whole blocks of ${r.unit}`);
      this.dispatch1d(pass, P.round, [[0, this.uniform([values / r.unit, r.mode])], [1, x], [3, out]], values / r.unit);
    };
    /** streamed layers: run what is encoded, wait for the device, release the layer's buffers */
    const flush = async () => {
      pass.end();
      d.queue.submit([enc.finish()]);
      await d.queue.onSubmittedWorkDone();
      for (const b of temps) b.destroy();
      temps = [];
      enc = d.createCommandEncoder();
      pass = enc.beginComputePass();
    };
    /** `run` on each row slice of `w`; a streamed model waits for the device after each slice of a sliced weight */
    const eachSlice = async (w: Weight, run: (values: GPUBuffer, s: RowSlice) => void) => {
      const slices = rowSlices({ name: w.name, rows: w.rows, cols: w.cols, storedBytes: w.stored.byteLength }, this.sliceBytes, st.resident ? null : this.budget);
      this.slicesByWeight.set(w.name, slices.length);
      for (let i = 0; i < slices.length; i++) {
        run(this.weightSlice(w, st, slices, i, pass, temps), slices[i]);
        if (!st.resident && slices.length > 1) await flush();
      }
    };
    /** `x` (T × n) as `w`'s matmul reads it: rounded to its dot-product type (once per type and input: `done`) */
    const input = (x: GPUBuffer, n: number, w: Weight, done: Set<ActRound>) => {
      if (!round || w.round === 'f32') return x;
      const xin = roundedBuf(w.round);
      if (!done.has(w.round)) roundInto(x, T * n, w.round, xin);
      done.add(w.round);
      return xin;
    };
    /**
     * out (t × w.rows) = rows t0..t0+t-1 of `xin` . w^T: a slice of w's rows writes output columns row0..;
     * a token slice (the logits) reads its rows of xin and writes output rows 0..t-1
     */
    const matmul = (xin: GPUBuffer, n: number, w: Weight, out: GPUBuffer, t0 = 0, t = T) => {
      // the CPU path's order for F32/F16/BF16 weights (the whole chunk's T and the whole weight's rows decide, as on the CPU)
      const mode = matmulMode(round ? w.round : 'f32', T, n, w.rows);
      return eachSlice(w, (wb, { row0, rows }) => {
        const entries: [number, GPUBuffer][] = [[0, xin], [1, wb], [2, out], [3, this.uniform([t, n, rows, row0, w.rows, t0, mode])]];
        if (this.rowsMatmul && n % 4 === 0) this.dispatch(pass, P.matmulRows, entries, Math.ceil(rows / WG), t);
        else this.dispatch(pass, P.matmul, entries, Math.ceil(rows / TILE), Math.ceil(t / TILE));
      });
    };
    /** the matmuls that read `x` (T × n) */
    const mm = async (x: GPUBuffer, n: number, ws: [Weight, GPUBuffer][]) => {
      const done = new Set<ActRound>();
      for (const [w, out] of ws) await matmul(input(x, n, w, done), n, w, out);
    };
    const add = (out: GPUBuffer, a: GPUBuffer, n: number) => this.dispatch1d(pass, P.add, [[0, this.uniform([n])], [1, a], [3, out]], n);
    const rope = (a: GPUBuffer, heads: number, neox: boolean) =>
      this.dispatch1d(pass, P.rope, [[0, this.uniform([T, heads, headDim, ropeDims, 0, neox ? 1 : 0])], [1, A.rope], [3, a]], (T * heads * ropeDims) / 2);

    // each slice of the embedding fills the tokens whose rows it holds
    await eachSlice(model.tokEmbd, (embd, { row0, rows }) =>
      this.dispatch1d(pass, P.getRows, [[0, this.uniform([T * nEmbd, nEmbd, rows, row0])], [1, embd], [4, A.ids], [3, A.x]], T * nEmbd));
    if (!st.resident) await flush();
    const qn = nHead * headDim;
    const kvn = nHeadKv * headDim;
    for (const L of model.layers) {
      rms(A.x, L.attnNorm, T, nEmbd, A.cur);
      sumsq(A.cur, nEmbd);
      await mm(A.cur, nEmbd, [[L.q, A.q], [L.k, A.k], [L.v, A.v]]);
      // q/k/v biases when the file has them (qwen2); per-head RMSNorm of q and k (qwen3)
      for (const [b, buf, n] of [[L.qBias, A.q, qn], [L.kBias, A.k, kvn], [L.vBias, A.v, kvn]] as const) {
        if (b) this.dispatch1d(pass, P.bias, [[0, this.uniform([T * n, n])], [1, this.vector(b)], [3, buf]], T * n);
      }
      if (L.qNorm) {
        rms(A.q, L.qNorm, T * nHead, headDim, A.att);
        pass.end();
        enc.copyBufferToBuffer(A.att, 0, A.q, 0, T * qn * 4);
        pass = enc.beginComputePass();
        rms(A.k, L.kNorm!, T * nHeadKv, headDim, A.proj);
        pass.end();
        enc.copyBufferToBuffer(A.proj, 0, A.k, 0, T * kvn * 4);
        pass = enc.beginComputePass();
      }
      const neox = hp.archConfig.rope === 'neox';
      rope(A.q, nHead, neox);
      rope(A.k, nHeadKv, neox);
      roundInto(A.k, T * kvn, 'f16', A.k16); // the F16 KV cache
      roundInto(A.v, T * kvn, 'f16', A.v16);
      this.dispatch1d(pass, this.attention(headDim), [[0, this.uniform([T, nHead, nHeadKv, headDim, 0, fa16], [Math.fround(1 / Math.sqrt(headDim)), 0])],
        [1, A.q], [2, A.k16], [4, A.v16], [3, A.att]], T * nHead);
      sumsq(A.att, qn);
      await mm(A.att, qn, [[L.o, A.proj]]);
      add(A.x, A.proj, T * nEmbd);
      rms(A.x, L.ffnNorm, T, nEmbd, A.cur);
      const F = L.ffn;
      const swiglu = () => this.dispatch1d(pass, P.swiglu, [[0, this.uniform([T * nFf, nFf])], [1, A.gate], [2, A.up], [3, A.act]], T * nFf);
      if (F.kind === 'dense') {
        sumsq(A.cur, nEmbd);
        await mm(A.cur, nEmbd, [[F.gate, A.gate], [F.up, A.up]]);
        swiglu();
        sumsq(A.act, nFf);
        await mm(A.act, nFf, [[F.down, A.proj]]);
      } else {
        // every expert over all T tokens; combine_main keeps, per token, the slots that chose it
        const M = A.moe!;
        const k = F.nUsed;
        const mp = this.moe();
        sumsq(A.cur, nEmbd);
        await mm(A.cur, nEmbd, [[F.gateInp, M.logits]]);
        this.dispatch1d(pass, mp.route, [[0, this.uniform([0, F.gate.length, k, 0, T])], [1, M.logits], [5, M.sel], [3, M.wts]], T);
        for (let e = 0; e < F.gate.length; e++) {
          sumsqExpert(A.cur, nEmbd, e, k, M.sel);
          await mm(A.cur, nEmbd, [[F.gate[e], A.gate], [F.up[e], A.up]]);
          swiglu();
          sumsqExpert(A.act, nFf, e, k, M.sel);
          await mm(A.act, nFf, [[F.down[e], A.proj]]);
          this.dispatch1d(pass, mp.combine, [[0, this.uniform([T * nEmbd, nEmbd, k, e])], [1, A.proj], [2, M.wts], [4, M.sel], [3, M.slots]], T * nEmbd);
        }
        this.dispatch1d(pass, mp.sum, [[0, this.uniform([T * nEmbd, nEmbd, k])], [1, M.slots], [3, A.proj]], T * nEmbd);
      }
      add(A.x, A.proj, T * nEmbd);
      if (!st.resident) await flush();
    }
    rms(A.x, model.outNorm, T, nEmbd, A.cur);
    sumsq(A.cur, nEmbd);
    // the logits, one token slice at a time (all T tokens when they fit one binding): each slice runs the
    // output matmul (+ bias) on its rows of the rounded activations and is read back into its rows of `logits`,
    // the Σx² with the first
    const logits = new Float32Array(T * nVocab);
    const sums = new Float32Array(sumsBuf ? st.sumsLength : 0);
    const xin = input(A.cur, nEmbd, model.output, new Set());
    this.logitSlices = Math.ceil(T / A.logitTokens);
    for (let t0 = 0; t0 < T; t0 += A.logitTokens) {
      const t = Math.min(A.logitTokens, T - t0);
      await matmul(xin, nEmbd, model.output, A.logits, t0, t);
      if (model.outputBias) {
        this.dispatch1d(pass, P.bias, [[0, this.uniform([t * nVocab, nVocab])], [1, this.vector(model.outputBias)], [3, A.logits]], t * nVocab);
      }
      pass.end();
      const reads = [this.readBack(enc, A.logits, logits.subarray(t0 * nVocab, (t0 + t) * nVocab))];
      if (sumsBuf && t0 === 0) reads.push(this.readBack(enc, sumsBuf, sums));
      d.queue.submit([enc.finish()]);
      await Promise.all(reads.map((read) => read()));
      for (const b of temps) b.destroy();
      temps = [];
      if (t0 + t < T) {
        enc = d.createCommandEncoder();
        pass = enc.beginComputePass();
      }
    }
    sumsBuf?.destroy();
    if (opts.onMatmulSums) {
      for (const s of st.sums) {
        const rows = s.expert ? sums[s.offset + s.n] : T;
        if (s.expert && rows === 0) continue; // an expert no token chose (the CPU path makes no call either)
        for (const w of s.weights) opts.onMatmulSums(w, sums.subarray(s.offset, s.offset + s.n), rows, s.expert);
      }
    }
    return logits;
  }

  /**
   * Copies the first `into.length` F32 values of `src` to a mappable buffer of that size in `enc`; after the
   * submit, the returned function waits for them and puts them in `into`.
   */
  private readBack(enc: GPUCommandEncoder, src: GPUBuffer, into: Float32Array): () => Promise<void> {
    const rb = this.d.createBuffer({ size: into.byteLength, usage: BUFFER_MAP_READ | BUFFER_COPY_DST });
    enc.copyBufferToBuffer(src, 0, rb, 0, into.byteLength);
    return async () => {
      await rb.mapAsync(MAP_MODE_READ);
      into.set(new Float32Array(rb.getMappedRange()));
      rb.unmap();
      rb.destroy();
    };
  }

  destroy(): void {
    for (const b of [...[...this.weights.values()].flat(), ...this.vectors.values(), ...this.uniforms.values()]) b.destroy();
    for (const a of this.acts.values()) {
      for (const b of [a.ids, a.rope, a.x, a.cur, a.q, a.k, a.v, a.k16, a.v16, a.att, a.proj, a.gate, a.up, a.act, a.logits, ...a.rounded.values()]) b.destroy();
      if (a.moe) for (const b of Object.values(a.moe)) b.destroy();
    }
    this.weights.clear();
    this.vectors.clear();
    this.uniforms.clear();
    this.acts.clear();
    this.states.clear();
    this.residentBytes = 0;
    this.matmulOnly?.destroy();
    this.dequant.destroy();
  }
}

