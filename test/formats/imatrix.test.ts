/**
 * Importance matrices: both golden formats give bit-identical weights, the §6.3 conversion rules (GGUF
 * counts per expert, legacy ncall), the filters, the per-tensor size check, the CLI's KVs, and every
 * malformed-file case with its one-line ImatrixError.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ImatrixError, UsageError } from '../../src/errors.js';
import { GgufValueType, kvArray, kvString, kvU32, type GgufKv } from '../../src/formats/gguf-kv.js';
import { paddingAfter, planOutput } from '../../src/formats/gguf-writer.js';
import { filterImatrix, imatrixFor, imatrixKvs, loadImatrix, parseImatrix, type Imatrix } from '../../src/formats/imatrix.js';
import { GgmlType } from '../../src/core/ggml-type.js';
import { LE, goldenDir } from './gguf-fixtures.js';

const read = (f: string) => new Uint8Array(fs.readFileSync(path.join(goldenDir, f)));
const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

describe('golden imatrix files', () => {
  const g = parseImatrix(read('imatrix.gguf'), 'imatrix.gguf');
  const l = parseImatrix(read('imatrix.dat'), 'imatrix.dat');

  it('GGUF and legacy formats give bit-identical weights for all 16 entries', () => {
    expect(g.format).toBe('gguf');
    expect(l.format).toBe('legacy');
    expect(g.entries.size).toBe(16);
    expect([...l.entries.keys()]).toEqual([...g.entries.keys()]);
    let values = 0;
    for (const [name, w] of g.entries) {
      const v = l.entries.get(name)!;
      expect(v.length, name).toBe(w.length);
      expect(Buffer.compare(Buffer.from(bits(w).buffer, w.byteOffset, w.byteLength), Buffer.from(bits(v).buffer, v.byteOffset, v.byteLength)), name).toBe(0);
      values += w.length;
    }
    expect(values).toBe(14 * 256 + 2 * 512);
    expect(g.datasets).toEqual(['synthetic']);
    expect(l.datasets).toEqual(['synthetic']);
    expect(g.chunkCount).toBe(512);
    expect(l.chunkCount).toBe(1);
  });

  it('names are sorted byte-wise, like llama.cpp std::map', () => {
    const names = [...g.entries.keys()];
    expect(names).toEqual([...names].sort());
    expect(names[0]).toBe('blk.0.attn_k.weight');
  });

  it('filters by substring: exclude, include (union of patterns), not both', () => {
    const ex = filterImatrix(g, [], ['blk.0.', 'ffn_up']);
    expect([...ex.entries.keys()].every((n) => !n.startsWith('blk.0.') && !n.includes('ffn_up'))).toBe(true);
    expect(ex.entries.size).toBe(16 - 7 - 1);
    const inc = filterImatrix(g, ['attn_q', 'ffn_down'], []);
    expect([...inc.entries.keys()]).toEqual(['blk.0.attn_q.weight', 'blk.0.ffn_down.weight', 'blk.1.attn_q.weight', 'blk.1.ffn_down.weight']);
    expect(filterImatrix(g, [''], []).entries.size).toBe(16);
    expect(filterImatrix(g, [], []).entries.size).toBe(16);
    expect(() => filterImatrix(g, ['a'], ['b'])).toThrow(UsageError);
    expect(g.entries.size).toBe(16); // the input is not modified
  });

  it('checks the entry size against the tensor, token embeddings excepted', () => {
    expect(imatrixFor(g, 'blk.0.ffn_down.weight', 512, 1)).toBe(g.entries.get('blk.0.ffn_down.weight'));
    expect(imatrixFor(g, 'blk.9.ffn_down.weight', 512, 1)).toBeNull();
    expect(() => imatrixFor(g, 'blk.0.ffn_down.weight', 256, 1)).toThrow(
      new ImatrixError('imatrix.gguf', "imatrix entry 'blk.0.ffn_down.weight' has 512 values but tensor 'blk.0.ffn_down.weight' needs 256 (ne0 256 x 1 expert)"),
    );
    expect(() => imatrixFor(g, 'blk.0.ffn_down.weight', 256, 4, 'blk.0.ffn_down_exps.weight')).toThrow(/has 512 values but tensor 'blk.0.ffn_down_exps.weight' needs 1024 \(ne0 256 x 4 experts\)/);
    const withEmbd: Imatrix = { ...g, entries: new Map([['token_embd.weight', new Float32Array(3)], ['per_layer_token_embd.weight', new Float32Array(3)]]) };
    expect(imatrixFor(withEmbd, 'token_embd.weight', 256, 1)).toBeNull();
    expect(imatrixFor(withEmbd, 'per_layer_token_embd.weight', 256, 1)).toBeNull();
  });

  it("gives the CLI's KVs: path as typed (127 bytes), first dataset, entries and chunks", () => {
    const kv = (im: Imatrix, p: string) => imatrixKvs(im, p).map((k) => [k.key, k.value]);
    expect(kv(g, 'imatrix.gguf')).toEqual([
      ['quantize.imatrix.file', 'imatrix.gguf'], ['quantize.imatrix.dataset', 'synthetic'],
      ['quantize.imatrix.entries_count', 16], ['quantize.imatrix.chunks_count', 512],
    ]);
    expect(kv(filterImatrix(l, ['attn_q'], []), 'x/imatrix.dat')).toEqual([
      ['quantize.imatrix.file', 'x/imatrix.dat'], ['quantize.imatrix.dataset', 'synthetic'],
      ['quantize.imatrix.entries_count', 2], ['quantize.imatrix.chunks_count', 1],
    ]);
    const long = 'd/'.repeat(63) + 'é.gguf'; // byte 127 is the first half of 'é'
    const file = imatrixKvs(g, long)[0];
    expect(file.raw!.length).toBe(8 + 21 + 4 + 8 + 127);
    expect(Buffer.from(file.raw!.subarray(-127)).toString('latin1')).toBe(Buffer.from(long).subarray(0, 127).toString('latin1'));
    expect(imatrixKvs({ ...g, chunkCount: 0, datasets: [] }, 'a').map((k) => k.key)).toEqual(['quantize.imatrix.file', 'quantize.imatrix.entries_count']);
    expect(imatrixKvs({ ...g, chunkCount: -5 }, 'a').map((k) => k.key)).not.toContain('quantize.imatrix.chunks_count');
    expect(imatrixKvs({ ...g, entries: new Map() }, 'a')).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------
// GGUF imatrix files built here

interface Entry { name: string; sums: number[]; sumsNe: number[]; counts: number[]; type?: GgmlType; countsType?: GgmlType }

const META: GgufKv[] = [
  kvString('general.type', 'imatrix'),
  kvArray('imatrix.datasets', GgufValueType.STRING, ['calib.txt', 'more.txt']),
  kvU32('imatrix.chunk_count', 10),
  kvU32('imatrix.chunk_size', 512),
];

function ggufImatrix(entries: Entry[], kvs: GgufKv[] = META, skip: string[] = []): Uint8Array {
  const tensors: { name: string; ne: number[]; type: GgmlType; data: Uint8Array }[] = [];
  const f32 = (v: number[]) => new Uint8Array(Float32Array.from(v).buffer);
  for (const e of entries) {
    tensors.push({ name: `${e.name}.in_sum2`, ne: e.sumsNe, type: e.type ?? GgmlType.F32, data: f32(e.sums) });
    tensors.push({ name: `${e.name}.counts`, ne: [1, e.counts.length], type: e.countsType ?? GgmlType.F32, data: f32(e.counts) });
  }
  const kept = tensors.filter((t) => !skip.includes(t.name));
  const plan = planOutput({ kvs, tensors: kept });
  const out = new LE().bytes(plan.meta);
  for (const t of kept) out.bytes(t.data.subarray(0, plan.nbytes[kept.indexOf(t)])).zeros(paddingAfter(plan.nbytes[kept.indexOf(t)]));
  return out.build();
}

function imatrixError(bytes: Uint8Array, file: string, ...parts: string[]): void {
  let err: unknown;
  try {
    loadImatrix(bytes, file);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ImatrixError);
  const msg = (err as Error).message;
  expect(msg.startsWith(`${file}: `)).toBe(true);
  expect(msg).not.toMatch(/[\r\n]/);
  for (const p of parts) expect(msg).toContain(p);
}

describe('GGUF format conversion (§6.3)', () => {
  it('divides each expert slice by its own count, gives 1 where the count is 0, rounds counts with lround', () => {
    const im = loadImatrix(ggufImatrix([
      { name: 'blk.0.ffn_up_exps.weight', sums: [1, 2, 3, 4, 5, 6, 7, 8, 9], sumsNe: [3, 3], counts: [3, 0, 2.5] },
      { name: 'blk.0.attn_q.weight', sums: [1, 10], sumsNe: [2], counts: [7] },
    ]), 'moe.imatrix');
    const third = Math.fround(1 / 3);
    expect(Array.from(im.entries.get('blk.0.ffn_up_exps.weight')!)).toEqual([
      third, Math.fround(2 / 3), 1, 1, 1, 1, Math.fround(7 / 3), Math.fround(8 / 3), 3,
    ]);
    expect(Array.from(im.entries.get('blk.0.attn_q.weight')!)).toEqual([Math.fround(1 / 7), Math.fround(10 / 7)]);
    expect(im.datasets).toEqual(['calib.txt', 'more.txt']);
    expect(im.chunkCount).toBe(10);
    expect(imatrixFor(im, 'blk.0.ffn_up_exps.weight', 3, 3)!.length).toBe(9);
  });

  it('reads a chunk_count past 2^31 the way the C int holds it', () => {
    const kvs = [...META.slice(0, 2), kvU32('imatrix.chunk_count', 2 ** 31 + 5), META[3]];
    expect(parseImatrix(ggufImatrix([{ name: 'a', sums: [1], sumsNe: [1], counts: [1] }], kvs), 'x').chunkCount).toBe(-(2 ** 31) + 5);
  });

  const one: Entry = { name: 'w', sums: [1, 2], sumsNe: [2], counts: [1] };
  it('missing metadata', () => imatrixError(ggufImatrix([one], META.filter((k) => k.key !== 'imatrix.chunk_size')), 'nometa.gguf', 'missing imatrix metadata: imatrix.chunk_size'));
  it('chunk_count of the wrong type', () =>
    imatrixError(ggufImatrix([one], [...META.slice(0, 2), kvString('imatrix.chunk_count', '10'), META[3]]), 'cc.gguf', "key 'imatrix.chunk_count' must be u32, it is STRING"));
  it('sums without counts', () => imatrixError(ggufImatrix([one], META, ['w.counts']), 'pair.gguf', "mismatched sums and counts for 'w': 'w.counts' is missing"));
  it('counts without sums', () => imatrixError(ggufImatrix([one], META, ['w.in_sum2']), 'pair2.gguf', "'w.in_sum2' is missing"));
  it('non-F32 data', () => imatrixError(ggufImatrix([{ ...one, countsType: GgmlType.F16, counts: [1, 1] }]), 'f16.gguf', "sums and counts for 'w' must be F32"));
  it('no tensors', () => imatrixError(ggufImatrix([]), 'empty.gguf', 'no data: the GGUF imatrix has no tensors'));
  it('sums not a multiple of counts', () => imatrixError(ggufImatrix([{ name: 'w', sums: [1, 2, 3], sumsNe: [3], counts: [1, 1] }]), 'mult.gguf', "entry 'w' has 3 sums, not a multiple of its 2 counts"));
  it('NaN count', () => imatrixError(ggufImatrix([{ ...one, counts: [NaN] }]), 'nanc.gguf', "entry 'w' count 0 is NaN"));
  it('NaN sum', () => imatrixError(ggufImatrix([{ ...one, sums: [1, NaN] }]), 'nans.gguf', "entry 'w' has a non-finite weight (NaN) at index 1"));
  it('a malformed GGUF container', () => imatrixError(ggufImatrix([one]).slice(0, 150), 'cut.gguf', 'truncated', '(the file has 150 bytes)'));
});

// ---------------------------------------------------------------------------------------------------
// legacy files built here

function legacy(entries: { name: string | Uint8Array; ncall: number; values: number[] }[], trailer?: (w: LE) => void, count = entries.length): LE {
  const w = new LE().i32(count);
  for (const e of entries) {
    const n = typeof e.name === 'string' ? Buffer.from(e.name) : e.name;
    w.i32(n.length).bytes(n).i32(e.ncall).i32(e.values.length);
    for (const v of e.values) w.f32(v);
  }
  trailer?.(w);
  return w;
}

describe('legacy format (§6.1)', () => {
  it('divides by ncall as a float, keeps values when ncall <= 0, cuts names at NUL, later duplicates win', () => {
    const bytes = legacy([
      { name: 'b', ncall: 3, values: [1, 2] },
      { name: Uint8Array.from([0x61, 0, 0x7a]), ncall: 0, values: [5] },
      { name: 'c', ncall: -2, values: [7] },
      { name: 'b', ncall: 2, values: [3] },
    ], (w) => void w.i32(42).i32(4).bytes(Buffer.from('ab\0c'))).build();
    const im = loadImatrix(bytes, 'l.dat');
    expect([...im.entries.keys()]).toEqual(['a', 'b', 'c']);
    expect(Array.from(im.entries.get('a')!)).toEqual([5]);
    expect(Array.from(im.entries.get('b')!)).toEqual([1.5]);
    expect(Array.from(im.entries.get('c')!)).toEqual([7]);
    expect(im.chunkCount).toBe(42);
    expect(im.datasets).toEqual(['ab']);
    const third = loadImatrix(legacy([{ name: 'x', ncall: 3, values: [1] }]).build(), 'x.dat');
    expect(third.entries.get('x')![0]).toBe(Math.fround(1 / 3));
    expect(third.chunkCount).toBe(0);
    expect(third.datasets).toEqual([]);
  });

  it('accepts a trailer with only the chunk count, or an empty dataset name', () => {
    expect(loadImatrix(legacy([{ name: 'x', ncall: 1, values: [1] }], (w) => void w.i32(9)).build(), 'a.dat').chunkCount).toBe(9);
    expect(loadImatrix(legacy([{ name: 'x', ncall: 1, values: [1] }], (w) => void w.i32(9).i32(0)).build(), 'b.dat').datasets).toEqual([]);
  });

  it('NaN and Inf are refused only in entries that survive the filters', () => {
    const bytes = legacy([{ name: 'good', ncall: 1, values: [1, 2] }, { name: 'bad', ncall: 1, values: [0, 1, Infinity] }]).build();
    imatrixError(bytes, 'inf.dat', "entry 'bad' has a non-finite weight (Infinity) at index 2");
    expect(loadImatrix(bytes, 'inf.dat', [], ['bad']).entries.size).toBe(1);
  });

  const x = { name: 'blk.0.x', ncall: 1, values: [1, 2, 3] };
  it('no entries', () => imatrixError(legacy([], undefined, 0).build(), 'zero.dat', 'no data: legacy imatrix entry count is 0'));
  it('empty file', () => imatrixError(new Uint8Array(0), 'empty.dat', 'truncated: entry count at offset 0 needs 4 bytes, the file has 0'));
  it('more entries than present', () => imatrixError(legacy([x], undefined, 2).build(), 'count.dat', 'truncated: name length of entry 1 at offset 35 needs 4 bytes, the file has 35'));
  it('negative name length', () => imatrixError(new LE().i32(1).i32(-5).build(), 'neg.dat', 'name of entry 0 at offset 4 has negative length -5'));
  it('name cut short', () => imatrixError(new LE().i32(1).i32(50).bytes([65, 66]).build(), 'name.dat', 'truncated: name of entry 0 at offset 8 needs 50 bytes, only 2 remain'));
  it('no values', () => imatrixError(legacy([{ ...x, values: [] }]).build(), 'nval.dat', "entry 'blk.0.x' has 0 values"));
  it('values cut short', () => imatrixError(legacy([x]).build().slice(0, 30), 'vals.dat', "truncated: values of entry 'blk.0.x' at offset 23 needs 12 bytes, only 7 remain"));
  it('partial trailer', () => imatrixError(legacy([x], (w) => void w.u16(1)).build(), 'trail.dat', 'truncated: trailer chunk count at offset 35 needs 4 bytes, the file has 37'));
  it('dataset name cut short', () => imatrixError(legacy([x], (w) => void w.i32(1).i32(10).bytes([65])).build(), 'ds.dat', 'truncated: trailer dataset name at offset 43 needs 10 bytes, only 1 remain'));
});
