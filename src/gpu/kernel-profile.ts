/**
 * Device time of each compute pass, per kernel (issue 8, item 3), from WebGPU timestamp queries. Off unless
 * profiling is asked for (WEBGPU_QUANTIZE_PROFILE=1, `--profile` in bench/quantize-throughput.ts, or the
 * quantizer's `profileKernels` option): then the device is requested with the `timestamp-query` feature
 * where the adapter has it (Dawn in Node also turns its timestamp quantization off, see
 * src/node/gpu-device.ts), each chunk's passes write a begin and an end timestamp into its slot's query set,
 * and the differences are summed per kernel: the convert pass (stored F16/BF16/F32 -> f32), the row
 * statistic pass and the quantize kernel, per quantized type. Without the feature, the report is one line
 * saying so (the host stages of stage-clock.ts are still printed).
 * Browser-safe. Nothing here runs when profiling is off: the quantizer holds no profile then.
 */
import { BUFFER_COPY_DST, BUFFER_COPY_SRC, BUFFER_MAP_READ, MAP_MODE_READ } from './webgpu-consts.js';

const BUFFER_QUERY_RESOLVE = 0x0200;
/** passes per chunk at most: convert, row statistic, quantize */
export const MAX_PASSES_PER_CHUNK = 3;

export interface KernelTotals {
  /** compute passes timed */
  passes: number;
  /** summed device time of those passes, nanoseconds */
  ns: number;
  /** blocks of the quantized type those passes covered */
  blocks: number;
}

export class KernelProfile {
  private readonly totals = new Map<string, KernelTotals>();

  /**
   * @param timestamps the device has `timestamp-query` (else only the one-line note is reported)
   * @param adapterName for the note
   */
  constructor(readonly timestamps: boolean, readonly adapterName: string) {}

  add(kernel: string, ns: number, blocks: number): void {
    let t = this.totals.get(kernel);
    if (!t) this.totals.set(kernel, (t = { passes: 0, ns: 0, blocks: 0 }));
    t.passes++;
    t.ns += ns;
    t.blocks += blocks;
  }

  reset(): void {
    this.totals.clear();
  }

  /** A copy of the totals per kernel name, in the order the kernels first ran. */
  snapshot(): Map<string, KernelTotals> {
    return new Map([...this.totals].map(([k, v]) => [k, { ...v }]));
  }

  /**
   * The table: one row per kernel (passes, summed device ms, blocks, device ns per block, share of `wallMs`),
   * slowest first, and the total; or the one-line note when the adapter has no timestamp queries.
   */
  lines(wallMs: number): string[] {
    if (!this.timestamps) {
      return [`profile: kernels: ${this.adapterName} has no timestamp-query feature: no per-kernel device times (the host stages above are all there is)`];
    }
    const rows = [...this.totals].sort((a, b) => b[1].ns - a[1].ns);
    const w = Math.max(24, ...rows.map(([k]) => k.length));
    const row = (name: string, passes: string, ms: string, blocks: string, perBlock: string, share: string) =>
      `profile: ${name.padEnd(w)} ${passes.padStart(7)} ${ms.padStart(11)} ${blocks.padStart(11)} ${perBlock.padStart(11)} ${share.padStart(10)}`;
    const share = (ns: number) => (wallMs > 0 ? `${((100 * ns) / 1e6 / wallMs).toFixed(1)}%` : '-');
    const out = [row('kernel (timestamp-query)', 'passes', 'device ms', 'blocks', 'ns/block', 'of wall')];
    if (rows.length === 0) out.push(`profile: (no compute pass ran)`);
    let ns = 0;
    let passes = 0;
    for (const [k, t] of rows) {
      ns += t.ns;
      passes += t.passes;
      out.push(row(k, String(t.passes), (t.ns / 1e6).toFixed(1), String(t.blocks), t.blocks > 0 ? (t.ns / t.blocks).toFixed(1) : '-', share(t.ns)));
    }
    out.push(row('all kernels', String(passes), (ns / 1e6).toFixed(1), '', '', share(ns)));
    return out;
  }
}

/**
 * One slot's timestamp queries: a query set for the passes of one chunk, resolved and copied to a small
 * readback buffer in the chunk's own command buffer. Reused only once the previous chunk's times were read
 * (the slot is, see buffers.ts).
 */
export class PassTimer {
  private readonly querySet: GPUQuerySet;
  private readonly resolveBuffer: GPUBuffer;
  private readonly readBuffer: GPUBuffer;
  private names: string[] = [];

  constructor(device: GPUDevice, label: string) {
    const n = 2 * MAX_PASSES_PER_CHUNK;
    this.querySet = device.createQuerySet({ label: `webgpu-quantize timestamps ${label}`, type: 'timestamp', count: n });
    this.resolveBuffer = device.createBuffer({ label: `webgpu-quantize timestamps ${label}`, size: 8 * n, usage: BUFFER_QUERY_RESOLVE | BUFFER_COPY_SRC });
    this.readBuffer = device.createBuffer({ label: `webgpu-quantize timestamps readback ${label}`, size: 8 * n, usage: BUFFER_MAP_READ | BUFFER_COPY_DST });
  }

  /** Starts a chunk: forget the previous chunk's passes (and a mapping a failed chunk left behind). */
  begin(): void {
    if (this.readBuffer.mapState !== 'unmapped') this.readBuffer.unmap();
    this.names = [];
  }

  /** The timestampWrites of the chunk's next pass, the one of `kernel`. */
  pass(kernel: string): GPUComputePassTimestampWrites {
    if (this.names.length >= MAX_PASSES_PER_CHUNK) throw new Error(`more than ${MAX_PASSES_PER_CHUNK} timed passes in one chunk`);
    const i = 2 * this.names.length;
    this.names.push(kernel);
    return { querySet: this.querySet, beginningOfPassWriteIndex: i, endOfPassWriteIndex: i + 1 };
  }

  /** Encodes the resolve and the copy to the readback buffer (after the chunk's passes). */
  resolve(enc: GPUCommandEncoder): void {
    const n = 2 * this.names.length;
    enc.resolveQuerySet(this.querySet, 0, n, this.resolveBuffer, 0);
    enc.copyBufferToBuffer(this.resolveBuffer, 0, this.readBuffer, 0, 8 * n);
  }

  /** After the submit: maps the times and adds each pass's duration to `profile`, `blocks` blocks each. */
  async collect(profile: KernelProfile, blocks: number): Promise<void> {
    const names = this.names;
    const n = 2 * names.length;
    await this.readBuffer.mapAsync(MAP_MODE_READ, 0, 8 * n);
    try {
      const t = new BigUint64Array(this.readBuffer.getMappedRange(0, 8 * n));
      for (const [i, name] of names.entries()) {
        // an end before its begin (a timer reset, or a driver that wrote nothing) counts as 0
        const d = t[2 * i + 1] > t[2 * i] ? Number(t[2 * i + 1] - t[2 * i]) : 0;
        profile.add(name, d, blocks);
      }
    } finally {
      this.readBuffer.unmap();
    }
  }

  destroy(): void {
    if (this.readBuffer.mapState !== 'unmapped') this.readBuffer.unmap();
    this.querySet.destroy();
    this.resolveBuffer.destroy();
    this.readBuffer.destroy();
  }
}
