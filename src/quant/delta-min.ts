/**
 * Dequantizing the legacy affine blocks (Q4_1, Q5_1): y = q·d + m with d and m the block's fp16 scale and
 * min at its start, computed as x86 does: the F32 product, then the sum; with an Inf or NaN d or m, from the
 * bit patterns (which NaN, 0·Inf, Inf−Inf as SSE gives them).
 */
import { F16_TO_F32, F16_TO_F32_BITS } from '../core/half.js';
import { f32Bits, x86Add, x86Mul } from '../core/fp32.js';

const f = Math.fround;

/** a block's d and m (fp16 at off, off + 2) as values and as F32 bits, and whether both are finite */
export class DeltaMin {
  d = 0;
  m = 0;
  dBits = 0;
  mBits = 0;
  finite = true;

  read(src: Uint8Array, off: number): this {
    const hd = src[off] | (src[off + 1] << 8);
    const hm = src[off + 2] | (src[off + 3] << 8);
    this.d = F16_TO_F32[hd];
    this.m = F16_TO_F32[hm];
    this.dBits = F16_TO_F32_BITS[hd];
    this.mBits = F16_TO_F32_BITS[hm];
    this.finite = Number.isFinite(this.d) && Number.isFinite(this.m);
    return this;
  }

  /** dst[i] = q·d + m (bits: dst's Uint32 view, for the non-finite case) */
  put(dst: Float32Array, bits: Uint32Array, i: number, q: number): void {
    if (this.finite) dst[i] = f(q * this.d) + this.m;
    else bits[i] = x86Add(x86Mul(f32Bits(q), this.dBits), this.mBits);
  }
}
