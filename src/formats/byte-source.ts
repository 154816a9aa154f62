/**
 * Random-access byte sources and sequential byte sinks, the only I/O the format code sees. Browser-safe:
 * Node file implementations live in `src/node/file-io.ts`.
 *
 * Offsets are plain numbers: they are exact up to 2^53 bytes, far past any model, while 32-bit
 * arithmetic would break at 4 GiB.
 */

export interface ByteSource {
  /** file name or path, used in error messages and to find split shards */
  readonly name: string;
  readonly size: number;
  /** `length` bytes from `offset`; fewer only where the source ends first. */
  read(offset: number, length: number): Promise<Uint8Array>;
  close?(): Promise<void>;
}

export interface ByteSink {
  readonly name: string;
  readonly bytesWritten: number;
  write(chunk: Uint8Array): Promise<void>;
  /** Finish successfully (a file sink renames its temporary file into place). */
  close(): Promise<void>;
  /** Discard everything written (a file sink deletes its temporary file). Safe to call twice. */
  abort(): Promise<void>;
}

/** A source over bytes already in memory (tests, imatrix files, small models). */
export class MemorySource implements ByteSource {
  readonly size: number;
  constructor(readonly bytes: Uint8Array, readonly name = 'memory') {
    this.size = bytes.length;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    return this.bytes.subarray(Math.min(offset, this.size), Math.min(offset + length, this.size));
  }
}

/** A source over a Blob or File: each read slices the blob, so a multi-GiB model is never loaded whole. */
export class BlobSource implements ByteSource {
  readonly size: number;
  readonly name: string;
  constructor(private readonly blob: Blob, name?: string) {
    this.size = blob.size;
    this.name = name ?? ((blob as { name?: string }).name || 'blob');
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    const end = Math.min(offset + length, this.size);
    if (end <= offset) return new Uint8Array(0);
    return new Uint8Array(await this.blob.slice(offset, end).arrayBuffer());
  }
}

/** Collects everything in memory; `toBytes()` / `toBlob()` give the result (browser downloads, tests). */
export class MemorySink implements ByteSink {
  private chunks: Uint8Array[] = [];
  private written = 0;
  private done = false;
  constructor(readonly name = 'memory') {}
  get bytesWritten(): number {
    return this.written;
  }
  async write(chunk: Uint8Array): Promise<void> {
    if (this.done) throw new Error(`${this.name}: write after close`);
    // copy: callers reuse their slab buffers
    this.chunks.push(new Uint8Array(chunk));
    this.written += chunk.length;
  }
  async close(): Promise<void> {
    this.done = true;
  }
  async abort(): Promise<void> {
    this.done = true;
    this.chunks = [];
  }
  toBytes(): Uint8Array {
    const out = new Uint8Array(this.written);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
  toBlob(type = 'application/octet-stream'): Blob {
    return new Blob(this.chunks as BlobPart[], { type });
  }
}

/** A sink over a WHATWG WritableStream (File System Access API `createWritable()`, streams in Node). */
export class StreamSink implements ByteSink {
  private writer: WritableStreamDefaultWriter<Uint8Array>;
  private written = 0;
  constructor(stream: WritableStream<Uint8Array>, readonly name = 'stream') {
    this.writer = stream.getWriter();
  }
  get bytesWritten(): number {
    return this.written;
  }
  async write(chunk: Uint8Array): Promise<void> {
    await this.writer.write(new Uint8Array(chunk));
    this.written += chunk.length;
  }
  async close(): Promise<void> {
    await this.writer.close();
  }
  async abort(): Promise<void> {
    await this.writer.abort().catch(() => undefined);
  }
}
