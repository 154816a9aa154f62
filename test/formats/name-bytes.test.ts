/**
 * GGUF names and strings are bytes: a tensor name or string value that is not valid UTF-8 must come out
 * byte for byte (llama.cpp copies std::string bytes), and must be shown escaped, never raw, in messages.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GgufFormatError, QuantizeError, quoteName } from '../../src/errors.js';
import { MemorySink } from '../../src/formats/byte-source.js';
import { decodeString, encodeString } from '../../src/formats/gguf-string.js';
import { quantizeFile } from '../../src/node/index.js';
import { InlineCpuBackend } from '../../src/pipeline/backend.js';
import { GgmlType } from '../../src/core/ggml-type.js';
import { mulberry32, syntheticModel } from '../../src/synthetic-model.js';
import { loadOracle, oracleUnavailable } from '../oracle/llama-cpp.js';
import { requireOracle } from '../oracle/require-oracle.js';
import { diffGguf, sha256 } from '../e2e/oracle-fixtures.js';
import { buildGguf, LE, tempDir } from './gguf-fixtures.js';
import { hex, walkGguf } from './gguf-walk.js';

const dir = tempDir('names');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const bytes = (...parts: (string | number[])[]) =>
  Uint8Array.from(parts.flatMap((p) => (typeof p === 'string' ? [...Buffer.from(p, 'latin1')] : p)));

describe('lossless string decoding', () => {
  it('gives back every byte string it decoded (5000 seeded strings, biased to UTF-8 edge bytes)', () => {
    const rand = mulberry32(6);
    const pool = [0x00, 0x0a, 0x41, 0x7f, 0x80, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xa0, 0xef, 0xf0, 0xf4, 0x90, 0x8f, 0xf5, 0xff, 0xfe, 0xbb, 0xbd];
    const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
    let invalid = 0;
    for (let i = 0; i < 5000; i++) {
      const b = Uint8Array.from({ length: Math.floor(rand() * 24) }, () => (rand() < 0.8 ? pool[Math.floor(rand() * pool.length)] : Math.floor(rand() * 256)));
      const s = decodeString(b);
      expect(hex(encodeString(s))).toBe(hex(b));
      try {
        expect(s).toBe(strict.decode(b));
      } catch (e) {
        if (!(e instanceof TypeError)) throw e;
        invalid++;
      }
    }
    // most of them are invalid UTF-8: the escape path is what was exercised
    expect(invalid).toBeGreaterThan(3000);
  });

  it('keeps a leading byte-order mark (a plain TextDecoder drops it)', () => {
    const b = bytes([0xef, 0xbb, 0xbf], 'x');
    expect(hex(encodeString(decodeString(b)))).toBe('efbbbf78');
  });
});

/** A small model whose tensor names and general.name are patched, same lengths, to invalid UTF-8 (and a token to hold a NUL). */
async function modelWithBadNames(): Promise<{ file: string; names: string[]; value: string }> {
  const sink = new MemorySink();
  await syntheticModel({ nLayer: 1, nEmbd: 64, nFf: 128, nHead: 2, nHeadKv: 1, nVocab: 96, dtype: GgmlType.F32, untiedOutput: true, seed: 3, name: 'tiny-names' }).write(sink);
  const b = Buffer.from(sink.toBytes());
  const patches: [string, Buffer][] = [
    ['blk.0.ffn_up.weight', bytes('blk.0.ffn_', [0xff], 'p.weight') as Buffer],
    ['output_norm.weight', bytes('output_', [0xed, 0xa0], 'rm.weight') as Buffer],
    ['blk.0.attn_norm.weight', bytes('blk.0.attn_', [0xc3, 0xa9, 0xc3, 0x28], '.weight') as Buffer],
    ['tiny-names', bytes('tiny', [0xfe, 0x80, 0xc0], '\nes') as Buffer],
    // llama.cpp copies string values as C strings: this token comes out as 'to'
    ['tok42', bytes('to', [0x00], '42') as Buffer],
  ];
  for (const [from, to] of patches) {
    const at = b.indexOf(Buffer.from(from, 'latin1'));
    expect(at, from).toBeGreaterThan(0);
    expect(to.length).toBe(from.length);
    Buffer.from(to).copy(b, at);
  }
  const file = path.join(dir, 'bad-names.gguf');
  fs.writeFileSync(file, b);
  return { file, names: patches.slice(0, 3).map(([, to]) => hex(to)), value: hex(patches[3][1]) };
}

describe('names and strings that are not UTF-8 survive quantization byte for byte', () => {
  for (const [ftype, ftypeName] of [[7, 'Q8_0'], [15, 'Q4_K_M']] as const) {
    it(`${ftypeName}: every tensor name and string value keeps its bytes`, async () => {
      const { file, names, value } = await modelWithBadNames();
      const inNames = walkGguf(fs.readFileSync(file)).tensors.map((t) => hex(t.name)).sort();
      const out = path.join(dir, `bad-names-${ftypeName}.gguf`);
      await quantizeFile({ input: file, output: out, backend: new InlineCpuBackend(), options: { ftype, ftypeName, nthreads: 1 } });
      const w = walkGguf(fs.readFileSync(out));
      expect(w.tensors.map((t) => hex(t.name)).sort()).toEqual(inNames);
      for (const n of names) expect(inNames).toContain(n);
      expect(w.strings.map(hex)).toContain(value);
      expect(w.strings.map(hex)).toContain(hex(bytes('to')));
      expect(w.strings.map(hex)).not.toContain(hex(bytes('to', [0], '42')));
    });
  }

  const oracle = requireOracle();
  it.skipIf(!oracle)(`the output is byte-identical to llama_model_quantize's (Q4_K_M)${oracle ? '' : `: ${oracleUnavailable}`}`, async () => {
    const { file } = await modelWithBadNames();
    const ours = path.join(dir, 'ours.gguf');
    const ref = path.join(dir, 'ref.gguf');
    await quantizeFile({ input: file, output: ours, backend: new InlineCpuBackend(), options: { ftype: 15, ftypeName: 'Q4_K_M', nthreads: 1 } });
    expect(oracle!.modelQuantize(file, ref, { nthread: 1, ftype: 15, quantizeOutputTensor: true })).toBe(0);
    expect(diffGguf(ref, ours)).toBe('');
    expect(sha256(ours)).toBe(sha256(ref));
  });
});

describe('messages quote names with escapes and cut them', () => {
  it('quoteName escapes control characters, quotes, backslashes and invalid bytes, and cuts at 80', () => {
    expect(quoteName(decodeString(bytes('a\n\0', [0xff], "'\\")))).toBe("'a\\x0a\\x00\\xff\\'\\\\'");
    const long = quoteName('x'.repeat(1000));
    expect(long).toBe(`'${'x'.repeat(80)}…' (1000 characters)`);
  });

  it('a corrupted name full of NULs, newlines and 0xff bytes gives one short printable line', async () => {
    const evil = bytes(...Array.from({ length: 40 }, () => ['\n', [0, 0xff], '\r\x1b[2J'] as (string | number[])[]).flat());
    const f = buildGguf({
      kvs: [(w: LE) => void w.str(evil).i32(99)],
    });
    const err = await quantizeFile({ input: path.join(dir, 'evil.gguf'), output: path.join(dir, 'evil-out.gguf') }).catch((e) => e);
    expect(err).toBeInstanceOf(QuantizeError); // missing file first: a plain refusal
    fs.writeFileSync(path.join(dir, 'evil.gguf'), f);
    const e2 = await quantizeFile({ input: path.join(dir, 'evil.gguf'), output: path.join(dir, 'evil-out.gguf'), backend: new InlineCpuBackend() }).catch((e) => e);
    expect(e2).toBeInstanceOf(GgufFormatError);
    const msg = (e2 as Error).message;
    expect(msg).toMatch(/has invalid GGUF value type 99/);
    expect(msg).not.toMatch(/[\x00-\x1f\x7f-\x9f\ud800-\udfff]/);
    expect(msg).toContain('\\x0a\\x00\\xff\\x0d\\x1b[2J');
    expect(msg.length).toBeLessThan(450);
    expect(fs.existsSync(path.join(dir, 'evil-out.gguf'))).toBe(false);
  });
});
