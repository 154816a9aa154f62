/**
 * Reading and re-writing GGUF metadata is byte-exact: the synthetic model copies to itself, every golden
 * llama-quantize output re-plans to its own meta bytes, the §5.3 edits applied to the input reproduce
 * llama-quantize's meta, and a file with every KV value type survives a copy.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemorySink, MemorySource } from '../../src/formats/byte-source.js';
import { GgufValueType, encodeKv, kvU32, removeSplitKvs, setKv, type GgufKv } from '../../src/formats/gguf-kv.js';
import { readTensorRows, tensorRows, toFloat32 } from '../../src/formats/gguf-model.js';
import { readGgufHeader, parseGgufBytes } from '../../src/formats/gguf-reader.js';
import { ggmlNDims, paddingAfter, planOutput, ZERO_PAD } from '../../src/formats/gguf-writer.js';
import { loadImatrix, imatrixKvs } from '../../src/formats/imatrix.js';
import { fp16ToFp32 } from '../../src/core/half.js';
import { FileSource, openGgufModelFile } from '../../src/node/file-io.js';
import { GgmlType } from '../../src/core/ggml-type.js';
import { compareTensorNames } from '../../src/policy/tensor-rules.js';
import { LE, goldenDir, goldenOutputs, synthF32 } from './gguf-fixtures.js';
import { requireOracle } from '../oracle/require-oracle.js';

const eqBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0;

describe('synth-f32.gguf', () => {
  it('every KV re-encodes to its original bytes, and the whole file copies byte for byte', async () => {
    const bytes = new Uint8Array(fs.readFileSync(synthF32));
    const f = await readGgufHeader(new MemorySource(bytes, synthF32));
    expect(f.kvs.length).toBe(18);
    expect(f.tensors.length).toBe(21);
    for (const kv of f.kvs) {
      expect(kv.raw, kv.key).toBeDefined();
      expect(eqBytes(encodeKv(kv), kv.raw!), `encoder differs for ${kv.key}`).toBe(true);
    }
    const plan = planOutput({ kvs: f.kvs, tensors: f.tensors });
    expect(plan.dataOffset).toBe(f.dataOffset);
    expect(plan.offsets).toEqual(f.tensors.map((t) => t.offset));
    const sink = new MemorySink();
    await sink.write(plan.meta);
    for (const t of f.tensors) {
      await sink.write(bytes.subarray(t.dataOffset, t.dataOffset + t.nbytes));
      await sink.write(ZERO_PAD.subarray(0, paddingAfter(t.nbytes)));
    }
    expect(sink.bytesWritten).toBe(plan.fileSize);
    expect(eqBytes(sink.toBytes(), bytes)).toBe(true);
  });

  it('reads rows as exact binary32 values', async () => {
    const bytes = fs.readFileSync(synthF32);
    const m = await openGgufModelFile(synthF32);
    try {
      const t = m.tensors.find((x) => x.name === 'blk.0.ffn_down.weight')!;
      const { rows, rowBytes } = tensorRows(t);
      expect([rows, rowBytes]).toEqual([256, 512 * 4]);
      const raw = await readTensorRows(m.sources[0], t, 7, 3);
      expect(eqBytes(raw, bytes.subarray(t.dataOffset + 7 * rowBytes, t.dataOffset + 10 * rowBytes))).toBe(true);
      const f = toFloat32(GgmlType.F32, raw);
      const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      for (let i = 0; i < f.length; i++) expect(new Float32Array([dv.getFloat32(i * 4, true)])[0]).toBe(f[i]);
      await expect(readTensorRows(m.sources[0], t, 250, 7)).rejects.toThrow(/out of range \(256 rows\)/);
    } finally {
      await m.close();
    }
  });
});

describe('golden llama-quantize outputs', () => {
  const files = goldenOutputs();
  it(`re-planning each file's KVs and tensor infos reproduces its meta bytes (${files.length} files)`, async () => {
    expect(files.length).toBeGreaterThanOrEqual(60);
    let identical = 0;
    for (const file of files) {
      const src = await FileSource.open(file);
      try {
        const f = await readGgufHeader(src);
        const plan = planOutput({ kvs: f.kvs, tensors: f.tensors });
        const head = await src.read(0, f.dataOffset);
        expect(eqBytes(plan.meta, head), file).toBe(true);
        expect(plan.fileSize, file).toBe(src.size);
        for (const t of f.tensors) expect(t.nDims, `${file} ${t.name}`).toBe(ggmlNDims(t.ne));
        identical++;
      } finally {
        await src.close();
      }
    }
    expect(identical).toBe(files.length);
  });

  // §5.3 applied to the input: copied KVs, quantization_version and file_type moved to the end, split
  // keys dropped, imatrix keys appended; tensors in loader order with the output types.
  const cases: [string, number, string | null][] = [
    ['mix/Q4_K_M.gguf', 15, null],
    ['mix/Q4_K_M-imatrix.gguf', 15, 'imatrix.gguf'],
    ['pure/Q8_0.gguf', 7, null],
    ['pure-imatrix/IQ2_XS.gguf', 20, 'imatrix.gguf'],
  ];
  for (const [rel, ftype, imatrix] of cases) {
    it(`the §5.3 edits of synth-f32's KVs reproduce ${rel}`, async () => {
      const input = parseGgufBytes(new Uint8Array(fs.readFileSync(synthF32)), synthF32);
      const golden = parseGgufBytes(new Uint8Array(fs.readFileSync(path.join(goldenDir, rel))), rel);
      let kvs: GgufKv[] = [...input.kvs];
      kvs = setKv(kvs, kvU32('general.quantization_version', 2));
      kvs = setKv(kvs, kvU32('general.file_type', ftype));
      kvs = removeSplitKvs(kvs);
      if (imatrix) kvs.push(...imatrixKvs(loadImatrix(new Uint8Array(fs.readFileSync(path.join(goldenDir, imatrix))), imatrix), imatrix));
      const typeOf = new Map(golden.tensors.map((t) => [t.name, t.type]));
      const tensors = [...input.tensors].sort((a, b) => compareTensorNames(a.name, b.name)).map((t) => ({ name: t.name, ne: t.ne, type: typeOf.get(t.name)! }));
      const plan = planOutput({ kvs, tensors });
      const head = new Uint8Array(fs.readFileSync(path.join(goldenDir, rel))).subarray(0, golden.dataOffset);
      expect(eqBytes(plan.meta, head)).toBe(true);
    });
  }
});

describe('every KV value type', () => {
  // A file built with an independent writer: all 13 types as scalars and arrays, big u64/i64, float
  // NaN payloads, negative zero, a string that is not UTF-8, multi-byte UTF-8 and empty strings.
  const build = (boolByte = 1) => {
    const w = new LE();
    const kvs: ((w: LE) => void)[] = [
      (w) => w.str('t.u8').i32(0).u8(255),
      (w) => w.str('t.i8').i32(1).i8(-128),
      (w) => w.str('t.u16').i32(2).u16(65535),
      (w) => w.str('t.i16').i32(3).i16(-32768),
      (w) => w.str('t.u32').i32(4).u32(0xffffffff),
      (w) => w.str('t.i32').i32(5).i32(-2147483648),
      (w) => w.str('t.f32.nan').i32(6).f32bits(0x7fa12345),
      (w) => w.str('t.f32.negzero').i32(6).f32bits(0x80000000),
      (w) => w.str('t.bool').i32(7).u8(boolByte),
      (w) => w.str('t.str').i32(8).str('héllo ✓ 𝄞'),
      (w) => w.str('t.str.bad').i32(8).str(Uint8Array.from([0xff, 0xfe, 0x41, 0xc3])),
      (w) => w.str('t.str.empty').i32(8).str(''),
      (w) => w.str('t.u64').i32(10).u64(0xfedcba9876543210n),
      (w) => w.str('t.i64').i32(11).i64(-0x7edcba9876543210n),
      (w) => w.str('t.f64').i32(12).f64(Math.PI).str('t.f64.nan').i32(12).u32(1).u32(0x7ff00000),
      (w) => w.str('123').i32(4).u32(7), // an integer-like key stays in place
      (w) => w.str('a.u8').i32(9).i32(0).u64(3).u8(1).u8(2).u8(255),
      (w) => w.str('a.i8').i32(9).i32(1).u64(2).i8(-1).i8(127),
      (w) => w.str('a.u16').i32(9).i32(2).u64(1).u16(65535),
      (w) => w.str('a.i16').i32(9).i32(3).u64(2).i16(-2).i16(3),
      (w) => w.str('a.u32').i32(9).i32(4).u64(2).u32(0).u32(0xffffffff),
      (w) => w.str('a.i32').i32(9).i32(5).u64(0),
      (w) => w.str('a.f32').i32(9).i32(6).u64(3).f32bits(0xffc00001).f32(1.5).f32bits(0x00000001),
      (w) => w.str('a.bool').i32(9).i32(7).u64(3).u8(1).u8(0).u8(boolByte),
      (w) => w.str('a.str').i32(9).i32(8).u64(4).str('').str('tok').str(Uint8Array.from([0x80])).str('𝄞'),
      (w) => w.str('a.u64').i32(9).i32(10).u64(2).u64(0xffffffffffffffffn).u64(1n),
      (w) => w.str('a.i64').i32(9).i32(11).u64(2).i64(-(2n ** 63n)).i64(2n ** 63n - 1n),
      (w) => w.str('a.f64').i32(9).i32(12).u64(2).f64(-0).u32(5).u32(0xfff80000),
    ];
    w.bytes(Buffer.from('GGUF')).u32(3).i64(1).i64(kvs.length + 1); // the t.f64 callback writes two KVs
    for (const k of kvs) k(w);
    w.str('x').u32(2).i64(32).i64(2).i32(0).u64(0).padTo(32).zeros(256);
    return w.build();
  };

  it('reads every value exactly and copies all records byte for byte', () => {
    const bytes = build();
    const f = parseGgufBytes(bytes, 'all-types.gguf');
    const byKey = new Map(f.kvs.map((k) => [k.key, k]));
    expect(f.kvs.map((k) => k.key)).toContain('123');
    expect(f.kvs[16].key).toBe('123');
    expect(byKey.get('t.u64')!.value).toBe(0xfedcba9876543210n);
    expect(byKey.get('t.i64')!.value).toBe(-0x7edcba9876543210n);
    expect(byKey.get('t.u32')!.value).toBe(0xffffffff);
    expect(byKey.get('t.i8')!.value).toBe(-128);
    expect(byKey.get('t.bool')!.value).toBe(true);
    expect(byKey.get('t.str')!.value).toBe('héllo ✓ 𝄞');
    expect(byKey.get('t.f64')!.value).toBe(Math.PI);
    expect(Object.is(byKey.get('t.f32.negzero')!.value, -0)).toBe(true);
    expect(Array.from(byKey.get('a.u64')!.value as BigUint64Array)).toEqual([0xffffffffffffffffn, 1n]);
    // the invalid byte 0x80 decodes losslessly (gguf-string.ts)
    expect(byKey.get('a.str')!.value).toEqual(['', 'tok', '\udc80', '𝄞']);
    expect(byKey.get('a.i32')!.isArray && (byKey.get('a.i32')!.value as Int32Array).length === 0).toBe(true);
    expect(byKey.get('a.bool')!.value).toEqual([true, false, true]);
    expect(byKey.get('a.f32')!.type).toBe(GgufValueType.FLOAT32);
    const plan = planOutput({ kvs: f.kvs, tensors: f.tensors });
    expect(eqBytes(plan.meta, bytes.subarray(0, f.dataOffset))).toBe(true);
    // the encoder alone (no raw bytes) also matches wherever the value is representable
    for (const kv of f.kvs) {
      if (['t.f32.nan', 't.str.bad', 't.f64.nan', 'a.str'].includes(kv.key)) continue;
      expect(eqBytes(encodeKv(kv), kv.raw!), kv.key).toBe(true);
    }
    // typed arrays keep NaN payloads even without raw bytes
    expect(eqBytes(encodeKv(byKey.get('a.f32')!), byKey.get('a.f32')!.raw!)).toBe(true);
    expect(eqBytes(encodeKv(byKey.get('a.f64')!), byKey.get('a.f64')!.raw!)).toBe(true);
  });

  it('writes bools as 0/1 like llama.cpp, whatever byte the input had', () => {
    const f = parseGgufBytes(build(2), 'bool2.gguf');
    const plan = planOutput({ kvs: f.kvs, tensors: f.tensors });
    expect(eqBytes(plan.meta, build(1).subarray(0, f.dataOffset))).toBe(true);
  });
});

describe('writer layout', () => {
  it('drops trailing 1s from n_dims, pads every tensor to 32 (the last one too) and ignores general.alignment', () => {
    const alignKv = { key: 'general.alignment', type: GgufValueType.UINT32, isArray: false, value: 64 };
    const plan = planOutput({
      kvs: [alignKv],
      tensors: [
        { name: 'a', ne: [4096, 1], type: GgmlType.F32 },
        { name: 'b', ne: [32, 3, 1, 1], type: GgmlType.Q8_0 },
        { name: 'c', ne: [7], type: GgmlType.F16 },
      ],
    });
    expect(plan.offsets).toEqual([0, 16384, 16384 + 32 * 4]);
    expect(plan.nbytes).toEqual([16384, 102, 14]);
    expect(plan.dataSize).toBe(16384 + 128 + 32);
    expect(plan.meta.length % 32).toBe(0);
    const back = parseGgufBytes(Uint8Array.from([...plan.meta, ...new Uint8Array(plan.dataSize)]), 'plan');
    expect(back.tensors.map((t) => t.nDims)).toEqual([1, 2, 1]);
    expect(ggmlNDims([1, 1, 1, 1])).toBe(1);
    expect(ggmlNDims([5, 1, 3, 1])).toBe(3);
  });
});

const oracleForHalves = requireOracle();
describe.skipIf(!oracleForHalves)('half widening against llama.cpp', () => {
  it('F16 and BF16 rows widen bit-identically to ggml_fp16_to_fp32_row / ggml_bf16_to_fp32_row (all 65536 codes)', () => {
    const oracle = oracleForHalves!;
    const codes = new Uint16Array(65536).map((_, i) => i);
    const bytes = new Uint8Array(codes.buffer);
    for (const type of [GgmlType.F16, GgmlType.BF16]) {
      const ours = new Uint32Array(toFloat32(type, bytes).buffer);
      const ref = new Uint32Array(oracle.dequantizeRow(type, bytes, 65536).buffer);
      let diff = 0;
      for (let i = 0; i < 65536; i++) if (ours[i] !== ref[i]) diff++;
      expect(diff, GgmlType[type]).toBe(0);
    }
    // unaligned input takes the copying path
    const odd = new Uint8Array(9).subarray(1);
    odd.set([0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00, 0x00, 0x7c]);
    expect(Array.from(toFloat32(GgmlType.F16, odd))).toEqual([1, -2, fp16ToFp32(1), Infinity]);
  });
});
