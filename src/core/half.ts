/**
 * Bit-exact fp16 and bf16 conversions (ggml-impl.h `ggml_compute_fp32_to_fp16` / `_to_bf16`), with
 * integer operations only, so the result never depends on the platform's float-to-half rounding.
 * Spec §3.3. Also the one fp16 -> fp32 table (every block dequantizer reads its scales through it, and
 * toFloat32 widens F16 tensors with it), and the x86 NaN rule dequantizers need for an Inf/NaN scale.
 */
import { X86_DEFAULT_NAN } from './fp32.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** binary32 -> binary16 bits, round to nearest even, subnormals kept, |x| >= 65520 -> Inf. */
export function fp32ToFp16(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  const s = (bits >>> 16) & 0x8000;
  const a = bits & 0x7fffffff;
  if (a > 0x7f800000) return s | 0x7e00;
  if (a >= 0x477ff000) return s | 0x7c00;
  if (a < 0x38800000) {
    // below 2^-14: |x| * 2^24 is exact in binary64; round half to even
    const v = Math.abs(f32[0]) * 16777216;
    let h = Math.floor(v);
    const r = v - h;
    if (r > 0.5 || (r === 0.5 && (h & 1) === 1)) h += 1;
    return s | h;
  }
  let h = (a >>> 13) - (112 << 10);
  const r = a & 0x1fff;
  if (r > 0x1000 || (r === 0x1000 && (h & 1) === 1)) h += 1;
  return s | h;
}

/** Stores fp32ToFp16(x) little-endian at dst[offset..offset+2) (every block's fp16 scale field); returns the bits. */
export function putFp16(dst: Uint8Array, offset: number, x: number): number {
  const h = fp32ToFp16(x);
  dst[offset] = h & 255;
  dst[offset + 1] = h >>> 8;
  return h;
}

/** binary16 bits -> binary32 value (exact). */
export function fp16ToFp32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 5.9604644775390625e-8; // 2^-24
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1024 + m) * 2 ** (e - 25);
}

/** binary32 -> bfloat16 bits (round to nearest even, quiet NaN). */
export function fp32ToBf16(x: number): number {
  f32[0] = x;
  const u = u32[0];
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 0x40) & 0xffff;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/** bfloat16 bits -> binary32 value (exact). */
export function bf16ToFp32(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0];
}

/**
 * Binary32 bits of every binary16 value as ggml widens it: exact for numbers; a NaN keeps its sign and
 * payload and comes out quiet, because ggml's converter ends with a float multiply.
 */
export const F16_TO_F32_BITS = new Uint32Array(65536);
/** The same table read as floats (NaN entries lose their payload when read into a JS number). */
export const F16_TO_F32 = new Float32Array(F16_TO_F32_BITS.buffer);
for (let h = 0; h < 65536; h++) {
  if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0) {
    F16_TO_F32_BITS[h] = ((h & 0x8000) << 16) | 0x7fc00000 | ((h & 0x3ff) << 13);
  } else {
    F16_TO_F32[h] = fp16ToFp32(h);
  }
}

/**
 * After a block was dequantized with a non-finite scale (`dBits`, binary32 bits), give its NaN outputs
 * the bits x86 produces: the NaN operand's own bits when the scale is NaN, else the default NaN (0·Inf).
 * Only rare, corrupt or overflowed blocks take this path.
 */
export function fixNaNs(dst: Float32Array, start: number, count: number, dBits: number): void {
  const bits = new Uint32Array(dst.buffer, dst.byteOffset + start * 4, count);
  const nanBits = (dBits & 0x7fffffff) > 0x7f800000 ? dBits : X86_DEFAULT_NAN;
  for (let i = 0; i < count; i++) if (dst[start + i] !== dst[start + i]) bits[i] = nanBits;
}
