/**
 * llama.cpp v0.5.0 itself, called through koffi: `ggml_quantize_chunk` from libggml-base.so and
 * `llama_model_quantize` from libllama.v0.5.0.so (@node-llama-cpp/linux-x64@3.22.1, x86-64, no FMA).
 * Tests compare our bytes with these. Where the package cannot load (another platform), `oracleUnavailable`
 * says why in one line and the oracle tests skip with that line.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import fs from 'node:fs';
import { filterReference, referenceImatrix } from './imatrix-reference.js';
import type { KvOverride, TensorTypeOverride } from '../../src/pipeline/options.js';

const require = createRequire(import.meta.url);

export interface Oracle {
  quantizeChunk(type: number, src: Float32Array, nrows: number, nPerRow: number, imatrix: Float32Array | null): Uint8Array;
  dequantizeRow(type: number, src: Uint8Array, n: number): Float32Array;
  rowSize(type: number, n: number): number;
  /** ggml_quantize_requires_imatrix(type) */
  requiresImatrix(type: number): boolean;
  /** llama_model_quantize(in, out, params); returns its status (0 = ok). */
  modelQuantize(input: string, output: string, params: ModelQuantizeParams): number;
  /** the error lines llama.cpp logged during the last modelQuantize call ('' when none) */
  lastQuantizeError(): string;
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
  /** importance weights by entry name, passed as llama_model_imatrix_data (no KVs added) */
  imatrix?: ReadonlyMap<string, Float32Array>;
  /**
   * an imatrix file handled as llama-quantize's CLI does: read and converted to weights by the reference
   * reader (imatrix-reference.ts, not the project's loader; loadReferenceImatrix it first), filtered, then
   * the quantize.imatrix.* KV overrides appended after `kvOverrides`
   */
  imatrixFile?: { path: string; includeWeights?: readonly string[]; excludeWeights?: readonly string[] };
  kvOverrides?: readonly KvOverride[];
  /** --tensor-type entries, in order (patterns already lower-cased as the CLI does) */
  tensorTypes?: readonly TensorTypeOverride[];
  /** --prune-layers: sorted and de-duplicated here as the CLI does */
  pruneLayers?: readonly number[];
}

/** enum ggml_log_level */
const LOG_ERROR = 4;
const LOG_CONT = 5;
/** enum llama_model_kv_override_type */
const KV_TAG = { int: 0, float: 1, bool: 2, str: 3 } as const;
/** struct llama_model_kv_override: tag @0, key[128] @4, union (i64/f64/bool/char[128]) @136, size 264 */
const KVO_SIZE = 264;
const KVO_VALUE = 136;
const KEY_MAX = 128;

let cached: Oracle | null | undefined;
export let oracleUnavailable = '';

/** the folder of the llama.cpp libraries, or null (oracleUnavailable says why) */
export function libDir(): string | null {
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
  const requiresImatrixFn = base.func('bool ggml_quantize_requires_imatrix(int type)');
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
  let errorText = '';
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
      // llama_model_quantize logs every tensor: keep only the error lines (ORACLE_VERBOSE=1 prints all)
      const LogCb = koffi.proto('void oracle_log_cb(int level, const char *text, void *ud)');
      let lastLevel = 0;
      llama.logger = koffi.register((level: number, text: string) => {
        if (process.env.ORACLE_VERBOSE) process.stderr.write(text);
        if (level !== LOG_CONT) lastLevel = level;
        if (lastLevel === LOG_ERROR) errorText += text;
      }, koffi.pointer(LogCb));
      lib.func('void llama_log_set(oracle_log_cb *cb, void *ud)')(llama.logger, null);
    }
    return llama;
  };

  cached = {
    rowSize: (type, n) => Number(rowSizeFn(type, n)),
    requiresImatrix: (type) => Boolean(requiresImatrixFn(type)),
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
    lastQuantizeError: () => errorText.trim(),
    modelQuantize(input, output, p) {
      const l = getLlama();
      errorText = '';
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
      const mem = new CallMemory(koffi);
      let imatrix = p.imatrix;
      const kvos: KvOverride[] = [...(p.kvOverrides ?? [])];
      if (p.imatrixFile) {
        const f = p.imatrixFile;
        // read without the project's loader (imatrix-reference.ts), so that these runs can catch a bug in it
        const im = referenceImatrix(f.path);
        const entries = filterReference(im, f.includeWeights, f.excludeWeights);
        if (entries.size > 0) {
          imatrix = entries;
          kvos.push({ key: 'quantize.imatrix.file', kind: 'str', value: f.path });
          if (im.datasets.length) kvos.push({ key: 'quantize.imatrix.dataset', kind: 'str', value: im.datasets[0] });
          kvos.push({ key: 'quantize.imatrix.entries_count', kind: 'int', value: entries.size });
          if (im.chunkCount > 0) kvos.push({ key: 'quantize.imatrix.chunks_count', kind: 'int', value: im.chunkCount });
        }
      }
      try {
        if (imatrix?.size) params.imatrix = mem.imatrix(imatrix);
        if (kvos.length) params.kv_overrides = mem.kvOverrides(kvos);
        if (p.tensorTypes?.length) params.tt_overrides = mem.tensorTypes(p.tensorTypes);
        if (p.pruneLayers?.length) params.prune_layers = mem.pruneLayers(p.pruneLayers);
        return l.quantize(input, output, params);
      } finally {
        mem.free();
      }
    },
  };
  return cached;
}

/** C memory for the pointer fields of one llama_model_quantize call; kept referenced until the call returns. */
class CallMemory {
  private readonly keep: unknown[] = [];
  constructor(private readonly koffi: any) {}

  free(): void {
    for (const m of this.keep) this.koffi.free(m);
    this.keep.length = 0;
  }

  private block(n: number): { mem: unknown; bytes: Uint8Array; view: DataView; addr: bigint } {
    const size = Math.max(n, 8);
    const mem = this.koffi.alloc('uint8_t', size);
    this.keep.push(mem);
    const buf: ArrayBuffer = this.koffi.view(mem, size);
    const bytes = new Uint8Array(buf);
    bytes.fill(0);
    return { mem, bytes, view: new DataView(buf), addr: BigInt(this.koffi.address(mem)) };
  }

  private cstr(s: string): bigint {
    const b = Buffer.from(s, 'utf8');
    const m = this.block(b.length + 1);
    m.bytes.set(b);
    return m.addr;
  }

  /** llama_model_imatrix_data[] {name, data, size} ended by {NULL, NULL, 0} */
  imatrix(entries: ReadonlyMap<string, Float32Array>): unknown {
    const list = [...entries];
    const arr = this.block(24 * (list.length + 1));
    list.forEach(([name, w], i) => {
      const d = this.block(4 * w.length);
      d.bytes.set(new Uint8Array(w.buffer, w.byteOffset, w.byteLength));
      arr.view.setBigUint64(24 * i, this.cstr(name), true);
      arr.view.setBigUint64(24 * i + 8, d.addr, true);
      arr.view.setBigUint64(24 * i + 16, BigInt(w.length), true);
    });
    return arr.mem;
  }

  /** llama_model_kv_override[] ended by an entry whose key is empty */
  kvOverrides(list: readonly KvOverride[]): unknown {
    const arr = this.block(KVO_SIZE * (list.length + 1));
    const enc = new TextEncoder();
    list.forEach((o, i) => {
      const at = KVO_SIZE * i;
      const key = enc.encode(o.key);
      if (key.length >= KEY_MAX) throw new RangeError(`kv override key '${o.key}' is longer than ${KEY_MAX - 1} bytes`);
      arr.view.setInt32(at, KV_TAG[o.kind], true);
      arr.bytes.set(key, at + 4);
      const v = at + KVO_VALUE;
      if (o.kind === 'int') arr.view.setBigInt64(v, BigInt(Math.trunc(o.value)), true);
      else if (o.kind === 'float') arr.view.setFloat64(v, o.value, true);
      else if (o.kind === 'bool') arr.view.setUint8(v, o.value ? 1 : 0);
      else arr.bytes.set(enc.encode(o.value).subarray(0, 127), v); // strncpy(val_str, s, 127), NUL after
    });
    return arr.mem;
  }

  /** llama_model_tensor_override[] {pattern, type} ended by {NULL, GGML_TYPE_COUNT} */
  tensorTypes(list: readonly TensorTypeOverride[]): unknown {
    const arr = this.block(16 * (list.length + 1));
    list.forEach((t, i) => {
      arr.view.setBigUint64(16 * i, this.cstr(t.pattern), true);
      arr.view.setInt32(16 * i + 8, t.type, true);
    });
    arr.view.setInt32(16 * list.length + 8, 43, true); // GGML_TYPE_COUNT; only the NULL pattern is read
    return arr.mem;
  }

  /** int32 layer ids ended by -1 */
  pruneLayers(ids: readonly number[]): unknown {
    const list = [...new Set(ids)].sort((a, b) => a - b);
    const arr = this.block(4 * (list.length + 1));
    [...list, -1].forEach((v, i) => arr.view.setInt32(4 * i, v, true));
    return arr.mem;
  }
}
