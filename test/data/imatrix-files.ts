/**
 * Importance-matrix files written by tests, in both formats llama-quantize reads (spec §6.1, §6.2), from
 * seeded statistics: per-column sums of squared activations and per-matrix counts. Counts are chosen so
 * that sum ÷ count is rarely exact in binary32 (37, 100, 1234, ...), and an expert may have count 0 (its
 * weights then read as 1.0).
 */
import { GgufValueType, kvArray, kvString, kvU32 } from '../../src/formats/gguf-kv.js';
import { planOutput, paddingAfter, ZERO_PAD } from '../../src/formats/gguf-writer.js';
import { GgmlType } from '../../src/core/ggml-type.js';
import { mulberry32 } from '../../src/synthetic-model.js';

export interface ImatrixEntryStats {
  name: string;
  nPerRow: number;
  /** matrices (experts) in the entry; 1 for a 2-D weight */
  nMat: number;
  /** Σ x² per column, nPerRow · nMat values, matrix-major */
  sums: Float32Array;
  /** activation rows accumulated per matrix (integers) */
  counts: number[];
}

export interface ImatrixStats {
  entries: ImatrixEntryStats[];
  datasets: string[];
  chunkCount: number;
  chunkSize: number;
}

const COUNTS = [37, 100, 1234, 512, 77, 3001, 9, 250];

/**
 * Statistics for the given weights (name, ne as in the model). Column energies span about four orders
 * of magnitude, a few columns are dominant (as real activations have), and each matrix gets its own count;
 * with `zeroExpert` the second matrix of every 3-D weight has count 0.
 */
export function makeImatrixStats(
  weights: readonly { name: string; ne: readonly number[] }[],
  opts: { seed?: number; zeroExpert?: boolean; datasets?: string[]; chunkCount?: number; chunkSize?: number } = {},
): ImatrixStats {
  const rand = mulberry32(opts.seed ?? 1);
  const entries = weights.map((w, k): ImatrixEntryStats => {
    const nPerRow = w.ne[0];
    const nMat = w.ne.length > 2 ? w.ne[2] : 1;
    const counts = Array.from({ length: nMat }, (_, j) => (opts.zeroExpert && nMat > 1 && j === 1 ? 0 : COUNTS[(k + j) % COUNTS.length]));
    const sums = new Float32Array(nPerRow * nMat);
    for (let j = 0; j < nMat; j++) {
      for (let i = 0; i < nPerRow; i++) {
        const energy = Math.exp(9 * (rand() - 0.5)) * (rand() < 0.01 ? 50 : 1);
        sums[j * nPerRow + i] = counts[j] === 0 ? 0 : energy * counts[j];
      }
    }
    return { name: w.name, nPerRow, nMat, sums, counts };
  });
  entries.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
  return {
    entries,
    datasets: opts.datasets ?? ['synthetic-calibration.txt'],
    chunkCount: opts.chunkCount ?? 42,
    chunkSize: opts.chunkSize ?? 512,
  };
}

/** The GGUF imatrix format of llama-imatrix (spec §6.2). */
export function imatrixGgufBytes(s: ImatrixStats): Uint8Array {
  const kvs = [
    kvString('general.type', 'imatrix'),
    kvArray('imatrix.datasets', GgufValueType.STRING, s.datasets),
    kvU32('imatrix.chunk_count', s.chunkCount),
    kvU32('imatrix.chunk_size', s.chunkSize),
  ];
  const tensors: { name: string; ne: number[]; type: GgmlType; data: Float32Array }[] = [];
  for (const e of s.entries) {
    tensors.push({ name: `${e.name}.in_sum2`, ne: [e.nPerRow, e.nMat], type: GgmlType.F32, data: e.sums });
    tensors.push({ name: `${e.name}.counts`, ne: [1, e.nMat], type: GgmlType.F32, data: Float32Array.from(e.counts) });
  }
  const layout = planOutput({ kvs, tensors });
  const out = new Uint8Array(layout.fileSize);
  out.set(layout.meta, 0);
  tensors.forEach((t, i) => {
    const at = layout.dataOffset + layout.offsets[i];
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    out.set(ZERO_PAD.subarray(0, paddingAfter(t.data.byteLength)), at + t.data.byteLength);
  });
  return out;
}

/**
 * The legacy `.dat` format (spec §6.1) as save_imatrix_legacy writes it: ncall = ceil(max count / chunk
 * size), values (sum ÷ count) · ncall in binary32 (1.0 for a matrix with count 0), entries with all counts
 * zero left out, then the trailer (chunk count, first dataset name).
 */
export function imatrixLegacyBytes(s: ImatrixStats): Uint8Array {
  const parts: Uint8Array[] = [];
  const i32 = (v: number) => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, v, true);
    parts.push(b);
  };
  const kept = s.entries.filter((e) => e.counts.some((c) => c > 0));
  i32(kept.length);
  for (const e of kept) {
    const name = new TextEncoder().encode(e.name);
    i32(name.length);
    parts.push(name);
    const ncall = Math.ceil(Math.max(...e.counts) / s.chunkSize);
    i32(ncall);
    i32(e.sums.length);
    const v = new Float32Array(e.sums.length);
    for (let j = 0; j < e.nMat; j++) {
      const c = Math.fround(e.counts[j]);
      for (let i = 0; i < e.nPerRow; i++) {
        const k = j * e.nPerRow + i;
        v[k] = c > 0 ? Math.fround(Math.fround(e.sums[k] / c) * ncall) : 1;
      }
    }
    parts.push(new Uint8Array(v.buffer));
  }
  i32(s.chunkCount);
  const ds = new TextEncoder().encode(s.datasets[0] ?? '');
  i32(ds.length);
  parts.push(ds);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
