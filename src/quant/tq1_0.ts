/**
 * TQ1_0: blocks of 256 ternary values, 54 bytes: `qs[48]` @0, `qh[4]` @48, `d` fp16 @52; five trits per
 * byte (four plus a 0 trit in qh) stored as ⌈n·256/243⌉; value = (t − 1)·d. Reproduces `quantize_tq1_0`
 * (the imatrix is ignored) and `dequantize_row_tq1_0`; spec §1.5, §2.9.
 */
import { GgmlType, QK_K, typeLayout } from '../core/ggml-type.js';
import { F16_TO_F32, F16_TO_F32_BITS, fixNaNs } from '../core/half.js';
import { ternaryTrits } from './ternary.js';
import type { QuantTraits } from './traits.js';
import tq1_0Wgsl from '../../shaders/tq1_0.wgsl';
import gpuDequant from '../../shaders/dequant/tq1_0.wgsl';

const BLOCK_BYTES = 54;
const T = new Uint8Array(QK_K);

/** ⌈n·256/243⌉ of the base-3 number n of up to five trits (first trit most significant). */
const packTrits = (n: number): number => Math.floor((n * 256 + 242) / 243);

/**
 * Element index of trit k (0 = most significant) of code byte `byte` (0..51): bytes 0..31 hold
 * elements m + 32k, bytes 32..47 elements 160 + m + 16k, bytes 48..51 (qh) elements 240 + m + 4k.
 */
export function tq1Element(byte: number, k: number): number {
  if (byte < 32) return byte + 32 * k;
  if (byte < 48) return 160 + (byte - 32) + 16 * k;
  return 240 + (byte - 48) + 4 * k;
}

/** Packs 256 trits into the 52 code bytes at dst[o..]. */
export function packTq1(t: Uint8Array, dst: Uint8Array, o: number): void {
  for (let byte = 0; byte < 52; byte++) {
    const nt = byte < 48 ? 5 : 4;
    let n = 0;
    for (let k = 0; k < nt; k++) n = n * 3 + t[tq1Element(byte, k)];
    if (nt === 4) n *= 3;
    dst[o + byte] = packTrits(n);
  }
}

export const TQ1_0: QuantTraits = {
  layout: typeLayout(GgmlType.TQ1_0),
  imatrix: 'ignored',
  quantizeRowRef(src, dst, n) {
    const nb = n / QK_K;
    for (let b = 0; b < nb; b++) {
      const o = b * BLOCK_BYTES;
      ternaryTrits(src, b * QK_K, T, dst, o + 52);
      packTq1(T, dst, o);
    }
  },
  dequantizeRow(src, dst, n) {
    const nb = n / QK_K;
    for (let b = 0; b < nb; b++) {
      const o = b * BLOCK_BYTES;
      const hb = src[o + 52] | (src[o + 53] << 8);
      const d = F16_TO_F32[hb];
      const y0 = b * QK_K;
      for (let byte = 0; byte < 52; byte++) {
        let pow3 = 1;
        for (let k = 0; k < (byte < 48 ? 5 : 4); k++) {
          const q = (src[o + byte] * pow3) & 255;
          dst[y0 + tq1Element(byte, k)] = (((q * 3) >> 8) - 1) * d;
          pow3 *= 3;
        }
      }
      if (!Number.isFinite(d)) fixNaNs(dst, y0, QK_K, F16_TO_F32_BITS[hb]);
    }
  },
  gpu: { wgsl: tq1_0Wgsl, libs: ['ternary'] },
  gpuDequant,
};
