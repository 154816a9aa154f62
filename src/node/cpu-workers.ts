/**
 * Node CPU backend: a pool of worker_threads, each running the CPU reference. A job's rows are split
 * into contiguous parts, one per thread; rows are independent in ggml, so the bytes never depend on the
 * thread count.
 */
import { Worker } from 'node:worker_threads';
import fs from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { GgmlType } from '../core/ggml-type.js';
import { quantType } from '../quant/registry.js';
import { notImplemented, quantizeOnCpu, type QuantizeBackend, type QuantizeJob } from '../pipeline/backend.js';

/** the bundled worker: beside this module in dist/, or dist/ when running from the TS sources (tests) */
function workerUrl(): URL {
  const beside = new URL('./quantize-worker.js', import.meta.url);
  if (fs.existsSync(fileURLToPath(beside))) return beside;
  const dist = new URL('../../dist/quantize-worker.js', import.meta.url);
  if (fs.existsSync(fileURLToPath(dist))) return dist;
  throw new Error('dist/quantize-worker.js is missing: run `npm run build` first');
}

interface Pending { resolve(out: Uint8Array): void; reject(e: Error): void }

export class CpuWorkerBackend implements QuantizeBackend {
  readonly kind = 'cpu' as const;
  readonly description: string;
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;

  constructor(readonly nthreads = os.availableParallelism()) {
    this.description = `cpu (${nthreads} thread${nthreads === 1 ? '' : 's'})`;
    if (nthreads > 1) {
      const url = workerUrl();
      for (let i = 0; i < nthreads; i++) {
        const w = new Worker(url);
        w.on('message', (m: { id: number; out?: Uint8Array; error?: string }) => {
          const p = this.pending.get(m.id);
          if (!p) return;
          this.pending.delete(m.id);
          if (m.error !== undefined) p.reject(new Error(m.error));
          else p.resolve(m.out!);
        });
        w.on('error', (e) => { for (const p of this.pending.values()) p.reject(e); this.pending.clear(); });
        this.workers.push(w);
      }
    }
  }

  supports(type: GgmlType): boolean {
    return quantType(type) !== undefined;
  }

  async quantize(job: QuantizeJob): Promise<Uint8Array> {
    const q = quantType(job.type);
    if (!q) throw notImplemented(job.type, 'cpu');
    if (this.workers.length === 0 || job.nrows === 1) return quantizeOnCpu(job);
    const parts = Math.min(this.workers.length, job.nrows);
    const rowBytes = (job.nPerRow / q.layout.blockSize) * q.layout.typeSize;
    const out = new Uint8Array(rowBytes * job.nrows);
    const tasks: Promise<void>[] = [];
    let row = 0;
    for (let k = 0; k < parts; k++) {
      const n = Math.floor(job.nrows / parts) + (k < job.nrows % parts ? 1 : 0);
      const first = row;
      const src = job.src.slice(first * job.nPerRow, (first + n) * job.nPerRow);
      tasks.push(this.run(k, { ...job, src, nrows: n }).then((bytes) => out.set(bytes, first * rowBytes)));
      row += n;
    }
    await Promise.all(tasks);
    return out;
  }

  private run(worker: number, job: QuantizeJob): Promise<Uint8Array> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.workers[worker].postMessage({ id, job }, [job.src.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }
}
