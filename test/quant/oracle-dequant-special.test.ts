/**
 * Every implemented type's CPU dequantizer (`dequantizeRows`) against llama.cpp v0.5.0's own
 * `dequantize_row_<type>` (`ggml_fp16_to_fp32_row` / `ggml_bf16_to_fp32_row` for F16 / BF16) from
 * libggml-base.so, binary32 bit patterns compared exactly (NaN signs and payloads included), on blocks whose
 * scale fields hold special values (test/data/special-scales.ts: ±0, subnormals, the largest half, ±Inf,
 * quiet and signalling NaNs of both signs with payloads, in each scale and min field, and every d × min pair)
 * and on random blocks; F16 and BF16 on all 65536 bit patterns.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { requireOracle } from '../oracle/require-oracle.js';
import { dequantizeRows, implementedTypes } from '../../src/quant/registry.js';
import { scaleFields, specialBlocks } from '../data/special-scales.js';
import { bitsOf } from './oracle-cases.js';

const oracle = requireOracle();
const RANDOM_BLOCKS = 256;

const counts = new Map<string, { values: number; nan: number; inf: number }>();
afterAll(() => {
  if (!oracle) return;
  const total = [...counts.values()].reduce((s, c) => s + c.values, 0);
  console.log(`special-scale dequantize oracle: ${total} values bit-identical over ${counts.size} types; per type (values / NaN / ±Inf): ` +
    [...counts].map(([name, c]) => `${name} ${c.values}/${c.nan}/${c.inf}`).join(', '));
});

describe.skipIf(!oracle)('dequantize_row_* with special scales, bit for bit', () => {
  it('covers all 26 implemented types', () => {
    expect(implementedTypes().length).toBe(26);
  });

  for (const q of implementedTypes()) {
    const { type, name, blockSize } = q.layout;
    it(name, () => {
      const { bytes, n, forced } = specialBlocks(type, RANDOM_BLOCKS, type * 7 + 3);
      expect(n).toBe(blockSize === 1 ? 65536 : (forced + RANDOM_BLOCKS) * blockSize);
      const ours = new Float32Array(n).fill(12345);
      dequantizeRows(q, bytes, ours, n);
      const theirs = oracle!.dequantizeRow(type, bytes, n);
      const a = bitsOf(ours);
      const b = bitsOf(theirs);
      let diff = 0;
      const firsts: string[] = [];
      for (let i = 0; i < n; i++) {
        if (a[i] !== b[i]) {
          if (firsts.length < 4) {
            const blk = Math.floor(i / blockSize);
            const scales = scaleFields(type).map((fl) => `${fl.name} 0x${fl.get(bytes, blk).toString(16)}`).join(', ');
            firsts.push(`#${i} (block ${blk}${blk < forced ? ', forced' : ''}${scales ? `, ${scales}` : ''}): ours 0x${a[i].toString(16)} llama.cpp 0x${b[i].toString(16)}`);
          }
          diff++;
        }
      }
      let nan = 0;
      let inf = 0;
      for (let i = 0; i < n; i++) {
        if (theirs[i] !== theirs[i]) nan++;
        else if (Math.abs(theirs[i]) === Infinity) inf++;
      }
      counts.set(name, { values: n, nan, inf });
      expect(diff, `${name}: ${diff} of ${n} values differ: ${firsts.join('; ')}`).toBe(0);
      // the forced blocks reached the non-finite cases (MXFP4's E8M0 scale is never NaN: Inf by overflow only)
      expect(inf, `${name}: no ±Inf value`).toBeGreaterThan(0);
      if (name !== 'mxfp4') expect(nan, `${name}: no NaN value`).toBeGreaterThan(0);
    });
  }
});
