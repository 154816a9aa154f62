/**
 * llama.cpp v0.5.0's own forward pass through koffi: load a GGUF with libllama, decode token sequences with
 * llama_decode (CPU backend, best variant for this machine, flash attention as the tools use it) and read
 * the logits. The layouts of llama_model_params, llama_context_params and llama_batch follow v0.5.0's
 * include/llama.h. Used to check our forward pass token by token.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { libDir } from './llama-cpp.js';

const require = createRequire(import.meta.url);

export interface DecodeOracle {
  /** logits (tokens.length × n_vocab) of one sequence from position 0, computed in ubatches of `nUbatch` */
  decode(tokens: ArrayLike<number>, nUbatch: number): Float32Array;
  readonly nVocab: number;
  free(): void;
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
export function openDecodeOracle(modelPath: string, nCtx: number): DecodeOracle | null {
  const L = load();
  if (!L) return null;
  const mp = L.modelDefaults();
  const model = L.loadModel(modelPath, mp);
  if (!model) throw new Error(`llama_model_load_from_file failed for ${modelPath}`);
  const cp = L.ctxDefaults();
  cp.n_ctx = nCtx;
  cp.n_batch = nCtx;
  cp.n_ubatch = nCtx;
  cp.n_seq_max = 1;
  cp.n_threads = 1;
  cp.n_threads_batch = 1;
  const ctx = L.initCtx(model, cp);
  if (!ctx) throw new Error('llama_init_from_model failed');
  const nVocab = L.nTokens(L.getVocab(model));
  return {
    nVocab,
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
        out.set(koffi.decode(p, 'float', n * nVocab), s * nVocab);
      }
      return out;
    },
    free() {
      L.freeCtx(ctx);
      L.freeModel(model);
    },
  };
}
