/**
 * The oracle side's importance matrix, read WITHOUT the project's loader (src/formats/imatrix.ts), from the
 * spec (§6.1-6.3) and llama-quantize's load_imatrix/prepare_imatrix: GGUF files through @huggingface/gguf,
 * legacy `.dat` files through the small parser below. Used by the oracle runs (llama-cpp.ts) and by the
 * loader cross-check (test/formats/imatrix-crosscheck.test.ts).
 *
 * @huggingface/gguf is asynchronous while the oracle runs are not: `loadReferenceImatrix` reads a file once
 * and caches it; `referenceImatrix` returns the cached reading (and says so when a test forgot to load it).
 */
import fs from 'node:fs';
import { gguf } from '@huggingface/gguf';

export interface ReferenceImatrix {
  /** quantization weights by entry name: n_per_row * n_mat values */
  entries: Map<string, Float32Array>;
  datasets: string[];
  chunkCount: number;
}

const cache = new Map<string, ReferenceImatrix>();

const isGguf = (bytes: Uint8Array) => bytes.length >= 4 && bytes[0] === 0x47 && bytes[1] === 0x47 && bytes[2] === 0x55 && bytes[3] === 0x46;

/** §6.2/§6.3: w = in_sum2 / count per matrix (binary32), 1.0 for a matrix whose count is 0 */
async function readGguf(file: string, bytes: Uint8Array): Promise<ReferenceImatrix> {
  const g = await gguf(file, { allowLocalFile: true });
  const meta = g.metadata as Record<string, unknown>;
  const f32 = (offset: bigint, n: number) => {
    const at = Number(g.tensorDataOffset + offset);
    return new Float32Array(bytes.buffer.slice(bytes.byteOffset + at, bytes.byteOffset + at + 4 * n));
  };
  const count = (shape: bigint[]) => shape.reduce((n, d) => n * Number(d), 1);
  const byName = new Map(g.tensorInfos.map((t) => [t.name, t]));
  const entries = new Map<string, Float32Array>();
  for (const t of g.tensorInfos) {
    if (!t.name.endsWith('.in_sum2')) continue;
    const name = t.name.slice(0, -'.in_sum2'.length);
    const c = byName.get(`${name}.counts`);
    if (!c) throw new Error(`${file}: ${name}.in_sum2 without ${name}.counts`);
    const sums = f32(t.offset, count(t.shape));
    const counts = Array.from(f32(c.offset, count(c.shape)), (v) => Math.round(v));
    const ne0 = sums.length / counts.length;
    const w = new Float32Array(sums.length);
    for (let j = 0; j < counts.length; j++) {
      const cj = Math.fround(counts[j]);
      for (let i = 0; i < ne0; i++) w[j * ne0 + i] = cj > 0 ? Math.fround(sums[j * ne0 + i] / cj) : 1;
    }
    entries.set(name, w);
  }
  return { entries, datasets: (meta['imatrix.datasets'] as string[] | undefined) ?? [], chunkCount: Number(meta['imatrix.chunk_count'] ?? 0) };
}

/** §6.1/§6.3: entries of (name, ncall, values); w = value / ncall when ncall > 0; trailer: chunk count, dataset */
function readLegacy(file: string, bytes: Uint8Array): ReferenceImatrix {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const i32 = () => { const v = dv.getInt32(at, true); at += 4; return v; };
  const str = (n: number) => { const s = Buffer.from(bytes.subarray(at, at + n)).toString('utf8'); at += n; return s; };
  const n = i32();
  const entries = new Map<string, Float32Array>();
  for (let k = 0; k < n; k++) {
    const name = str(i32());
    const ncall = i32();
    const nval = i32();
    const w = new Float32Array(nval);
    for (let i = 0; i < nval; i++) {
      const v = dv.getFloat32(at + 4 * i, true);
      w[i] = ncall > 0 ? Math.fround(v / ncall) : v;
    }
    at += 4 * nval;
    entries.set(name, w);
  }
  let chunkCount = 0;
  const datasets: string[] = [];
  if (at < bytes.length) {
    chunkCount = i32();
    const len = i32();
    if (len > 0) datasets.push(str(len));
  }
  if (at !== bytes.length) throw new Error(`${file}: ${bytes.length - at} bytes after the legacy imatrix trailer`);
  return { entries, datasets, chunkCount };
}

export async function loadReferenceImatrix(file: string): Promise<ReferenceImatrix> {
  const bytes = new Uint8Array(fs.readFileSync(file));
  const im = isGguf(bytes) ? await readGguf(file, bytes) : readLegacy(file, bytes);
  cache.set(file, im);
  return im;
}

export function referenceImatrix(file: string): ReferenceImatrix {
  const im = cache.get(file);
  if (!im) throw new Error(`${file}: call loadReferenceImatrix() before the oracle run that uses it`);
  return im;
}

/** llama-quantize's prepare_imatrix: drop entries naming any excluded string, then keep those naming an included one */
export function filterReference(im: ReferenceImatrix, include: readonly string[] = [], exclude: readonly string[] = []): Map<string, Float32Array> {
  let entries = [...im.entries].filter(([name]) => !exclude.some((s) => name.includes(s)));
  if (include.length) entries = entries.filter(([name]) => include.some((s) => name.includes(s)));
  return new Map(entries);
}
