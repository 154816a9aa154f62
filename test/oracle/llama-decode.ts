/**
 * llama.cpp v0.5.0's own forward pass through koffi: load a GGUF with libllama, decode token sequences with
 * llama_decode (CPU backend, best variant for this machine, flash attention as the tools use it) and read
 * the logits. The layouts of llama_model_params, llama_context_params and llama_batch follow v0.5.0's
 * include/llama.h. Used to check our forward pass token by token.
 *
 * With `imatrix`, the context gets an eval callback that collects what llama-imatrix (v0.5.0,
 * tools/imatrix/imatrix.cpp) collects from the same graph: for each MUL_MAT whose activations are F32 with
 * at least 16 rows and whose weight is named `blk.*` (or `output.weight` with processOutput), Σ x² per
 * column and the row count, under the weight tensor's name as the graph holds it (struct ggml_tensor
 * as in v0.5.0's ggml.h); and for each MUL_MAT_ID (the experts of a MoE layer, whatever its row count),
 * as llama-imatrix does: one row of sums and one count per expert (n_mat = the weight's ne[2]), the
 * routing read from the op's ids tensor (src[2], [n_expert_used, n_tokens]), slot by slot and token by
 * token; a slot's activations are src1 row (slot mod src1->ne[1]) of that token.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { libDir } from './llama-cpp.js';

const require = createRequire(import.meta.url);

export interface DecodeOracle {
  /** logits (tokens.length × n_vocab) of one sequence from position 0, computed in ubatches of `nUbatch` */
  decode(tokens: ArrayLike<number>, nUbatch: number): Float32Array;
  readonly nVocab: number;
  /** with the imatrix option: what was collected over every decode so far, by weight name in the order first seen */
  readonly imatrix: Map<string, OracleImatrixEntry>;
  /** with the matmuls option: every MUL_MAT of every decode so far, in graph order */
  readonly matmuls: OracleMatmul[];
  /** with the imatrix option: seconds spent in the eval callback (JavaScript: asked for every graph node, collecting for the matmuls) over every decode so far */
  readonly callbackSeconds: number;
  free(): void;
}

/** one MUL_MAT as llama.cpp computed it: its weight's name, its F32 input (rows × cols) and its F32 output (rows × m) */
export interface OracleMatmul {
  weight: string;
  x: Float32Array;
  y: Float32Array;
  rows: number;
  cols: number;
  m: number;
}

/** sums: n_mat rows of the input's columns (n_mat = 1, or the experts); counts: rows summed per matrix */
export interface OracleImatrixEntry {
  sums: Float32Array;
  counts: number[];
}

export interface DecodeOracleOptions {
  /** collect the importance matrix as llama-imatrix does during every decode */
  imatrix?: { processOutput?: boolean };
  /** keep every 2-D MUL_MAT's input and output (not with imatrix) */
  matmuls?: boolean;
  /** n_threads and n_threads_batch of the context (default 1) */
  threads?: number;
  /**
   * drop llama.cpp's log lines (llama_log_set with a callback that ignores them, for the rest of the process;
   * it replaces the error-line logger of test/oracle/llama-cpp.ts's llama_model_quantize, so benchmarks only)
   */
  quiet?: boolean;
}

let lib: any = null;
let koffi: any = null;

function load(): any {
  if (lib) return lib;
  const dir = libDir();
  if (!dir) return null;
  koffi = require('koffi');
  koffi.load(path.join(dir, 'libggml-base.so'));
  const ggml = koffi.load(path.join(dir, 'libggml.v0.5.0.so'));
  ggml.func('void ggml_backend_load_all_from_path(const char *dir)')(dir);
  const l = koffi.load(path.join(dir, 'libllama.v0.5.0.so'));
  koffi.struct('llama_model_params_d', {
    devices: 'void *', tensor_buft_overrides: 'void *', n_gpu_layers: 'int32_t', split_mode: 'int', load_mode: 'int',
    lazy_mode: 'int', main_gpu: 'int32_t', tensor_split: 'void *', progress_callback: 'void *',
    progress_callback_user_data: 'void *', kv_overrides: 'void *', vocab_only: 'bool', check_tensors: 'bool',
    use_extra_bufts: 'bool', no_host: 'bool', no_alloc: 'bool', load_mtp: 'bool',
  });
  koffi.struct('llama_context_params_d', {
    n_ctx: 'uint32_t', n_batch: 'uint32_t', n_ubatch: 'uint32_t', n_seq_max: 'uint32_t', n_rs_seq: 'uint32_t',
    n_outputs_max: 'uint32_t', n_outputs_max_per_seq: 'uint32_t', n_threads: 'int32_t', n_threads_batch: 'int32_t',
    ctx_type: 'int', rope_scaling_type: 'int', pooling_type: 'int', attention_type: 'int', flash_attn_type: 'int',
    rope_freq_base: 'float', rope_freq_scale: 'float', yarn_ext_factor: 'float', yarn_attn_factor: 'float',
    yarn_beta_fast: 'float', yarn_beta_slow: 'float', yarn_orig_ctx: 'uint32_t', defrag_thold: 'float',
    cb_eval: 'void *', cb_eval_user_data: 'void *', type_k: 'int', type_v: 'int', abort_callback: 'void *',
    abort_callback_data: 'void *', embeddings: 'bool', offload_kqv: 'bool', no_perf: 'bool', op_offload: 'bool',
    swa_full: 'bool', kv_unified: 'bool', samplers: 'void *', n_samplers: 'size_t', ctx_other: 'void *',
  });
  koffi.struct('llama_batch_d', {
    n_tokens: 'int32_t', token: 'int32_t *', embd: 'float *', pos: 'int32_t *', n_seq_id: 'int32_t *',
    seq_id: 'int32_t **', logits: 'int8_t *',
  });
  lib = {
    backendInit: l.func('void llama_backend_init()'),
    modelDefaults: l.func('llama_model_params_d llama_model_default_params()'),
    ctxDefaults: l.func('llama_context_params_d llama_context_default_params()'),
    loadModel: l.func('void *llama_model_load_from_file(const char *path, llama_model_params_d p)'),
    initCtx: l.func('void *llama_init_from_model(void *model, llama_context_params_d p)'),
    getVocab: l.func('void *llama_model_get_vocab(void *model)'),
    nTokens: l.func('int32_t llama_vocab_n_tokens(void *vocab)'),
    decode: l.func('int32_t llama_decode(void *ctx, llama_batch_d batch)'),
    getLogits: l.func('float *llama_get_logits(void *ctx)'),
    getMemory: l.func('void *llama_get_memory(void *ctx)'),
    memoryClear: l.func('void llama_memory_clear(void *mem, bool data)'),
    freeCtx: l.func('void llama_free(void *ctx)'),
    freeModel: l.func('void llama_model_free(void *model)'),
    logSet: l.func('void llama_log_set(void *cb, void *ud)'),
    tokenize: l.func('int32_t llama_tokenize(void *vocab, const char *text, int32_t text_len, _Out_ int32_t *tokens, int32_t n_max, bool add_special, bool parse_special)'),
    opName: ggml.func('const char *ggml_op_name(int op)'),
    evalCb: koffi.proto('bool oracle_eval_cb(void *t, bool ask, void *ud)'),
    tensor: koffi.struct('ggml_tensor_d', {
      type: 'int', buffer: 'void *', ne: koffi.array('int64_t', 4), nb: koffi.array('size_t', 4), op: 'int',
      op_params: koffi.array('int32_t', 16), flags: 'int32_t', src: koffi.array('void *', 10), view_src: 'void *',
      view_offs: 'size_t', data: 'void *', name: koffi.array('char', 64, 'String'), extra: 'void *', padding: koffi.array('char', 8),
    }),
  };
  lib.backendInit();
  return lib;
}

/** llama_tokenize with the vocabulary of a GGUF (loaded vocab-only); null when the oracle cannot load */
export function openTokenizeOracle(modelPath: string): ((text: string, addSpecial: boolean, parseSpecial: boolean) => number[]) | null {
  const L = load();
  if (!L) return null;
  const mp = L.modelDefaults();
  mp.vocab_only = true;
  const model = L.loadModel(modelPath, mp);
  if (!model) throw new Error(`llama_model_load_from_file (vocab only) failed for ${modelPath}`);
  const vocab = L.getVocab(model);
  return (text, addSpecial, parseSpecial) => {
    const bytes = Buffer.from(text, 'utf8');
    const out = new Int32Array(bytes.length + 8);
    const n = L.tokenize(vocab, bytes, bytes.length, out, out.length, addSpecial, parseSpecial);
    if (n < 0) throw new Error(`llama_tokenize needs ${-n} tokens`);
    return [...out.subarray(0, n)];
  };
}

/**
 * llama.cpp's own Unicode tables (C++ symbols exported by libllama): unicode_cpt_flags_from_cpt (the
 * uint16 of flag bits: 2 number, 4 letter, 0x100 white space) and unicode_tolower; null when the oracle
 * cannot load
 */
export function openUnicodeOracle(): { flags(cp: number): number; tolower(cp: number): number } | null {
  const L = load();
  if (!L) return null;
  const dir = libDir()!;
  const l = koffi.load(path.join(dir, 'libllama.v0.5.0.so'));
  return {
    flags: l.func('uint16_t _Z26unicode_cpt_flags_from_cptj(uint32_t)'),
    tolower: l.func('uint32_t _Z15unicode_tolowerj(uint32_t)'),
  };
}

/** null when the oracle cannot load (oracleUnavailable says why) */
export function openDecodeOracle(modelPath: string, nCtx: number, opts: DecodeOracleOptions = {}): DecodeOracle | null {
  const L = load();
  if (!L) return null;
  if (opts.quiet && !L.quietCb) {
    // (its own prototype name: test/oracle/llama-cpp.ts declares 'oracle_log_cb' for llama_model_quantize's log)
    const proto = koffi.proto('void decode_oracle_quiet_log_cb(int level, const char *text, void *ud)');
    L.quietCb = koffi.register(() => {}, koffi.pointer(proto));
    L.logSet(L.quietCb, null);
  }
  const mp = L.modelDefaults();
  const model = L.loadModel(modelPath, mp);
  if (!model) throw new Error(`llama_model_load_from_file failed for ${modelPath}`);
  const cp = L.ctxDefaults();
  cp.n_ctx = nCtx;
  cp.n_batch = nCtx;
  cp.n_ubatch = nCtx;
  cp.n_seq_max = 1;
  cp.n_threads = opts.threads ?? 1;
  cp.n_threads_batch = opts.threads ?? 1;
  const imatrix = new Map<string, OracleImatrixEntry>();
  let cb: unknown = null;
  let callbackSeconds = 0;
  /** the callback, its time (the asking calls for every graph node and the collecting calls) added to callbackSeconds */
  const timed = (fn: (tp: unknown, ask: boolean) => boolean) => (tp: unknown, ask: boolean): boolean => {
    const t0 = performance.now();
    try {
      return fn(tp, ask);
    } finally {
      callbackSeconds += (performance.now() - t0) / 1000;
    }
  };
  const matmuls: OracleMatmul[] = [];
  if (opts.matmuls) {
    if (opts.imatrix) throw new Error('openDecodeOracle: imatrix and matmuls are separate runs');
    const rowsOf = (x: any, type: string) => {
      const [ne0, ne1, ne2, ne3] = Array.from(x.ne as ArrayLike<bigint>, Number);
      if (ne2 !== 1 || ne3 !== 1) throw new Error(`matmul oracle: ${x.name} is ${ne0}x${ne1}x${ne2}x${ne3}`);
      const nb1 = Number(x.nb[1]);
      const out = new Float32Array(ne0 * ne1);
      for (let r = 0; r < ne1; r++) out.set(koffi.decode(x.data, r * nb1, type, ne0) as number[], r * ne0);
      return { out, ne0, ne1 };
    };
    cb = koffi.register((tp: unknown, ask: boolean) => {
      const t = koffi.decode(tp, L.tensor);
      if ((L.opName(t.op) as string) !== 'MUL_MAT') return false;
      const src1 = koffi.decode(t.src[1], L.tensor);
      if (src1.type !== 0) return false; // F32 activations only
      if (ask) return true;
      const src0 = koffi.decode(t.src[0], L.tensor);
      const x = rowsOf(src1, 'float');
      const y = rowsOf(t, 'float');
      matmuls.push({ weight: src0.name as string, x: x.out, y: y.out, rows: x.ne1, cols: x.ne0, m: y.ne0 });
      return true;
    }, koffi.pointer(L.evalCb));
    cp.cb_eval = cb;
  }
  if (opts.imatrix) {
    const processOutput = !!opts.imatrix.processOutput;
    const GGML_TYPE_F32 = 0;
    cb = koffi.register(timed((tp: unknown, ask: boolean) => {
      const t = koffi.decode(tp, L.tensor);
      const op = L.opName(t.op) as string;
      const src0 = koffi.decode(t.src[0], L.tensor);
      const src1 = t.src[1] ? koffi.decode(t.src[1], L.tensor) : null;
      if (ask) {
        if (op === 'MUL_MAT_ID') return true;
        if (op !== 'MUL_MAT' || !src1) return false;
        if (Number(src1.ne[1]) < 16 || src1.type !== GGML_TYPE_F32) return false;
        const name = src0.name as string;
        return name.startsWith('blk.') || (processOutput && name === 'output.weight');
      }
      if (op !== 'MUL_MAT' && op !== 'MUL_MAT_ID') throw new Error(`imatrix oracle: ${op} (of ${src0.name}) is not handled`);
      // (koffi gives int64_t/size_t arrays as BigInt64Array/BigUint64Array)
      const [ne0, ne1, ne2, ne3] = Array.from(src1.ne as ArrayLike<bigint>, Number);
      const [nb0, nb1, nb2, nb3] = Array.from(src1.nb as ArrayLike<bigint>, Number);
      if (nb0 !== 4 || src1.type !== GGML_TYPE_F32) throw new Error(`imatrix oracle: ${src0.name}: activations of type ${src1.type} with stride ${nb0}`);
      if (op === 'MUL_MAT_ID') {
        const nAs = Number(src0.ne[2]);
        const ids = koffi.decode(t.src[2], L.tensor);
        const [nIds, nTok] = Array.from(ids.ne as ArrayLike<bigint>, Number);
        const [ib0, ib1] = Array.from(ids.nb as ArrayLike<bigint>, Number);
        if (nTok !== ne2 || ne3 !== 1) throw new Error(`imatrix oracle: ${src0.name}: ids for ${nTok} tokens, activations ${ne0}x${ne1}x${ne2}x${ne3}`);
        let e = imatrix.get(src0.name);
        if (!e) imatrix.set(src0.name, (e = { sums: new Float32Array(ne0 * nAs), counts: new Array<number>(nAs).fill(0) }));
        for (let idx = 0; idx < nIds; idx++) {
          for (let row = 0; row < nTok; row++) {
            const ex = koffi.decode(ids.data, row * ib1 + idx * ib0, 'int32_t') as number;
            if (!(ex >= 0 && ex < nAs)) throw new Error(`imatrix oracle: ${src0.name}: expert id ${ex}`);
            const x = koffi.decode(src1.data, (idx % ne1) * nb1 + row * nb2, 'float', ne0) as number[];
            const acc = e.sums.subarray(ex * ne0, (ex + 1) * ne0);
            for (let j = 0; j < ne0; j++) acc[j] += Math.fround(x[j] * x[j]);
            e.counts[ex]++;
          }
        }
        return true;
      }
      let e = imatrix.get(src0.name);
      if (!e) imatrix.set(src0.name, (e = { sums: new Float32Array(ne0), counts: [0] }));
      for (let i3 = 0; i3 < ne3; i3++) {
        for (let i2 = 0; i2 < ne2; i2++) {
          for (let r = 0; r < ne1; r++) {
            const x = koffi.decode(src1.data, r * nb1 + i2 * nb2 + i3 * nb3, 'float', ne0) as number[];
            for (let j = 0; j < ne0; j++) e.sums[j] += Math.fround(x[j] * x[j]);
          }
        }
      }
      e.counts[0] += ne1 * ne2 * ne3;
      return true;
    }), koffi.pointer(L.evalCb));
    cp.cb_eval = cb;
  }
  const ctx = L.initCtx(model, cp);
  if (!ctx) throw new Error('llama_init_from_model failed');
  const nVocab = L.nTokens(L.getVocab(model));
  return {
    nVocab,
    imatrix,
    matmuls,
    get callbackSeconds() {
      return callbackSeconds;
    },
    decode(tokens, nUbatch) {
      const T = tokens.length;
      L.memoryClear(L.getMemory(ctx), true);
      const out = new Float32Array(T * nVocab);
      for (let s = 0; s < T; s += nUbatch) {
        const n = Math.min(nUbatch, T - s);
        const seq0 = new Int32Array(1);
        const seqPtrs = Array.from({ length: n }, () => seq0);
        const batch = {
          n_tokens: n,
          token: Int32Array.from({ length: n }, (_, i) => tokens[s + i]),
          embd: null,
          pos: Int32Array.from({ length: n }, (_, i) => s + i),
          n_seq_id: new Int32Array(n).fill(1),
          seq_id: seqPtrs,
          logits: new Int8Array(n).fill(1),
        };
        const rc = L.decode(ctx, batch);
        if (rc !== 0) throw new Error(`llama_decode returned ${rc}`);
        const p = L.getLogits(ctx);
        out.set(koffi.decode(p, koffi.array('float', n * nVocab, 'Typed')) as Float32Array, s * nVocab);
      }
      return out;
    },
    free() {
      L.freeCtx(ctx);
      L.freeModel(model);
      if (cb) koffi.unregister(cb);
    },
  };
}
