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

/** The quiet NaN an x86 SSE operation returns for an invalid operation (0·Inf, Inf−Inf). */
export const X86_DEFAULT_NAN = 0xffc00000;

const opF32 = new Float32Array(3);
const opU32 = new Uint32Array(opF32.buffer);
const isNaNBits = (a: number): boolean => (a & 0x7fffffff) > 0x7f800000;

/**
 * One x86 SSE binary32 operation on bit patterns (`op` gets the operands as numbers; binary64 arithmetic
 * rounded once to binary32 is correctly rounded for + − ×): a NaN operand comes out as itself, quiet, the
 * first one when both are NaN; an invalid operation gives X86_DEFAULT_NAN. For the blocks whose scale is
 * Inf or NaN, where JavaScript does not define which NaN an operation returns.
 */
function x86Op(a: number, b: number, op: (x: number, y: number) => number): number {
  if (isNaNBits(a)) return (a | 0x400000) >>> 0;
  if (isNaNBits(b)) return (b | 0x400000) >>> 0;
  opU32[0] = a;
  opU32[1] = b;
  opF32[2] = op(opF32[0], opF32[1]);
  return opF32[2] !== opF32[2] ? X86_DEFAULT_NAN : opU32[2];
}
const mulOp = (x: number, y: number) => x * y;
const addOp = (x: number, y: number) => x + y;
const subOp = (x: number, y: number) => x - y;
/** x86 `a * b` on binary32 bits (mulss with `a` the first source) */
export const x86Mul = (a: number, b: number): number => x86Op(a, b, mulOp);
/** x86 `a + b` on binary32 bits (addss with `a` the first source) */
export const x86Add = (a: number, b: number): number => x86Op(a, b, addOp);
/** x86 `a - b` on binary32 bits (subss: a NaN `b` keeps its sign) */
export const x86Sub = (a: number, b: number): number => x86Op(a, b, subOp);
