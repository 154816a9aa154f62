// Runs one ggml_quantize_chunk call in its own process, for inputs where llama.cpp is expected to abort
// (GGML_ASSERT); abort-probe-run.ts spawns it and reports how it ended. Plain JS so it starts fast.
// argv: <dir of libggml-base.so> <input file>; input (little-endian): i32 type, i32 nrows, i32 nPerRow,
// i32 hasImatrix, nrows*nPerRow f32, then nPerRow f32 when hasImatrix. Prints "returned" if the call returned.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const koffi = createRequire(import.meta.url)('koffi');
const [dir, file] = process.argv.slice(2);
const buf = fs.readFileSync(file);
const [type, nrows, nPerRow, hasImatrix] = new Int32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + 16));
const n = nrows * nPerRow;
const src = new Float32Array(buf.buffer.slice(buf.byteOffset + 16, buf.byteOffset + 16 + 4 * n));
const im = hasImatrix ? new Float32Array(buf.buffer.slice(buf.byteOffset + 16 + 4 * n)) : null;
const base = koffi.load(path.join(dir, 'libggml-base.so'));
const chunk = base.func('size_t ggml_quantize_chunk(int type, const float *src, _Out_ void *dst, int64_t start, int64_t nrows, int64_t n_per_row, const float *imatrix)');
const rowSize = base.func('size_t ggml_row_size(int type, int64_t ne)');
chunk(type, src, new Uint8Array(Number(rowSize(type, nPerRow)) * nrows), 0, nrows, nPerRow, im);
console.log('returned');
