/**
 * A minimal GGUF v3 header reader for the policy tests (spec §5.1): key/values and tensor infos only.
 * Kept here so the policy tests do not depend on the project's own GGUF reader.
 */
import fs from 'node:fs';

export interface GgufHeader {
  kv: Map<string, unknown>;
  tensors: { name: string; ne: number[]; type: number; offset: number }[];
}

export function readGgufHeader(file: string): GgufHeader {
  const buf = fs.readFileSync(file);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let p = 0;
  const u32 = () => { const v = dv.getUint32(p, true); p += 4; return v; };
  const u64 = () => { const v = Number(dv.getBigUint64(p, true)); p += 8; return v; };
  const str = () => { const n = u64(); const s = buf.toString('utf8', p, p + n); p += n; return s; };
  const scalar = (t: number): unknown => {
    switch (t) {
      case 0: return dv.getUint8(p++);
      case 1: return dv.getInt8(p++);
      case 2: { const v = dv.getUint16(p, true); p += 2; return v; }
      case 3: { const v = dv.getInt16(p, true); p += 2; return v; }
      case 4: return u32();
      case 5: { const v = dv.getInt32(p, true); p += 4; return v; }
      case 6: { const v = dv.getFloat32(p, true); p += 4; return v; }
      case 7: return dv.getUint8(p++) !== 0;
      case 8: return str();
      case 10: return u64();
      case 11: { const v = Number(dv.getBigInt64(p, true)); p += 8; return v; }
      case 12: { const v = dv.getFloat64(p, true); p += 8; return v; }
      default: throw new Error(`${file}: bad GGUF value type ${t} at offset ${p}`);
    }
  };
  if (buf.toString('latin1', 0, 4) !== 'GGUF') throw new Error(`${file}: not a GGUF file`);
  p = 4;
  const version = u32();
  if (version !== 3) throw new Error(`${file}: GGUF version ${version}`);
  const nTensors = u64(), nKv = u64();
  const kv = new Map<string, unknown>();
  for (let i = 0; i < nKv; i++) {
    const key = str();
    const t = u32();
    if (t === 9) {
      const et = u32(), n = u64();
      const arr: unknown[] = [];
      for (let j = 0; j < n; j++) arr.push(scalar(et));
      kv.set(key, arr);
    } else {
      kv.set(key, scalar(t));
    }
  }
  const tensors: GgufHeader['tensors'] = [];
  for (let i = 0; i < nTensors; i++) {
    const name = str();
    const nd = u32();
    const ne: number[] = [];
    for (let d = 0; d < nd; d++) ne.push(u64());
    const type = u32();
    tensors.push({ name, ne, type, offset: u64() });
  }
  return { kv, tensors };
}
