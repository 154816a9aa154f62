/**
 * GPU buffers for chunks in flight. A slot holds everything one chunk needs (input, output, readback,
 * parameters, row statistics); there are `inFlight` slots, so the GPU memory and the host staging are
 * bounded whatever the tensor size. A slot returns to the pool only after its readback was mapped and
 * consumed, so no buffer is ever destroyed, regrown or collected while the GPU may still use it.
 */
import { BUFFER_COPY_DST, BUFFER_COPY_SRC, BUFFER_MAP_READ, BUFFER_STORAGE, BUFFER_UNIFORM } from './webgpu-consts.js';
import { CONVERT_PARAMS_BYTES } from './convert.js';
import type { PassTimer } from './kernel-profile.js';

export const PARAMS_BYTES = 32;

export class Slot {
  /** the values as f32 bits, read by the kernels (binding 1) */
  src!: GPUBuffer;
  /** the values as the file stores them, when that is F16/BF16 (widened into src on the device) */
  stored!: GPUBuffer;
  /** the chunk's output bytes, then the fallback bitmask and the first-non-finite word (chunkLayout) */
  dst!: GPUBuffer;
  read!: GPUBuffer;
  rowStats!: GPUBuffer;
  readonly uniform: GPUBuffer;
  readonly convertUniform: GPUBuffer;
  /** the timestamp queries of the slot's chunk, when kernels are profiled (kernel-profile.ts) */
  timer?: PassTimer;
  private srcSize = 0;
  private storedSize = 0;
  private dstSize = 0;
  private rowStatsSize = 0;
  /** set when a chunk failed with this slot: its buffers are replaced before reuse */
  broken = false;

  constructor(private readonly device: GPUDevice, readonly index: number) {
    this.uniform = device.createBuffer({ label: `webgpu-quantize params #${index}`, size: PARAMS_BYTES, usage: BUFFER_UNIFORM | BUFFER_COPY_DST });
    this.convertUniform = device.createBuffer({ label: `webgpu-quantize convert params #${index}`, size: CONVERT_PARAMS_BYTES, usage: BUFFER_UNIFORM | BUFFER_COPY_DST });
  }

  /**
   * Grows the buffers to at least these sizes (bytes, multiples of 4). Only called on an idle slot.
   * `dstBytes` covers the output, the fallback bitmask and the status word, which share one buffer;
   * `storedBytes` is 0 when the kernels read the uploaded bytes directly (F32).
   */
  ensure(srcBytes: number, storedBytes: number, dstBytes: number, rowStatsBytes: number): void {
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
    if (storedBytes > this.storedSize) {
      this.stored?.destroy();
      this.stored = d.createBuffer({ label: `webgpu-quantize stored #${this.index}`, size: storedBytes, usage: BUFFER_STORAGE | BUFFER_COPY_DST });
      this.storedSize = storedBytes;
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
    for (const b of [this.src, this.stored, this.dst, this.read, this.rowStats]) b?.destroy();
    this.srcSize = this.storedSize = this.dstSize = this.rowStatsSize = 0;
  }

  destroy(): void {
    this.destroyData();
    this.timer?.destroy();
    this.uniform.destroy();
    this.convertUniform.destroy();
  }
}

/**
 * A fixed set of slots. A freed slot goes to the waiter of the oldest request (lowest `order`), FIFO
 * within a request: with several slabs in flight the device finishes the oldest first, which is the one
 * the in-order writer is waiting for, while the later ones wait with their rows already read.
 */
export class SlotPool {
  private readonly free: Slot[] = [];
  private readonly all: Slot[] = [];
  private readonly waiters: { order: number; seq: number; resolve: (s: Slot) => void }[] = [];
  private seq = 0;

  constructor(private readonly device: GPUDevice, readonly size: number) {}

  acquire(order = 0): Promise<Slot> {
    const s = this.free.pop();
    if (s) return Promise.resolve(s);
    if (this.all.length < this.size) {
      const slot = new Slot(this.device, this.all.length);
      this.all.push(slot);
      return Promise.resolve(slot);
    }
    return new Promise((resolve) => this.waiters.push({ order, seq: this.seq++, resolve }));
  }

  release(slot: Slot): void {
    if (this.waiters.length === 0) {
      this.free.push(slot);
      return;
    }
    let best = 0;
    for (let i = 1; i < this.waiters.length; i++) {
      const w = this.waiters[i], b = this.waiters[best];
      if (w.order < b.order || (w.order === b.order && w.seq < b.seq)) best = i;
    }
    this.waiters.splice(best, 1)[0].resolve(slot);
  }

  destroyAll(): void {
    for (const s of this.all) s.destroy();
    this.all.length = 0;
    this.free.length = 0;
  }
}
