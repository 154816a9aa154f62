/**
 * A minimal GGUF walker written apart from src/formats: it keeps every key, string and tensor name as the
 * raw bytes of the file, and checks an output's layout (offsets packed in order, 32-byte alignment, the
 * file ending where the last tensor's padding ends). Used to check that names survive byte for byte and
 * that a produced file is valid.
 */
import { typeLayout } from '../../src/core/ggml-type.js';

export interface WalkedTensor {
  name: Uint8Array;
  ne: bigint[];
  type: number;
  offset: bigint;
}

export interface WalkedGguf {
  version: number;
  keys: Uint8Array[];
  /** every STRING value (scalars and array elements), in file order */
  strings: Uint8Array[];
  tensors: WalkedTensor[];
  dataOffset: number;
}

const SIZES: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

/** Walk a GGUF file's header; throws an Error naming the first thing that is wrong. `strict`: also the output layout rules. */
export function walkGguf(b: Uint8Array, alignment = 32, strict = true): WalkedGguf {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let p = 0;
  const need = (n: number) => {
    if (p + n > b.length) throw new Error(`walk: ${n} bytes at ${p} run past the end (${b.length})`);
  };
  const u32 = () => { need(4); const v = dv.getUint32(p, true); p += 4; return v; };
  const u64 = () => { need(8); const v = dv.getBigUint64(p, true); p += 8; return v; };
  const str = () => {
    const n = Number(u64());
    need(n);
    const s = b.slice(p, p + n);
    p += n;
    return s;
  };
  if (String.fromCharCode(...b.subarray(0, 4)) !== 'GGUF') throw new Error('walk: bad magic');
  p = 4;
  const version = u32();
  const nT = Number(u64());
  const nKv = Number(u64());
  const keys: Uint8Array[] = [];
  const strings: Uint8Array[] = [];
  for (let i = 0; i < nKv; i++) {
    keys.push(str());
    const t = u32();
    if (t === 9) {
      const et = u32();
      const n = Number(u64());
      if (et === 8) for (let j = 0; j < n; j++) strings.push(str());
      else if (SIZES[et]) { need(n * SIZES[et]); p += n * SIZES[et]; }
      else throw new Error(`walk: array element type ${et}`);
    } else if (t === 8) strings.push(str());
    else if (SIZES[t]) { need(SIZES[t]); p += SIZES[t]; }
    else throw new Error(`walk: value type ${t}`);
  }
  const tensors: WalkedTensor[] = [];
  for (let i = 0; i < nT; i++) {
    const name = str();
    const nd = u32();
    if (nd > 4 || (strict && nd < 1)) throw new Error(`walk: n_dims ${nd}`);
    const ne: bigint[] = [];
    for (let j = 0; j < nd; j++) ne.push(u64());
    const type = u32();
    tensors.push({ name, ne, type, offset: u64() });
  }
  const dataOffset = nT > 0 ? Math.ceil(p / alignment) * alignment : p;
  if (!strict) return { version, keys, strings, tensors, dataOffset };
  let expected = 0n;
  for (const t of tensors) {
    if (t.offset !== expected) throw new Error(`walk: tensor offset ${t.offset}, expected ${expected}`);
    const lay = typeLayout(t.type);
    const n = t.ne.reduce((a, x) => a * x, 1n);
    const nbytes = (n / BigInt(lay.blockSize)) * BigInt(lay.typeSize);
    expected += ((nbytes + BigInt(alignment) - 1n) / BigInt(alignment)) * BigInt(alignment);
  }
  if (BigInt(dataOffset) + expected !== BigInt(b.length)) {
    throw new Error(`walk: the file has ${b.length} bytes, the layout ${BigInt(dataOffset) + expected}`);
  }
  return { version, keys, strings, tensors, dataOffset };
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
