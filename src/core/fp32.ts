/**
 * Binary32 arithmetic primitives for reproducing ggml's scalar (non-FMA) float code in JavaScript.
 * Every float operation of a reproduced computation goes through `f` (Math.fround) in ggml's order;
 * see spec §3.2. The three rounding rules ggml uses live here so no type file re-derives them.
 */
export const f = Math.fround;

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/**
 * ggml `nearest_int` (for binary32 `v`): round-half-even via the 1.5*2^23 magic number, reproduced bit for
 * bit, garbage past 2^22 included, as in C. For |v| < 2^22 the binary32 formula is exactly round-half-even
 * to an integer, which the same trick in binary64 gives without a memory round trip.
 */
export function nearestInt(v: number): number {
  if (v < 4194304 && v > -4194304) return (v + 6755399441055744 - 6755399441055744) | 0;
  scratchF32[0] = v + 12582912; // the store rounds to binary32
  return (scratchU32[0] & 0x007fffff) - 0x00400000;
}

/**
 * C's float -> int32 cast as x86-64 executes it (cvttss2si): truncation toward zero, and 0x80000000 for
 * NaN, ±Inf and anything outside int32 (subnormal blocks make 1/d overflow to Inf, so real data gets here).
 */
export function cvttI32(v: number): number {
  return v > -2147483649 && v < 2147483648 ? Math.trunc(v) : -2147483648;
}

/** C `roundf`/`lroundf`: half away from zero. `v` must already be a binary32 value. */
export function roundAway(v: number): number {
  return v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
}

/** Bits of a binary32 value. */
export function f32Bits(v: number): number {
  scratchF32[0] = v;
  return scratchU32[0];
}

/** C's `(int8_t)` of a float on x86-64: truncate through a 32-bit int (cvttI32), keep the low byte, signed. */
export function i8Trunc(v: number): number {
  return (cvttI32(v) << 24) >> 24;
}

/** Wrap to an unsigned byte, as a C store into uint8_t does. */
export const u8 = (v: number): number => v & 255;
/** Wrap to a signed byte, as a C store into int8_t does. */
export const i8 = (v: number): number => (v << 24) >> 24;

/** Binary32 literals used by ggml-quants.c (spec §2.1.3), rounded once. */
export const F_0_1 = f(0.1);
export const GROUP_MAX_EPS = f(1e-15);

/**
 * `(int)lroundf(v)` on x86-64 glibc: half away from zero; a value lroundf cannot represent (±Inf, NaN,
 * |v| ≥ 2^63: ternary blocks whose 1/d overflowed) gives LONG_MIN, whose low 32 bits are 0.
 */
export function lroundfInt(v: number): number {
  return v > -9223372036854775808 && v < 9223372036854775808 ? roundAway(v) | 0 : 0;
}
