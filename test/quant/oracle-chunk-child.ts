/**
 * Runs one ggml_quantize_chunk call in its own process, for inputs where llama.cpp aborts (GGML_ASSERT)
 * instead of returning: `node --import tsx oracle-chunk-child.ts <json>` with {type, file, nrows, nPerRow,
 * imatrixFile?} (raw little-endian f32 files); prints the sha256 of the output when the call returns at all.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { loadOracle, oracleUnavailable } from '../oracle/llama-cpp.js';

const { type, file, nrows, nPerRow, imatrixFile } = JSON.parse(process.argv[2]);
const oracle = loadOracle();
if (!oracle) {
  console.error(oracleUnavailable);
  process.exit(3);
}
const f32 = (p: string) => { const b = fs.readFileSync(p); return new Float32Array(b.buffer, b.byteOffset, b.length / 4); };
const out = oracle.quantizeChunk(type, f32(file), nrows, nPerRow, imatrixFile ? f32(imatrixFile) : null);
process.stdout.write(createHash('sha256').update(out).digest('hex'));
