/**
 * Stored blocks whose scales are special floats, for the dequantizer tests (CPU against llama.cpp in
 * test/quant/oracle-dequant-special.test.ts, WGSL against the CPU in test/gpu/dequant-gpu.test.ts): every
 * scale field of a type's block layout (spec §1.3: the fp16 d / min fields, IQ1_M's d spread over the top
 * nibbles of its four scale words, MXFP4's E8M0 exponent) set to ±0, subnormals, the largest half, ±Inf and
 * NaNs of both signs, quiet and signalling, with payloads; for a type with a scale and a min every pair of
 * them too (Inf−Inf, 0·Inf then ± a NaN, two NaNs); all other bytes random. F16 and BF16 values are their
 * own scales: every one of the 65536 bit patterns, once each.
 */
import { GgmlType, typeLayout } from '../../src/core/ggml-type.js';
import { rng } from './distributions.js';

/**
 * fp16 bit patterns forced into scale fields: -0, +0, the smallest and largest subnormal, the smallest
 * normal, the largest half (±), then the non-finite ones: ±Inf, the quiet NaN, a signalling NaN with a
 * payload, negative quiet and signalling NaNs with payloads.
 */
export const FINITE_HALVES = [0x8000, 0x0000, 0x0001, 0x03ff, 0x0400, 0x7bff, 0xfbff] as const;
export const NON_FINITE_HALVES = [0x7c00, 0xfc00, 0x7e00, 0x7d01, 0xfe55, 0xfc01] as const;
export const SPECIAL_HALVES: readonly number[] = [...FINITE_HALVES, ...NON_FINITE_HALVES];
/** E8M0 exponents forced into MXFP4 blocks: the two subnormal scales, 2^-1, 1, 2, the largest two (×12 overflows) */
export const SPECIAL_E8M0 = [0, 1, 126, 127, 128, 254, 255] as const;

/** One scale field of a block layout: its name and how a special value is written into block `b`. */
export interface ScaleField {
  name: string;
  values: readonly number[];
  set(bytes: Uint8Array, b: number, v: number): void;
  get(bytes: Uint8Array, b: number): number;
}

function fp16At(type: GgmlType, off: number, name: string): ScaleField {
  const size = typeLayout(type).typeSize;
  return {
    name, values: SPECIAL_HALVES,
    set(bytes, b, h) {
      bytes[b * size + off] = h & 255;
      bytes[b * size + off + 1] = h >>> 8;
    },
    get: (bytes, b) => bytes[b * size + off] | (bytes[b * size + off + 1] << 8),
  };
}

/** The scale fields of a quantized type's blocks, in block order (d before the min). */
export function scaleFields(type: GgmlType): ScaleField[] {
  const layout = typeLayout(type);
  if (!layout.isQuantized) return [];
  if (type === GgmlType.IQ1_M) {
    // d's fp16 bits are the top nibbles of the four u16 scale words @48 (bits 12..15 of word i = nibble i)
    return [{
      name: 'd (scales[8] top nibbles)', values: SPECIAL_HALVES,
      set(bytes, b, h) {
        const o = b * layout.typeSize + 49;
        for (let i = 0; i < 4; i++) bytes[o + 2 * i] = (bytes[o + 2 * i] & 0x0f) | (((h >> (4 * i)) & 15) << 4);
      },
      get(bytes, b) {
        const o = b * layout.typeSize + 49;
        let h = 0;
        for (let i = 0; i < 4; i++) h |= (bytes[o + 2 * i] >> 4) << (4 * i);
        return h;
      },
    }];
  }
  if (type === GgmlType.MXFP4) {
    return [{ name: 'e (E8M0)', values: SPECIAL_E8M0, set(bytes, b, e) { bytes[b * layout.typeSize] = e; }, get: (bytes, b) => bytes[b * layout.typeSize] }];
  }
  return layout.fp16Fields.map((off, i) => fp16At(type, off, i === 0 ? `d @${off}` : `min @${off}`));
}

export interface SpecialBlocks {
  /** the stored bytes: `forced` blocks first, then random ones */
  bytes: Uint8Array;
  /** values in `bytes` */
  n: number;
  /** blocks (from 0) whose scale fields were forced */
  forced: number;
}

/**
 * Stored bytes of `nRandom + forced` blocks of `type` from rng(seed): first the forced blocks (each special
 * value in each scale field alone, the others left random; then, for two scale fields, every pair of special
 * values), then `nRandom` blocks of random bytes (their fp16 fields random halves, so Inf/NaN scales occur
 * there too). F16 and BF16: all 65536 bit patterns in order (forced = 0, nRandom ignored).
 */
export function specialBlocks(type: GgmlType, nRandom: number, seed: number): SpecialBlocks {
  const layout = typeLayout(type);
  if (layout.blockSize === 1) {
    if (layout.typeSize !== 2) throw new RangeError(`specialBlocks: ${layout.name} is not a 16-bit type`);
    const bytes = new Uint8Array(new Uint16Array(65536).map((_, i) => i).buffer);
    return { bytes, n: 65536, forced: 0 };
  }
  const fields = scaleFields(type);
  const pairs = fields.length === 2 ? fields[0].values.length * fields[1].values.length : 0;
  const forced = fields.reduce((s, fl) => s + fl.values.length, 0) + pairs;
  const nb = forced + nRandom;
  const r = rng(seed);
  const bytes = Uint8Array.from({ length: nb * layout.typeSize }, () => (r() * 256) | 0);
  let b = 0;
  for (const fl of fields) for (const v of fl.values) fl.set(bytes, b++, v);
  if (pairs) {
    for (const v0 of fields[0].values) {
      for (const v1 of fields[1].values) {
        fields[0].set(bytes, b, v0);
        fields[1].set(bytes, b++, v1);
      }
    }
  }
  return { bytes, n: nb * layout.blockSize, forced };
}
