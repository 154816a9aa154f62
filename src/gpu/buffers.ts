/**
 * GPU buffers for chunks in flight. A slot holds everything one chunk needs (input, output, readback,
 * parameters, row statistics); there are `inFlight` slots, so the GPU memory and the host staging are
 * bounded whatever the tensor size. A slot returns to the pool only after its readback was mapped and
 * consumed, so no buffer is ever destroyed, regrown or collected while the GPU may still use it.
 */
import { BUFFER_COPY_DST, BUFFER_COPY_SRC, BUFFER_MAP_READ, BUFFER_STORAGE, BUFFER_UNIFORM } from './webgpu-consts.js';

export const PARAMS_BYTES = 32;

export class Slot {
  src!: GPUBuffer;
  /** the chunk's output bytes, then (at fallbackOffset) the fallback bitmask */
  dst!: GPUBuffer;
  read!: GPUBuffer;
  rowStats!: GPUBuffer;
  readonly uniform: GPUBuffer;
  private srcSize = 0;
  private dstSize = 0;
  private rowStatsSize = 0;
  /** set when a chunk failed with this slot: its buffers are replaced before reuse */
  broken = false;

  constructor(private readonly device: GPUDevice, readonly index: number) {
    this.uniform = device.createBuffer({ label: `webgpu-quantize params #${index}`, size: PARAMS_BYTES, usage: BUFFER_UNIFORM | BUFFER_COPY_DST });
  }

  /**
   * Grows the buffers to at least these sizes (bytes, multiples of 4). Only called on an idle slot.
   * `dstBytes` covers the output and the fallback bitmask, which share one binding-sized buffer.
   */
  ensure(srcBytes: number, dstBytes: number, rowStatsBytes: number): void {
    const d = this.device;
    if (this.broken) {
      this.destroyData();
      this.broken = false;
    }
    if (srcBytes > this.srcSize) {
      this.src?.destroy();
      this.src = d.createBuffer({ label: `webgpu-quantize src #${this.index}`, size: srcBytes, usage: BUFFER_STORAGE | BUFFER_COPY_DST });
      this.srcSize = srcBytes;
    }
    if (dstBytes > this.dstSize) {
      this.dst?.destroy();
      this.read?.destroy();
      this.dst = d.createBuffer({ label: `webgpu-quantize dst #${this.index}`, size: dstBytes, usage: BUFFER_STORAGE | BUFFER_COPY_SRC | BUFFER_COPY_DST });
      this.read = d.createBuffer({ label: `webgpu-quantize readback #${this.index}`, size: dstBytes, usage: BUFFER_MAP_READ | BUFFER_COPY_DST });
      this.dstSize = dstBytes;
    }
    if (rowStatsBytes > this.rowStatsSize) {
      this.rowStats?.destroy();
      this.rowStats = d.createBuffer({ label: `webgpu-quantize row stats #${this.index}`, size: rowStatsBytes, usage: BUFFER_STORAGE | BUFFER_COPY_DST });
      this.rowStatsSize = rowStatsBytes;
    }
  }

  private destroyData(): void {
    if (this.read?.mapState === 'mapped') this.read.unmap();
    for (const b of [this.src, this.dst, this.read, this.rowStats]) b?.destroy();
    this.srcSize = this.dstSize = this.rowStatsSize = 0;
  }

  destroy(): void {
    this.destroyData();
    this.uniform.destroy();
  }
}

/** A fixed set of slots handed out in FIFO order. */
export class SlotPool {
  private readonly free: Slot[] = [];
  private readonly all: Slot[] = [];
  private readonly waiters: ((s: Slot) => void)[] = [];

  constructor(private readonly device: GPUDevice, readonly size: number) {}

  acquire(): Promise<Slot> {
    const s = this.free.pop();
    if (s) return Promise.resolve(s);
    if (this.all.length < this.size) {
      const slot = new Slot(this.device, this.all.length);
      this.all.push(slot);
      return Promise.resolve(slot);
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  release(slot: Slot): void {
    const w = this.waiters.shift();
    if (w) w(slot);
    else this.free.push(slot);
  }

  destroyAll(): void {
    for (const s of this.all) s.destroy();
    this.all.length = 0;
    this.free.length = 0;
  }
}
