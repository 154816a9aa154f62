/**
 * Split models: shards made from synth-f32.gguf the way gguf-split lays them out are merged into one
 * model, malformed splits are refused, and the --keep-split plan reproduces llama_model_quantize's own
 * shard files byte for byte (through the llama.cpp oracle).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GgufFormatError } from '../../src/errors.js';
import { MemorySink } from '../../src/formats/byte-source.js';
import { kvI32, kvU16, kvU32, removeSplitKvs, setKv, type GgufKv } from '../../src/formats/gguf-kv.js';
import { parseShardName, readTensorRows, shardPaths, splitPath, tensorRows, type GgufModel } from '../../src/formats/gguf-model.js';
import { parseGgufBytes, type GgufTensorInfo } from '../../src/formats/gguf-reader.js';
import { keepSplitOrder, keepSplitOutputPrefix, paddingAfter, planKeepSplit, planOutput, ZERO_PAD } from '../../src/formats/gguf-writer.js';
import { openGgufModelFile } from '../../src/node/file-io.js';
import { GgmlType } from '../../src/core/ggml-type.js';
import { requireOracle } from '../oracle/require-oracle.js';
import { synthF32, tempDir, writeSynthShards } from './gguf-fixtures.js';

const dir = tempDir('gguf-split');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const synthBytes = new Uint8Array(fs.readFileSync(synthF32));
const synth = parseGgufBytes(synthBytes, synthF32);
const writeShards = writeSynthShards;

const names = synth.tensors.map((t) => t.name);
const GROUPS = [names.slice(0, 8), names.slice(8, 15), names.slice(15)];

describe('split names', () => {
  it('parses and builds llama.cpp shard names', () => {
    expect(splitPath('/m/model', 1, 4)).toBe('/m/model-00002-of-00004.gguf');
    expect(parseShardName('/m/model-00002-of-00004.gguf')).toEqual({ prefix: '/m/model', index: 1, count: 4 });
    expect(parseShardName('/m/model.gguf')).toBeNull();
    expect(shardPaths('a/x-00001-of-00002.gguf', 2)).toEqual(['a/x-00001-of-00002.gguf', 'a/x-00002-of-00002.gguf']);
    expect(() => shardPaths('a/x-00001-of-00003.gguf', 2)).toThrow(GgufFormatError);
    expect(keepSplitOutputPrefix('out/q4.gguf')).toBe('out/q4');
    expect(keepSplitOutputPrefix('out/q4')).toBe('out/q4');
    expect(keepSplitOutputPrefix('out/q4.gguf.bak')).toBe('out/q4.ggu'); // quantize.cpp drops 5 characters whatever they are
  });
});

describe('merging shards', () => {
  let paths: string[];
  let model: GgufModel;
  beforeAll(async () => {
    paths = await writeShards(path.join(dir, 'synth'), GROUPS);
    model = await openGgufModelFile(paths[0]);
  });
  afterAll(() => model?.close());

  it('presents one model: KVs of shard 0, all tensors with their shard and data', async () => {
    expect(model.files.length).toBe(3);
    expect(model.kvs.map((k) => k.key).slice(-3)).toEqual(['split.no', 'split.tensors.count', 'split.count']);
    expect(model.tensors.map((t) => t.name)).toEqual(names);
    expect(model.tensors.map((t) => t.shard)).toEqual(GROUPS.flatMap((g, i) => g.map(() => i)));
    for (const t of model.tensors) {
      const orig = synth.tensors.find((x) => x.name === t.name)!;
      const rows = await readTensorRows(model.sources[t.shard], t, 0, tensorRows(t).rows);
      expect(Buffer.compare(Buffer.from(rows), Buffer.from(synthBytes.subarray(orig.dataOffset, orig.dataOffset + orig.nbytes))), t.name).toBe(0);
    }
  });

  const bad = async (tag: string, groups: string[][], edit: ((i: number, kvs: GgufKv[]) => GgufKv[]) | undefined, first: number, ...parts: string[]) => {
    const ps = await writeShards(path.join(dir, tag), groups, edit);
    const err = await openGgufModelFile(ps[first]).then((m) => m.close().then(() => null), (e) => e);
    expect(err).toBeInstanceOf(GgufFormatError);
    for (const p of parts) expect(err.message).toContain(p);
  };

  it('refuses a model opened from a later shard', () => bad('later', GROUPS, undefined, 1, 'later-00002-of-00003.gguf: is shard 2 of 3 (split.no = 1)'));
  it('refuses a shard whose split.no is wrong', () =>
    bad('wrongno', GROUPS, (i, kvs) => (i === 2 ? setKv(kvs, kvU16('split.no', 1)) : kvs), 0, 'wrongno-00003-of-00003.gguf: split.no is 1, expected 2'));
  it('refuses a shard without split.no', () =>
    bad('nono', GROUPS, (i, kvs) => (i === 1 ? removeSplitKvs(kvs) : kvs), 0, "nono-00002-of-00003.gguf: key 'split.no' is missing in this shard (expected 1)"));
  it('refuses a wrong split.tensors.count', () =>
    bad('count', GROUPS, (i, kvs) => (i === 0 ? setKv(kvs, kvI32('split.tensors.count', 20)) : kvs), 0, 'split.tensors.count is 20 but the 3 shards hold 21 tensors'));
  it('refuses a tensor present in two shards', () =>
    bad('dup', [GROUPS[0], [...GROUPS[1], names[0]], GROUPS[2]], undefined, 0, `tensor '${names[0]}' is duplicated`));
  it('refuses split.count of the wrong type', () =>
    bad('u32', GROUPS, (i, kvs) => (i === 0 ? setKv(kvs, kvU32('split.count', 3)) : kvs), 0, "key 'split.count' has type UINT32, expected UINT16"));
  it('refuses a split model whose first file is not named -00001-of-N', async () => {
    const ps = await writeShards(path.join(dir, 'ren'), GROUPS);
    const renamed = path.join(dir, 'renamed.gguf');
    fs.copyFileSync(ps[0], renamed);
    const err = await openGgufModelFile(renamed).then(() => null, (e) => e);
    expect(err).toBeInstanceOf(GgufFormatError);
    expect(err.message).toBe(`${renamed}: split.count is 3 but the file name does not end in '-00001-of-00003.gguf'`);
  });
  it('reports a missing shard', async () => {
    const ps = await writeShards(path.join(dir, 'gone'), GROUPS);
    fs.unlinkSync(ps[2]);
    await expect(openGgufModelFile(ps[0])).rejects.toThrow(`${ps[2]}: cannot open: ENOENT`);
  });
});

const oracle = requireOracle();
describe.skipIf(!oracle)('--keep-split against llama_model_quantize', () => {

  /** §5.3 KV edits for a run with this ftype, no overrides or imatrix. */
  const outputKvs = (kvs: readonly GgufKv[], ftype: number) =>
    removeSplitKvs(setKv(setKv([...kvs], kvU32('general.quantization_version', 2)), kvU32('general.file_type', ftype)));

  async function compareShards(model: GgufModel, outPrefix: string, ftype: number, typeOf: (t: GgufTensorInfo) => GgmlType, copyData: boolean) {
    const order = keepSplitOrder(model.tensors);
    const shards = planKeepSplit(outPrefix, outputKvs(model.kvs, ftype), order);
    let compared = 0;
    for (const s of shards) {
      const ref = new Uint8Array(fs.readFileSync(s.path));
      const tensors = s.tensors.map((n) => model.tensors.find((t) => t.name === n)!);
      const plan = planOutput({ kvs: s.kvs, tensors: tensors.map((t) => ({ name: t.name, ne: t.ne, type: typeOf(t) })) });
      expect(plan.fileSize, s.path).toBe(ref.length);
      expect(Buffer.compare(Buffer.from(plan.meta), Buffer.from(ref.subarray(0, plan.dataOffset))), `meta of ${s.path}`).toBe(0);
      if (copyData) {
        const sink = new MemorySink();
        await sink.write(plan.meta);
        for (const t of tensors) {
          await sink.write(await readTensorRows(model.sources[t.shard], t, 0, tensorRows(t).rows));
          await sink.write(ZERO_PAD.subarray(0, paddingAfter(t.nbytes)));
        }
        expect(Buffer.compare(Buffer.from(sink.toBytes()), Buffer.from(ref)), `bytes of ${s.path}`).toBe(0);
      }
      compared++;
    }
    return { shards, compared };
  }

  it('COPY of a 3-shard model: each output shard is byte-identical', async () => {
    const paths = await writeShards(path.join(dir, 'ks'), GROUPS);
    const out = path.join(dir, 'ks-copy');
    expect(oracle!.modelQuantize(paths[0], out, { ftype: 0, onlyCopy: true, keepSplit: true })).toBe(0);
    const model = await openGgufModelFile(paths[0]);
    try {
      const { shards, compared } = await compareShards(model, out, 0, (t) => t.type, true);
      expect(compared).toBe(3);
      expect(shards[1].kvs.map((k) => k.key)).toEqual(['split.no', 'split.count', 'split.tensors.count']);
    } finally {
      await model.close();
    }
  });

  it('pure Q8_0 of a 3-shard model: each output shard has the same meta bytes', async () => {
    const paths = await writeShards(path.join(dir, 'ksq'), GROUPS);
    const out = path.join(dir, 'ks-q8');
    expect(oracle!.modelQuantize(paths[0], out, { ftype: 7, pure: true, keepSplit: true })).toBe(0);
    const model = await openGgufModelFile(paths[0]);
    try {
      const { compared } = await compareShards(model, out, 7, (t) => (t.nDims >= 2 ? GgmlType.Q8_0 : GgmlType.F32), false);
      expect(compared).toBe(3);
    } finally {
      await model.close();
    }
  });

  it('a single input file gives <out>-00001-of-00001.gguf, no split keys, tensors in input offset order', async () => {
    const out = path.join(dir, 'single');
    expect(oracle!.modelQuantize(synthF32, out, { ftype: 0, onlyCopy: true, keepSplit: true })).toBe(0);
    const model = await openGgufModelFile(synthF32);
    try {
      const { shards, compared } = await compareShards(model, out, 0, (t) => t.type, true);
      expect(compared).toBe(1);
      expect(shards[0].path).toBe(`${out}-00001-of-00001.gguf`);
      expect(shards[0].kvs.some((k) => k.key.startsWith('split.'))).toBe(false);
      expect(shards[0].tensors[0]).toBe('token_embd.weight'); // the loader order would start with output.weight
    } finally {
      await model.close();
    }
  });
});
