/**
 * Test fixtures: a little-endian byte builder written independently of src/formats (so the reader and
 * writer are checked against bytes produced another way), paths to the shared golden files, temp dirs.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemorySink } from '../../src/formats/byte-source.js';
import { kvI32 as kvI32Entry, kvU16, setKv, type GgufKv } from '../../src/formats/gguf-kv.js';
import { splitPath } from '../../src/formats/gguf-model.js';
import { parseGgufBytes } from '../../src/formats/gguf-reader.js';
import { paddingAfter, planOutput, ZERO_PAD } from '../../src/formats/gguf-writer.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const goldenDir = path.resolve(repoRoot, '../shared/golden/synth-v050');
export const synthF32 = path.join(goldenDir, 'synth-f32.gguf');

export function goldenOutputs(): string[] {
  const out: string[] = [];
  for (const sub of ['pure', 'pure-imatrix', 'mix']) {
    const dir = path.join(goldenDir, sub);
    for (const f of fs.readdirSync(dir).sort()) if (f.endsWith('.gguf')) out.push(path.join(dir, f));
  }
  return out;
}

export function tempDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `wq-${tag}-`));
}

/** Little-endian writer with every field explicit. */
export class LE {
  private chunks: number[] = [];
  get pos(): number {
    return this.chunks.length;
  }
  private put(n: number, f: (dv: DataView) => void): this {
    const dv = new DataView(new ArrayBuffer(n));
    f(dv);
    for (let i = 0; i < n; i++) this.chunks.push(dv.getUint8(i));
    return this;
  }
  u8(v: number) { return this.put(1, (d) => d.setUint8(0, v)); }
  i8(v: number) { return this.put(1, (d) => d.setInt8(0, v)); }
  u16(v: number) { return this.put(2, (d) => d.setUint16(0, v, true)); }
  i16(v: number) { return this.put(2, (d) => d.setInt16(0, v, true)); }
  u32(v: number) { return this.put(4, (d) => d.setUint32(0, v, true)); }
  i32(v: number) { return this.put(4, (d) => d.setInt32(0, v, true)); }
  f32bits(bits: number) { return this.u32(bits); }
  f32(v: number) { return this.put(4, (d) => d.setFloat32(0, v, true)); }
  f64(v: number) { return this.put(8, (d) => d.setFloat64(0, v, true)); }
  u64(v: bigint | number) { return this.put(8, (d) => d.setBigUint64(0, BigInt(v), true)); }
  i64(v: bigint | number) { return this.put(8, (d) => d.setBigInt64(0, BigInt(v), true)); }
  bytes(b: ArrayLike<number>) { for (let i = 0; i < b.length; i++) this.chunks.push(b[i] & 0xff); return this; }
  str(s: string | Uint8Array) {
    const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
    return this.u64(b.length).bytes(b);
  }
  padTo(a: number) { while (this.chunks.length % a) this.chunks.push(0); return this; }
  zeros(n: number) { for (let i = 0; i < n; i++) this.chunks.push(0); return this; }
  build(): Uint8Array { return Uint8Array.from(this.chunks); }
}

export interface FixtureTensor {
  name: string;
  ne: number[];
  type: number;
  nDims?: number;
  /** default: packed and padded to `alignment` */
  offset?: bigint;
  /** data size; default ne-product·4 for F32 */
  nbytes?: number;
}

/**
 * A GGUF file: header, the given KV records (callbacks writing key+type+value), tensor infos, padding,
 * then zero-filled data (each tensor padded to the alignment).
 */
export function buildGguf(opts: {
  magic?: string;
  version?: number;
  nTensors?: bigint;
  nKv?: bigint;
  kvs?: ((w: LE) => void)[];
  tensors?: FixtureTensor[];
  alignment?: number;
  dataBytes?: number;
}): Uint8Array {
  const w = new LE();
  const align = opts.alignment ?? 32;
  const tensors = opts.tensors ?? [];
  const kvs = opts.kvs ?? [];
  w.bytes(Buffer.from(opts.magic ?? 'GGUF', 'latin1'));
  w.u32(opts.version ?? 3);
  w.i64(opts.nTensors ?? BigInt(tensors.length));
  w.i64(opts.nKv ?? BigInt(kvs.length));
  for (const k of kvs) k(w);
  let off = 0;
  const sizes: number[] = [];
  for (const t of tensors) {
    const nd = t.nDims ?? t.ne.length;
    w.str(t.name).u32(nd);
    for (let j = 0; j < nd; j++) w.i64(t.ne[j]);
    w.i32(t.type).u64(t.offset ?? BigInt(off));
    const n = t.nbytes ?? t.ne.reduce((a, b) => a * b, 1) * 4;
    sizes.push(n);
    off += Math.ceil(n / align) * align;
  }
  if (tensors.length) w.padTo(align);
  w.zeros(opts.dataBytes ?? off);
  return w.build();
}

export const kvU32 = (key: string, v: number) => (w: LE) => void w.str(key).i32(4).u32(v);
export const kvStr = (key: string, v: string) => (w: LE) => void w.str(key).i32(8).str(v);

export function writeTemp(dir: string, name: string, bytes: Uint8Array): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, bytes);
  return p;
}

/**
 * synth-f32.gguf cut into shards as gguf-split writes them: shard 0 holds all KVs, then every shard gets
 * split.no, split.tensors.count and split.count; `groups` lists each shard's tensor names.
 */
export async function writeSynthShards(prefix: string, groups: string[][], edit?: (i: number, kvs: GgufKv[]) => GgufKv[]): Promise<string[]> {
  const synthBytes = new Uint8Array(fs.readFileSync(synthF32));
  const synth = parseGgufBytes(synthBytes, synthF32);
  const paths: string[] = [];
  const total = groups.reduce((n, g) => n + g.length, 0);
  for (let i = 0; i < groups.length; i++) {
    let kvs: GgufKv[] = i === 0 ? [...synth.kvs] : [];
    kvs = setKv(kvs, kvU16('split.no', i));
    kvs = setKv(kvs, kvI32Entry('split.tensors.count', total));
    kvs = setKv(kvs, kvU16('split.count', groups.length));
    if (edit) kvs = edit(i, kvs);
    const tensors = groups[i].map((n) => synth.tensors.find((t) => t.name === n)!);
    const plan = planOutput({ kvs, tensors });
    const sink = new MemorySink();
    await sink.write(plan.meta);
    for (const t of tensors) {
      await sink.write(synthBytes.subarray(t.dataOffset, t.dataOffset + t.nbytes));
      await sink.write(ZERO_PAD.subarray(0, paddingAfter(t.nbytes)));
    }
    const p = splitPath(prefix, i, groups.length);
    fs.writeFileSync(p, sink.toBytes());
    paths.push(p);
  }
  return paths;
}
