/**
 * The in-memory output for browsers without the File System Access API. Chunks are folded into Blobs
 * every ROLL_BYTES so that the JavaScript heap holds at most one roll: browsers keep Blob data outside
 * the heap (Chromium and Firefox spill large ones to disk), and the final Blob is assembled from the
 * rolls without another copy of the whole output.
 */
import type { ByteSink } from '../src/formats/byte-source.js';

const ROLL_BYTES = 64 * 1024 * 1024;

export class BlobSink implements ByteSink {
  private parts: Blob[] = [];
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private written = 0;
  private state: 'open' | 'closed' | 'aborted' = 'open';

  constructor(readonly name: string) {}

  get bytesWritten(): number {
    return this.written;
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.state !== 'open') throw new Error(`${this.name}: write after ${this.state === 'closed' ? 'close' : 'abort'}`);
    // copy: the pipeline reuses its slab buffers
    this.pending.push(new Uint8Array(chunk));
    this.pendingBytes += chunk.length;
    this.written += chunk.length;
    if (this.pendingBytes >= ROLL_BYTES) this.roll();
  }

  private roll(): void {
    if (this.pending.length) this.parts.push(new Blob(this.pending as BlobPart[]));
    this.pending = [];
    this.pendingBytes = 0;
  }

  async close(): Promise<void> {
    this.roll();
    this.state = 'closed';
  }

  async abort(): Promise<void> {
    this.state = 'aborted';
    this.parts = [];
    this.pending = [];
  }

  /** the whole output; only after close() */
  toBlob(): Blob {
    if (this.state !== 'closed') throw new Error(`${this.name}: output is not complete`);
    return new Blob(this.parts, { type: 'application/octet-stream' });
  }
}
