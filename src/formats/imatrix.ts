/**
 * Importance-matrix files (spec §6): the GGUF format (common_imatrix_load) and the legacy `.dat` format
 * (common_imatrix_load_legacy), converted to per-column quantization weights the way quantize.cpp's
 * load_imatrix does (§6.3), the --include/--exclude-weights filters, and the per-tensor size check of
 * llama_model_quantize_impl (§5.4). Browser-safe: the input is the file's bytes.
 *
 * Where llama.cpp reads past what a file holds or divides by zero (undefined behaviour), this refuses the
 * file with an ImatrixError instead.
 */
import { GgufFormatError, ImatrixError, UsageError, quoteName } from '../errors.js';
import { GgmlType } from '../core/ggml-type.js';
import { GgufValueType, findKv, kvString, kvU32, type GgufKv } from './gguf-kv.js';
import { parseGgufBytes } from './gguf-reader.js';
import { compareEncoded, decodeString, encodeString } from './gguf-string.js';

export interface Imatrix {
  readonly format: 'gguf' | 'legacy';
  /** the file name, for messages */
  readonly file: string;
  /** entry name -> weights (n_per_row · n_mat values), sorted byte-wise by name like llama.cpp's std::map */
  readonly entries: ReadonlyMap<string, Float32Array>;
  readonly datasets: readonly string[];
  /**
   * imatrix.chunk_count (GGUF) or the legacy trailer's count, as the C `int` llama-quantize keeps it in
   * (a u32 past 2^31 reads negative); quantize.imatrix.chunks_count is written only when > 0.
   */
  readonly chunkCount: number;
}

const GGUF_KEYS = ['imatrix.datasets', 'imatrix.chunk_count', 'imatrix.chunk_size'] as const;

function sortedMap(m: Map<string, Float32Array>): Map<string, Float32Array> {
  return new Map([...m.entries()].sort((a, b) => compareEncoded(a[0], b[0])));
}

/** A C string read from bytes: everything up to the first NUL. */
function cString(b: Uint8Array): string {
  const z = b.indexOf(0);
  return decodeString(z < 0 ? b : b.subarray(0, z));
}

/** C lround: half away from zero. */
const lround = (x: number): number => Math.sign(x) * Math.floor(Math.abs(x) + 0.5);

/** Parse either format; a file that starts with the GGUF magic is read as GGUF, anything else as legacy. */
export function parseImatrix(bytes: Uint8Array, file: string): Imatrix {
  const isGguf = bytes.length >= 4 && bytes[0] === 0x47 && bytes[1] === 0x47 && bytes[2] === 0x55 && bytes[3] === 0x46;
  return isGguf ? parseGgufImatrix(bytes, file) : parseLegacyImatrix(bytes, file);
}

function f32Data(bytes: Uint8Array, offset: number, n: number): Float32Array {
  // a copy (Uint8Array#slice; a Node Buffer's own slice would be a view of its whole pool)
  return new Float32Array(Uint8Array.prototype.slice.call(bytes, offset, offset + n * 4).buffer);
}

export function parseGgufImatrix(bytes: Uint8Array, file: string): Imatrix {
  const fail = (detail: string): never => {
    throw new ImatrixError(file, detail);
  };
  let g;
  try {
    g = parseGgufBytes(bytes, file);
  } catch (e) {
    if (e instanceof GgufFormatError) fail(e.detail);
    throw e;
  }
  if (g.tensors.length < 1) fail('no data: the GGUF imatrix has no tensors');
  const missing = GGUF_KEYS.filter((k) => !findKv(g.kvs, k));
  if (missing.length) fail(`missing imatrix metadata: ${missing.join(', ')}`);
  const u32Key = (key: string): number => {
    const e = findKv(g.kvs, key)!;
    if (e.isArray || e.type !== GgufValueType.UINT32) fail(`key ${quoteName(key)} must be u32, it is ${e.isArray ? 'an array' : GgufValueType[e.type]}`);
    return e.value as number;
  };
  const chunkCount = u32Key('imatrix.chunk_count') | 0;
  u32Key('imatrix.chunk_size');
  const ds = findKv(g.kvs, 'imatrix.datasets')!;
  const datasets = ds.isArray && ds.type === GgufValueType.STRING ? [...(ds.value as string[])] : [];

  const pairs = new Map<string, { sums?: (typeof g.tensors)[number]; counts?: (typeof g.tensors)[number] }>();
  for (const t of g.tensors) {
    const suffix = t.name.endsWith('.in_sum2') ? '.in_sum2' : t.name.endsWith('.counts') ? '.counts' : null;
    if (!t.name || !suffix) continue;
    const name = t.name.slice(0, t.name.length - suffix.length);
    const p = pairs.get(name) ?? {};
    if (suffix === '.in_sum2') p.sums = t;
    else p.counts = t;
    pairs.set(name, p);
  }
  const entries = new Map<string, Float32Array>();
  for (const [name, { sums, counts }] of pairs) {
    if (!sums || !counts) fail(`mismatched sums and counts for ${quoteName(name)}: ${sums ? quoteName(`${name}.counts`) : quoteName(`${name}.in_sum2`)} is missing`);
    if (sums!.type !== GgmlType.F32 || counts!.type !== GgmlType.F32) fail(`sums and counts for ${quoteName(name)} must be F32`);
    const nval = sums!.nbytes / 4;
    const ncounts = counts!.nbytes / 4;
    if (ncounts === 0 || nval % ncounts !== 0) fail(`entry ${quoteName(name)} has ${nval} sums, not a multiple of its ${ncounts} counts`);
    const s = f32Data(bytes, sums!.dataOffset, nval);
    const c = f32Data(bytes, counts!.dataOffset, ncounts);
    const ne0 = nval / ncounts;
    const w = new Float32Array(nval);
    for (let j = 0; j < ncounts; j++) {
      if (!Number.isFinite(c[j])) fail(`entry ${quoteName(name)} count ${j} is ${c[j]}`);
      // counts are rounded to integers (lround), then converted back to float for the division
      const count = Math.fround(lround(c[j]));
      for (let i = 0; i < ne0; i++) w[j * ne0 + i] = count > 0 ? s[j * ne0 + i] / count : 1;
    }
    entries.set(name, w);
  }
  return { format: 'gguf', file, entries: sortedMap(entries), datasets, chunkCount };
}

export function parseLegacyImatrix(bytes: Uint8Array, file: string): Imatrix {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  const fail = (detail: string): never => {
    throw new ImatrixError(file, detail);
  };
  const i32 = (what: string): number => {
    if (pos + 4 > bytes.length) fail(`truncated: ${what} at offset ${pos} needs 4 bytes, the file has ${bytes.length}`);
    const v = dv.getInt32(pos, true);
    pos += 4;
    return v;
  };
  const take = (n: number, what: string): Uint8Array => {
    if (n < 0) fail(`${what} at offset ${pos - 4} has negative length ${n}`);
    if (pos + n > bytes.length) fail(`truncated: ${what} at offset ${pos} needs ${n} bytes, only ${bytes.length - pos} remain`);
    const b = bytes.subarray(pos, pos + n);
    pos += n;
    return b;
  };
  const nEntries = i32('entry count');
  if (nEntries < 1) fail(`no data: legacy imatrix entry count is ${nEntries}`);
  const entries = new Map<string, Float32Array>();
  for (let i = 0; i < nEntries; i++) {
    const name = cString(take(i32(`name length of entry ${i}`), `name of entry ${i}`));
    const ncall = i32(`ncall of entry ${quoteName(name)}`);
    const nval = i32(`value count of entry ${quoteName(name)}`);
    if (nval < 1) fail(`entry ${quoteName(name)} has ${nval} values`);
    const v = new Float32Array(new Uint8Array(take(nval * 4, `values of entry ${quoteName(name)}`)).buffer);
    // legacy values are (sum/count)·ncall: undo the ncall factor (float division by (float)ncall)
    if (ncall > 0) {
      const d = Math.fround(ncall);
      for (let j = 0; j < nval; j++) v[j] = v[j] / d;
    }
    entries.set(name, v); // a repeated name replaces the earlier entry, as in llama.cpp's map
  }
  let chunkCount = 0;
  const datasets: string[] = [];
  if (pos < bytes.length) {
    chunkCount = i32('trailer chunk count');
    if (pos < bytes.length) {
      const len = i32('trailer dataset name length');
      if (len > 0) datasets.push(cString(take(len, 'trailer dataset name')));
    }
  }
  return { format: 'legacy', file, entries: sortedMap(entries), datasets, chunkCount };
}

/**
 * prepare_imatrix's filters: drop entries whose name contains any `exclude` string, or keep only those
 * containing some `include` string. The two are mutually exclusive on the command line.
 */
export function filterImatrix(im: Imatrix, include: readonly string[], exclude: readonly string[]): Imatrix {
  if (include.length && exclude.length) throw new UsageError('--include-weights and --exclude-weights cannot be used together');
  if (!include.length && !exclude.length) return im;
  const keep = (name: string) => (include.length ? include.some((s) => name.includes(s)) : !exclude.some((s) => name.includes(s)));
  return { ...im, entries: new Map([...im.entries].filter(([name]) => keep(name))) };
}

/** llama_model_quantize_impl refuses any non-finite weight (after the filters). */
export function checkImatrixFinite(im: Imatrix): void {
  for (const [name, w] of im.entries) {
    for (let i = 0; i < w.length; i++) {
      if (!Number.isFinite(w[i])) throw new ImatrixError(im.file, `entry ${quoteName(name)} has a non-finite weight (${w[i]}) at index ${i}`);
    }
  }
}

/**
 * Parse, filter and check, as llama-quantize does before quantizing. An Imatrix with no entries left
 * means "no imatrix": llama-quantize then neither uses one nor writes the quantize.imatrix.* keys.
 */
export function loadImatrix(bytes: Uint8Array, file: string, include: readonly string[] = [], exclude: readonly string[] = []): Imatrix {
  const im = filterImatrix(parseImatrix(bytes, file), include, exclude);
  checkImatrixFinite(im);
  return im;
}

const TOKEN_EMBD = new Set(['token_embd.weight', 'per_layer_token_embd.weight']);

/**
 * The weights for one tensor: null when the imatrix has no entry; the entry when it holds
 * n_per_row · n_expert values; otherwise an ImatrixError, except for token_embd.weight and
 * per_layer_token_embd.weight, which llama.cpp then quantizes without imatrix (null).
 * `name` is the lookup name (the pre-pruning name); `tensorName` the output tensor's name.
 */
export function imatrixFor(im: Imatrix, name: string, nPerRow: number, nExpert: number, tensorName = name): Float32Array | null {
  const w = im.entries.get(name);
  if (!w) return null;
  const expected = nPerRow * nExpert;
  if (w.length === expected) return w;
  if (TOKEN_EMBD.has(tensorName)) return null;
  throw new ImatrixError(im.file, `imatrix entry ${quoteName(name)} has ${w.length} values but tensor ${quoteName(tensorName)} needs ${expected} (ne0 ${nPerRow} x ${nExpert} expert${nExpert === 1 ? '' : 's'})`);
}

/** strncpy(dst, s, 127): C-string cut and the byte limit of llama_model_kv_override.val_str. */
function cStr127(s: string): Uint8Array {
  const b = encodeString(s);
  const z = b.indexOf(0);
  return b.subarray(0, Math.min(z < 0 ? b.length : z, 127));
}

/**
 * The KVs the CLI appends for an imatrix (§5.3 step 5, after the --override-kv ones): file path as typed,
 * first dataset, entry count, and chunk count when > 0. Empty when the imatrix has no entries.
 */
export function imatrixKvs(im: Imatrix, pathAsTyped: string): GgufKv[] {
  if (im.entries.size === 0) return [];
  const kvs = [kvString('quantize.imatrix.file', cStr127(pathAsTyped))];
  if (im.datasets.length) kvs.push(kvString('quantize.imatrix.dataset', cStr127(im.datasets[0])));
  kvs.push(kvU32('quantize.imatrix.entries_count', im.entries.size));
  if (im.chunkCount > 0) kvs.push(kvU32('quantize.imatrix.chunks_count', im.chunkCount));
  return kvs;
}
