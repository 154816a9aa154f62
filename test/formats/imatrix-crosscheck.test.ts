/**
 * The imatrix loader (src/formats/imatrix.ts) checked by paths that do not use it:
 * - GGUF imatrix files (the golden one, and generated ones with experts and zero counts) read by
 *   @huggingface/gguf and converted per spec §6.3 (test/oracle/imatrix-reference.ts): same entries, bit for
 *   bit, same datasets and chunk count;
 * - legacy `.dat` files read by the reference's own small parser, entry by entry; and the golden
 *   imatrix.dat against the outputs llama-quantize itself made: the golden pure-imatrix files were made
 *   with imatrix.gguf, whose weights the .dat holds exactly, so quantizing with the .dat must give every
 *   tensor's data byte for byte (the file differs only in the quantize.imatrix.* KVs).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readGgufHeader } from '../../src/formats/gguf-reader.js';
import { loadImatrix, type Imatrix } from '../../src/formats/imatrix.js';
import { FileSource } from '../../src/node/file-io.js';
import { quantizeFile } from '../../src/node/index.js';
import { InlineCpuBackend } from '../../src/pipeline/backend.js';
import { parseFtype } from '../../src/policy/ftype.js';
import { imatrixGgufBytes, imatrixLegacyBytes, makeImatrixStats } from '../data/imatrix-files.js';
import { SYNTH_DIR } from '../golden/shared-paths.js';
import { loadReferenceImatrix, type ReferenceImatrix } from '../oracle/imatrix-reference.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wq-imatrix-xcheck-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const bytesOf = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

function expectSameImatrix(ours: Imatrix, ref: ReferenceImatrix, what: string): void {
  expect([...ours.entries.keys()].sort(), what).toEqual([...ref.entries.keys()].sort());
  for (const [name, w] of ref.entries) {
    const o = ours.entries.get(name)!;
    expect(o.length, `${what} ${name}`).toBe(w.length);
    expect(bytesOf(o).equals(bytesOf(w)), `${what} ${name}: weights differ bit for bit`).toBe(true);
  }
  expect(ours.datasets, what).toEqual(ref.datasets);
  expect(ours.chunkCount, what).toBe(ref.chunkCount);
}

/** dense and 3-D (expert) weights; the second expert of every 3-D weight has count 0 (weights 1.0) */
const WEIGHTS = [
  { name: 'blk.0.attn_q.weight', ne: [64, 64] },
  { name: 'blk.0.ffn_down_exps.weight', ne: [96, 64, 4] },
  { name: 'blk.0.ffn_up_exps.weight', ne: [64, 96, 4] },
  { name: 'output.weight', ne: [64, 300] },
];

describe('imatrix loader vs an independent reader', () => {
  it('golden imatrix.gguf: @huggingface/gguf gives the same 16 entries', async () => {
    const file = path.join(SYNTH_DIR, 'imatrix.gguf');
    const ref = await loadReferenceImatrix(file);
    expect(ref.entries.size).toBe(16);
    expectSameImatrix(loadImatrix(new Uint8Array(fs.readFileSync(file)), file), ref, 'imatrix.gguf');
  });

  it('golden imatrix.dat: the reference parser gives the same 16 entries', async () => {
    const file = path.join(SYNTH_DIR, 'imatrix.dat');
    const ref = await loadReferenceImatrix(file);
    expect(ref.entries.size).toBe(16);
    expectSameImatrix(loadImatrix(new Uint8Array(fs.readFileSync(file)), file), ref, 'imatrix.dat');
  });

  for (const seed of [1, 2, 3]) {
    it(`generated files with experts and zero counts (seed ${seed}), both formats`, async () => {
      const stats = makeImatrixStats(WEIGHTS, { seed, zeroExpert: true, datasets: [`calib-${seed}.txt`, 'more.txt'], chunkCount: 37 * seed, chunkSize: 512 });
      for (const [ext, bytes] of [['gguf', imatrixGgufBytes(stats)], ['dat', imatrixLegacyBytes(stats)]] as const) {
        const file = path.join(tmp, `gen-${seed}.${ext}`);
        fs.writeFileSync(file, bytes);
        const ref = await loadReferenceImatrix(file);
        expect(ref.entries.size).toBe(WEIGHTS.length);
        // the zero-count expert reads as 1.0 from GGUF (the .dat stores 1.0, which reads as 1 / ncall)
        if (ext === 'gguf') expect(ref.entries.get('blk.0.ffn_up_exps.weight')!.subarray(64, 128).every((v) => v === 1)).toBe(true);
        expectSameImatrix(loadImatrix(bytes, file), ref, `seed ${seed} ${ext}`);
      }
    });
  }
});

/** pure-imatrix types (and a mix) whose golden files llama-quantize made from imatrix.gguf */
const FROM_DAT = ['pure-imatrix/Q4_0', 'pure-imatrix/Q4_1', 'pure-imatrix/Q5_0', 'pure-imatrix/Q5_1', 'pure-imatrix/Q2_K',
  'pure-imatrix/Q3_K', 'pure-imatrix/Q4_K', 'pure-imatrix/Q5_K', 'pure-imatrix/Q6_K', 'mix/Q4_K_M-imatrix', 'mix/Q2_K-imatrix'];
const PURE_FTYPE: Record<string, string> = { Q3_K: 'Q3_K_M', Q4_K: 'Q4_K_M', Q5_K: 'Q5_K_M' };

interface ManifestOutput { ftype: string; rc: number; tensors: Record<string, { type: string; sha256: string }> }
const manifest = JSON.parse(fs.readFileSync(path.join(SYNTH_DIR, 'MANIFEST.json'), 'utf8')) as { outputs: Record<string, ManifestOutput> };

describe('imatrix.dat gives the tensors llama-quantize made (with imatrix.gguf)', () => {
  const cwd = process.cwd();
  beforeAll(() => process.chdir(SYNTH_DIR));
  afterAll(() => process.chdir(cwd));
  const backend = new InlineCpuBackend();

  for (const key of FROM_DAT) {
    it(key, async () => {
      const out = manifest.outputs[key];
      expect(out.rc).toBe(0);
      const [dir, name] = key.split('/');
      const f = parseFtype(dir === 'pure-imatrix' ? PURE_FTYPE[name] ?? name : out.ftype)!;
      const output = path.join(tmp, key.replace('/', '_') + '.gguf');
      await quantizeFile({ input: 'synth-f32.gguf', output, backend, options: { ftype: f.id, ftypeName: f.name, pure: dir === 'pure-imatrix', imatrixPath: 'imatrix.dat', nthreads: 1 } });
      const src = await FileSource.open(output);
      try {
        const h = await readGgufHeader(src);
        expect(h.tensors.map((t) => t.name).sort()).toEqual(Object.keys(out.tensors).sort());
        for (const t of h.tensors) {
          const data = await src.read(t.dataOffset, t.nbytes);
          expect(createHash('sha256').update(data).digest('hex'), `${key} ${t.name}`).toBe(out.tensors[t.name].sha256);
        }
        expect(h.kvs.find((k) => k.key === 'quantize.imatrix.file')?.value).toBe('imatrix.dat');
      } finally {
        await src.close();
        fs.rmSync(output);
      }
    });
  }
});
