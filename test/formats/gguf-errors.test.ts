/**
 * Every malformed-input case the reader must refuse, on corrupted copies of the synthetic model and on
 * hand-built files in a temp dir: the error is a GgufFormatError whose one-line message starts with the
 * file's path and carries the numbers involved.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GgufFormatError } from '../../src/errors.js';
import { MAX_ARRAY_ELEMENTS, MAX_STRING_BYTES, readGgufHeader } from '../../src/formats/gguf-reader.js';
import { FileSource, openGgufModelFile } from '../../src/node/file-io.js';
import { buildGguf, kvStr, kvU32, synthF32, tempDir, writeTemp } from './gguf-fixtures.js';

const dir = tempDir('gguf-errors');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const synth = new Uint8Array(fs.readFileSync(synthF32));

async function formatError(file: string): Promise<GgufFormatError> {
  const err = await openGgufModelFile(file).then(
    async (m) => {
      await m.close();
      return null;
    },
    (e) => e,
  );
  expect(err, `${path.basename(file)} was accepted`).toBeInstanceOf(GgufFormatError);
  expect(err.message.startsWith(`${file}: `)).toBe(true);
  expect(err.message).not.toMatch(/[\r\n]/);
  return err;
}

async function expectRejected(name: string, bytes: Uint8Array, ...parts: (string | RegExp)[]): Promise<void> {
  const file = writeTemp(dir, name, bytes);
  const err = await formatError(file);
  for (const p of parts) {
    if (typeof p === 'string') expect(err.message).toContain(p);
    else expect(err.message).toMatch(p);
  }
}

function patched(edit: (b: Uint8Array, dv: DataView) => void, src = synth): Uint8Array {
  const b = src.slice();
  edit(b, new DataView(b.buffer));
  return b;
}

/** Offset of a tensor's info record in the synthetic model (its u64 name length, then the name). */
function infoPos(name: string): { nDims: number; ne: number; type: number; offset: number } {
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(name.length));
  const at = Buffer.from(synth).indexOf(Buffer.concat([len, Buffer.from(name)]));
  expect(at).toBeGreaterThan(0);
  const nDims = at + 8 + name.length;
  const n = new DataView(synth.buffer, synth.byteOffset).getUint32(nDims, true);
  return { nDims, ne: nDims + 4, type: nDims + 4 + 8 * n, offset: nDims + 8 + 8 * n };
}

describe('corrupted copies of synth-f32.gguf', () => {
  it('bad magic', () => expectRejected('magic.gguf', patched((b) => b.set([0x47, 0x47, 0x55, 0x58], 0)), "magic is 'GGUX'", "expected 'GGUF'"));
  it('version 0', () => expectRejected('v0.gguf', patched((_, d) => d.setUint32(4, 0, true)), 'bad GGUF version 0'));
  it('version 1', () => expectRejected('v1.gguf', patched((_, d) => d.setUint32(4, 1, true)), 'version 1 is no longer supported'));
  it('version 4', () => expectRejected('v4.gguf', patched((_, d) => d.setUint32(4, 4, true)), 'version 4 is newer than the supported version 3'));
  it('big-endian', () => expectRejected('be.gguf', patched((_, d) => d.setUint32(4, 3, false)), '50331648 (0x3000000)', 'big-endian'));
  it('truncated header', () => expectRejected('trunc.gguf', synth.slice(0, 2000), 'truncated', '(the file has 2000 bytes)'));
  it('n_kv larger than the file can hold', () =>
    expectRejected('nkv.gguf', patched((_, d) => d.setBigInt64(16, 10n ** 12n, true)), 'n_kv = 1000000000000', 'n_tensors = 21', `${synth.length - 24} remain`));
  it('n_tensors larger than the file can hold', () =>
    expectRejected('nt.gguf', patched((_, d) => d.setBigInt64(8, 5n * 10n ** 8n, true)), 'n_tensors = 500000000', 'at least 12000000252'));
  it('negative n_tensors', () => expectRejected('ntneg.gguf', patched((_, d) => d.setBigInt64(8, -1n, true)), 'n_tensors is -1'));
  it('unknown tensor type id', () => {
    const p = infoPos('blk.0.attn_q.weight');
    return expectRejected('type.gguf', patched((_, d) => d.setInt32(p.type, 4, true)), "tensor 'blk.0.attn_q.weight' has unknown ggml type id 4");
  });
  it('n_dims > 4', () => {
    const p = infoPos('blk.1.ffn_up.weight');
    return expectRejected('ndims.gguf', patched((_, d) => d.setUint32(p.nDims, 5, true)), "tensor 'blk.1.ffn_up.weight' has 5 dimensions, more than 4");
  });
  it('offset not at the packed position', () => {
    const p = infoPos('blk.0.attn_v.weight');
    const good = Number(new DataView(synth.buffer, synth.byteOffset).getBigUint64(p.offset, true));
    return expectRejected('offset.gguf', patched((_, d) => d.setBigUint64(p.offset, BigInt(good + 32), true)),
      `tensor 'blk.0.attn_v.weight' has offset ${good + 32}, expected ${good}`, 'padded to 32');
  });
  it('tensor data past the end of the file', () =>
    expectRejected('short.gguf', synth.slice(0, synth.length - 100), 'past the end of the file', `(${synth.length - 100} bytes)`));
});

const tensorF32 = { name: 't', ne: [32, 2], type: 0 };

describe('hand-built malformed files', () => {
  it('accepts a minimal valid file with no tensors', async () => {
    const f = await readGgufHeader(await FileSource.open(writeTemp(dir, 'empty.gguf', buildGguf({}))));
    expect([f.kvs.length, f.tensors.length, f.dataOffset]).toEqual([0, 0, 24]);
  });
  it('duplicate key', () => expectRejected('dupkey.gguf', buildGguf({ kvs: [kvU32('a.b', 1), kvStr('c', 'x'), kvU32('a.b', 2)] }), "duplicate key 'a.b' (KV 0 and KV 2)"));
  it('empty key', () => expectRejected('emptykey.gguf', buildGguf({ kvs: [(w) => void w.str('').i32(4).u32(1)] }), 'key 0 at offset 24 is empty'));
  it('invalid value type', () => expectRejected('vtype.gguf', buildGguf({ kvs: [(w) => void w.str('k').i32(13).u32(1)] }), "key 'k' has invalid GGUF value type 13"));
  it('nested array', () =>
    expectRejected('nested.gguf', buildGguf({ kvs: [(w) => void w.str('k').i32(9).i32(9).u64(1)] }), "key 'k' has invalid GGUF value type 9 (array element)"));
  it('string longer than the file', () =>
    expectRejected('strlen.gguf', buildGguf({ kvs: [(w) => void w.str('k').i32(8).u64(5000).bytes([65, 66])] }), "value of key 'k'", 'has length 5000 but only'));
  it('string over the limit', () =>
    expectRejected('strmax.gguf', buildGguf({ kvs: [(w) => void w.str('k').i32(8).u64(2 ** 31)] }), `length 2147483648, more than the limit ${MAX_STRING_BYTES}`));
  it('array longer than the file', () =>
    expectRejected('arrlen.gguf', buildGguf({ kvs: [(w) => void w.str('k').i32(9).i32(5).u64(1000).u32(1)] }), "key 'k' holds 1000 i32 values (at least 4000 bytes) but only 4 bytes remain"));
  it('string array longer than the file', () =>
    expectRejected('sarrlen.gguf', buildGguf({ kvs: [(w) => void w.str('k').i32(9).i32(8).u64(100).str('a')] }), "key 'k' holds 100 str values (at least 800 bytes)"));
  it('array over the element limit', () =>
    expectRejected('arrmax.gguf', buildGguf({ kvs: [(w) => void w.str('k').i32(9).i32(0).u64(2 ** 31)] }), `array of 2147483648 elements, more than the limit ${MAX_ARRAY_ELEMENTS}`));
  it('alignment not a power of two', () =>
    expectRejected('align48.gguf', buildGguf({ kvs: [kvU32('general.alignment', 48)], tensors: [tensorF32], alignment: 48 }), 'general.alignment 48 is not a power of 2'));
  it('alignment zero', () => expectRejected('align0.gguf', buildGguf({ kvs: [kvU32('general.alignment', 0)] }), 'general.alignment 0 is not a power of 2'));
  it('alignment of the wrong type', () =>
    expectRejected('alignu64.gguf', buildGguf({ kvs: [(w) => void w.str('general.alignment').i32(10).u64(32)] }), "'general.alignment' must be of type u32 but is u64"));
  it('tensor name of 64 bytes', () =>
    expectRejected('name64.gguf', buildGguf({ tensors: [{ ...tensorF32, name: 'n'.repeat(64) }] }), 'is 64 bytes, the limit is 63'));
  it('duplicate tensor name', () =>
    expectRejected('duptensor.gguf', buildGguf({ tensors: [tensorF32, tensorF32] }), "duplicate tensor name 't' (tensor 1)"));
  it('negative dimension', () => expectRejected('negne.gguf', buildGguf({ tensors: [{ ...tensorF32, ne: [32, -2] }], dataBytes: 0 }), "tensor 't' dimension 1 is -2, negative"));
  it('row not a multiple of the block size', () =>
    expectRejected('block.gguf', buildGguf({ tensors: [{ name: 'q', ne: [48, 2], type: 2, nbytes: 54 }] }), "tensor 'q' of type q4_0 has 48 values per row, not a multiple of the block size 32"));
  it('removed ggml type id', () =>
    expectRejected('type31.gguf', buildGguf({ tensors: [{ ...tensorF32, type: 31 }] }), "tensor 't' has unknown ggml type id 31"));
  it('offset honours a declared alignment of 64', async () => {
    const kvs = [kvU32('general.alignment', 64)];
    const tensors = [{ name: 'a', ne: [8], type: 0 }, { name: 'b', ne: [8], type: 0 }];
    const ok = await readGgufHeader(await FileSource.open(writeTemp(dir, 'a64.gguf', buildGguf({ kvs, tensors, alignment: 64 }))));
    expect(ok.tensors.map((t) => t.offset)).toEqual([0, 64]);
    expect(ok.dataOffset % 64).toBe(0);
    // the same file laid out with 32 (what llama-quantize writes for such an input) is refused
    await expectRejected('a64as32.gguf', buildGguf({ kvs, tensors, alignment: 32 }), "tensor 'b' has offset 32, expected 64", 'padded to 64');
  });
  it('data section starting past the end', () =>
    expectRejected('nodata.gguf', buildGguf({ tensors: [tensorF32], dataBytes: 0 }).slice(0, 70), 'data section would start at offset 96, past the end of the file (70 bytes)'));
});

describe('large headers', () => {
  it('reads a header longer than the first read (3 MiB string) and reports truncation inside it', async () => {
    const big = 'x'.repeat(3 << 20);
    const bytes = buildGguf({ kvs: [kvStr('big', big), kvU32('after', 7)], tensors: [tensorF32] });
    const f = await readGgufHeader(await FileSource.open(writeTemp(dir, 'big.gguf', bytes)));
    expect((f.kvs[0].value as string).length).toBe(3 << 20);
    expect(f.kvs[1].value).toBe(7);
    expect(f.tensors[0].dataOffset).toBe(bytes.length - 256);
    await expectRejected('bigtrunc.gguf', bytes.slice(0, 2 << 20), 'has length 3145728 but only');
  });
});
