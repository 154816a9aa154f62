/**
 * llama.cpp v0.5.0 itself, called through koffi: `ggml_quantize_chunk` from libggml-base.so and
 * `llama_model_quantize` from libllama.v0.5.0.so (@node-llama-cpp/linux-x64@3.22.1, x86-64, no FMA).
 * Tests compare our bytes with these. Where the package cannot load (another platform), `oracleUnavailable`
 * says why in one line and the oracle tests skip with that line.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import fs from 'node:fs';

const require = createRequire(import.meta.url);

export interface Oracle {
  quantizeChunk(type: number, src: Float32Array, nrows: number, nPerRow: number, imatrix: Float32Array | null): Uint8Array;
  dequantizeRow(type: number, src: Uint8Array, n: number): Float32Array;
  rowSize(type: number, n: number): number;
  /** llama_model_quantize(in, out, params); returns its status (0 = ok). */
  modelQuantize(input: string, output: string, params: ModelQuantizeParams): number;
}

export interface ModelQuantizeParams {
  nthread?: number;
  ftype: number;
  outputTensorType?: number;
  tokenEmbeddingType?: number;
  allowRequantize?: boolean;
  quantizeOutputTensor?: boolean;
  onlyCopy?: boolean;
  pure?: boolean;
  keepSplit?: boolean;
  dryRun?: boolean;
}

let cached: Oracle | null | undefined;
export let oracleUnavailable = '';

function libDir(): string | null {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    oracleUnavailable = `llama.cpp oracle unavailable: needs linux-x64, this is ${process.platform}-${process.arch}`;
    return null;
  }
  try {
    const pkg = path.resolve(path.dirname(require.resolve('@node-llama-cpp/linux-x64')), '..');
    const dir = path.join(pkg, 'bins', 'linux-x64');
    if (!fs.existsSync(path.join(dir, 'libggml-base.so'))) throw new Error('libggml-base.so missing');
    return dir;
  } catch (e) {
    oracleUnavailable = `llama.cpp oracle unavailable: @node-llama-cpp/linux-x64 not installed (${(e as Error).message})`;
    return null;
  }
}

export function loadOracle(): Oracle | null {
  if (cached !== undefined) return cached;
  const dir = libDir();
  if (!dir) return (cached = null);
  let koffi: any;
  try {
    koffi = require('koffi');
  } catch (e) {
    oracleUnavailable = `llama.cpp oracle unavailable: koffi failed to load (${(e as Error).message})`;
    return (cached = null);
  }
  const base = koffi.load(path.join(dir, 'libggml-base.so'));
  const quantizeChunk = base.func('size_t ggml_quantize_chunk(int type, const float *src, _Out_ void *dst, int64_t start, int64_t nrows, int64_t n_per_row, const float *imatrix)');
  const rowSizeFn = base.func('size_t ggml_row_size(int type, int64_t ne)');
  const typeName = base.func('const char *ggml_type_name(int type)');
  const dequantizers = new Map<number, any>();
  const dequantizer = (type: number) => {
    let fn = dequantizers.get(type);
    if (!fn) {
      const name = String(typeName(type));
      const sym = name === 'f16' ? 'ggml_fp16_to_fp32_row' : name === 'bf16' ? 'ggml_bf16_to_fp32_row' : `dequantize_row_${name}`;
      fn = base.func(`void ${sym}(const void *x, _Out_ float *y, int64_t k)`);
      dequantizers.set(type, fn);
    }
    return fn;
  };

  // libllama needs libggml.so and libggml-base.so resolvable: load them first by absolute path.
  koffi.load(path.join(dir, 'libggml.v0.5.0.so'));
  let llama: any = null;
  const Params = koffi.struct('llama_model_quantize_params_x', {
    nthread: 'int32_t', ftype: 'int', output_tensor_type: 'int', token_embedding_type: 'int',
    allow_requantize: 'bool', quantize_output_tensor: 'bool', only_copy: 'bool', pure: 'bool',
    keep_split: 'bool', dry_run: 'bool', imatrix: 'void *', kv_overrides: 'void *', tt_overrides: 'void *',
    prune_layers: 'void *', max_buf_size: 'size_t',
  });
  const getLlama = () => {
    if (!llama) {
      const lib = koffi.load(path.join(dir, 'libllama.v0.5.0.so'));
      llama = {
        defaults: lib.func('llama_model_quantize_params_x llama_model_quantize_default_params()'),
        quantize: lib.func('uint32_t llama_model_quantize(const char *in, const char *out, const llama_model_quantize_params_x *p)'),
        backendInit: lib.func('void llama_backend_init()'),
      };
      llama.backendInit();
    }
    return llama;
  };

  cached = {
    rowSize: (type, n) => Number(rowSizeFn(type, n)),
    quantizeChunk(type, src, nrows, nPerRow, imatrix) {
      const dst = new Uint8Array(Number(rowSizeFn(type, nPerRow)) * nrows);
      quantizeChunk(type, src, dst, 0, nrows, nPerRow, imatrix);
      return dst;
    },
    dequantizeRow(type, src, n) {
      const out = new Float32Array(n);
      dequantizer(type)(src, out, n);
      return out;
    },
    modelQuantize(input, output, p) {
      const l = getLlama();
      const params = l.defaults();
      params.nthread = p.nthread ?? 1;
      params.ftype = p.ftype;
      if (p.outputTensorType !== undefined) params.output_tensor_type = p.outputTensorType;
      if (p.tokenEmbeddingType !== undefined) params.token_embedding_type = p.tokenEmbeddingType;
      params.allow_requantize = !!p.allowRequantize;
      params.quantize_output_tensor = p.quantizeOutputTensor ?? true;
      params.only_copy = !!p.onlyCopy;
      params.pure = !!p.pure;
      params.keep_split = !!p.keepSplit;
      params.dry_run = !!p.dryRun;
      return l.quantize(input, output, params);
    },
  };
  return cached;
}
