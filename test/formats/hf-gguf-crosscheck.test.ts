/**
 * An independent reader as a cross-check: @huggingface/gguf must read every golden output (and the input
 * model) with the same KV values, tensor names, shapes, types, offsets and data offset as our reader.
 * (Our reader/writer is our own so that copies stay byte-identical; see src/formats/gguf-kv.ts.)
 */
import { gguf } from '@huggingface/gguf';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileSource } from '../../src/node/file-io.js';
import { readGgufHeader } from '../../src/formats/gguf-reader.js';
import { SYNTH_DIR } from '../golden/shared-paths.js';

const files = ['synth-f32.gguf', ...['pure', 'pure-imatrix', 'mix'].flatMap((d) =>
  fs.readdirSync(path.join(SYNTH_DIR, d)).map((f) => `${d}/${f}`))];

/** bigint, typed arrays and plain arrays to comparable JSON */
const plain = (v: unknown): unknown =>
  typeof v === 'bigint' ? Number(v) : ArrayBuffer.isView(v) ? Array.from(v as unknown as ArrayLike<number | bigint>, plain)
    : Array.isArray(v) ? v.map(plain) : typeof v === 'number' ? Math.fround(v) : v;

describe('@huggingface/gguf agrees with our reader', () => {
  it(`on ${files.length} golden files`, async () => {
    for (const f of files) {
      const file = path.join(SYNTH_DIR, f);
      const theirs = await gguf(file, { allowLocalFile: true });
      const src = await FileSource.open(file);
      const ours = await readGgufHeader(src);
      await src.close();
      const { version, tensor_count, kv_count, ...kvs } = theirs.metadata as Record<string, unknown>;
      expect(version, f).toBe(ours.version);
      expect(Number(tensor_count), f).toBe(ours.tensors.length);
      expect(Number(kv_count), f).toBe(ours.kvs.length);
      expect(Object.keys(kvs), f).toEqual(ours.kvs.map((k) => k.key));
      for (const k of ours.kvs) expect(plain(kvs[k.key]), `${f} ${k.key}`).toEqual(plain(k.value));
      expect(Number(theirs.tensorDataOffset), f).toBe(ours.dataOffset);
      expect(theirs.tensorInfos.map((t) => [t.name, t.shape.map(Number), t.dtype, Number(t.offset)]), f)
        .toEqual(ours.tensors.map((t) => [t.name, t.ne.slice(0, t.nDims), t.type, t.offset]));
    }
  });
});
