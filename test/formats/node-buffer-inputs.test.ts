/**
 * Node Buffers are often views into a shared pool (non-zero byteOffset), and Buffer#slice is a view, not a
 * copy. The readers must give the same values for such inputs as for plain Uint8Arrays.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseImatrix } from '../../src/formats/imatrix.js';
import { parseGgufBytes } from '../../src/formats/gguf-reader.js';
import { SYNTH_DIR } from '../golden/shared-paths.js';

function pooled(bytes: Uint8Array): Buffer {
  const pool = Buffer.alloc(bytes.length + 13, 0x47);
  pool.set(bytes, 13);
  return pool.subarray(13);
}

describe('readers on Node Buffers with a byteOffset', () => {
  for (const file of ['imatrix.gguf', 'imatrix.dat']) {
    it(file, () => {
      const plain = new Uint8Array(fs.readFileSync(path.join(SYNTH_DIR, file)));
      const a = parseImatrix(plain, file);
      const b = parseImatrix(pooled(plain), file);
      expect(b.chunkCount).toBe(a.chunkCount);
      expect(b.chunkCount).toBe(file.endsWith('.gguf') ? 512 : 1);
      expect([...b.entries.keys()]).toEqual([...a.entries.keys()]);
      for (const [k, v] of a.entries) expect(Buffer.from(b.entries.get(k)!.buffer)).toEqual(Buffer.from(v.buffer));
      // in_sum2 / 512 for blk.0.ffn_up.weight: a value the pooled bytes would corrupt
      expect(a.entries.get('blk.0.ffn_up.weight')![0]).toBeCloseTo(985.7455444335938 / 512, 6);
    });
  }
  it('GGUF KV values', () => {
    const plain = new Uint8Array(fs.readFileSync(path.join(SYNTH_DIR, 'synth-f32.gguf')));
    const a = parseGgufBytes(plain, 'synth-f32.gguf');
    const b = parseGgufBytes(pooled(plain), 'synth-f32.gguf');
    expect(b.kvs.map((k) => [k.key, String(k.value)])).toEqual(a.kvs.map((k) => [k.key, String(k.value)]));
  });
});
