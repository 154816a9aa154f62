/**
 * llama.cpp's `ggml_quantize_chunk` (the oracle library, test/oracle/llama-cpp.ts) on N threads, scheduled the
 * way llama_model_quantize schedules one tensor: chunks of at least 32·512 values (whole rows), taken one at a
 * time from a shared row counter by min(N, chunks) threads. Each thread is a worker_thread that loads the
 * library through koffi once; the rows and the output live in SharedArrayBuffers, so nothing is copied.
 * The worker is inline code (no separate bundle to build); it is only used by the benchmarks.
 */
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import path from 'node:path';
import { libDir, oracleUnavailable } from '../../test/oracle/llama-cpp.js';

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const koffi = require(workerData.koffi);
const base = koffi.load(workerData.lib);
const chunk = base.func('size_t ggml_quantize_chunk(int type, const float *src, void *dst, int64_t start, int64_t nrows, int64_t n_per_row, const float *imatrix)');
parentPort.on('message', (m) => {
  try {
    const { type, src, dst, imatrix, counter, nrows, nPerRow, rowBytes, chunkRows } = m;
    const x = new Float32Array(src);
    const y = new Uint8Array(dst);
    const im = imatrix ? new Float32Array(imatrix) : null;
    const next = new Int32Array(counter);
    for (;;) {
      const row = Atomics.add(next, 0, chunkRows);
      if (row >= nrows) break;
      const n = Math.min(chunkRows, nrows - row);
      chunk(type, x.subarray(row * nPerRow, (row + n) * nPerRow), y.subarray(row * rowBytes, (row + n) * rowBytes), 0, n, nPerRow, im);
    }
    parentPort.postMessage({ ok: true });
  } catch (e) {
    parentPort.postMessage({ error: String(e && e.stack || e) });
  }
});
`;

/** llama_model_quantize's chunk: whole rows, at least 32·512 values */
export function llamaChunkRows(nPerRow: number): number {
  const min = 32 * 512;
  return nPerRow >= min ? 1 : Math.ceil(min / nPerRow);
}

export class OracleThreads {
  private readonly workers: Worker[];

  private constructor(readonly threads: number, lib: string, koffi: string) {
    this.workers = Array.from({ length: threads }, () => new Worker(WORKER, { eval: true, workerData: { lib, koffi } }));
  }

  /** null (and `oracleUnavailable` says why) where the oracle library or koffi is missing */
  static open(threads: number): OracleThreads | null {
    const dir = libDir();
    if (!dir) return null;
    let koffi: string;
    try {
      koffi = createRequire(import.meta.url).resolve('koffi');
    } catch (e) {
      console.log(`${oracleUnavailable || 'llama.cpp oracle unavailable'}: koffi not found (${(e as Error).message})`);
      return null;
    }
    return new OracleThreads(threads, path.join(dir, 'libggml-base.so'), koffi);
  }

  /**
   * Quantizes `nrows` rows of `src` (a Float32Array over a SharedArrayBuffer, from offset 0) into `dst` (over a
   * SharedArrayBuffer, rowBytes per row) on min(threads, chunks) threads; resolves when all are done.
   */
  async quantize(type: number, src: Float32Array, dst: Uint8Array, nrows: number, nPerRow: number, rowBytes: number,
    imatrix: Float32Array | null): Promise<void> {
    const chunkRows = llamaChunkRows(nPerRow);
    const use = Math.max(1, Math.min(this.threads, Math.ceil(nrows / chunkRows)));
    const counter = new SharedArrayBuffer(4);
    const msg = { type, src: src.buffer, dst: dst.buffer, imatrix: imatrix?.buffer ?? null, counter, nrows, nPerRow, rowBytes, chunkRows };
    await Promise.all(this.workers.slice(0, use).map((w) => new Promise<void>((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      w.once('error', onError);
      w.once('message', (m: { ok?: boolean; error?: string }) => {
        w.off('error', onError);
        if (m.error) reject(new Error(m.error));
        else resolve();
      });
      w.postMessage(msg);
    })));
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** a copy of `a` in a SharedArrayBuffer (the oracle threads read it in place) */
export function shared(a: Float32Array): Float32Array {
  const s = new Float32Array(new SharedArrayBuffer(a.byteLength));
  s.set(a);
  return s;
}
