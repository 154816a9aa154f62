/**
 * Node file I/O behind the browser-safe ByteSource/ByteSink interfaces: a FileHandle source, a model
 * opener that finds split shards on disk, and an output sink that writes `<out>.tmp-<pid>` beside the
 * output and renames it into place only on success, so a failed or interrupted run never leaves a
 * half-written model under the real name.
 */
import fs from 'node:fs';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { OutputError, QuantizeError } from '../errors.js';
import type { ByteSink, ByteSource } from '../formats/byte-source.js';
import { openGgufModel, type GgufModel } from '../formats/gguf-model.js';

export class FileSource implements ByteSource {
  private constructor(private readonly fh: FileHandle, readonly name: string, readonly size: number) {}

  static async open(path: string): Promise<FileSource> {
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (e) {
      throw new QuantizeError(`${path}: cannot open: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const { size } = await fh.stat();
    return new FileSource(fh, path, size);
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const n = Math.max(0, Math.min(length, this.size - offset));
    const buf = new Uint8Array(n);
    let done = 0;
    while (done < n) {
      const { bytesRead } = await this.fh.read(buf, done, n - done, offset + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done === n ? buf : buf.subarray(0, done);
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

/** Open a GGUF model from its (first) file; the other shards of a split model are found beside it. */
export async function openGgufModelFile(path: string): Promise<GgufModel> {
  return openGgufModel(await FileSource.open(path), (p) => FileSource.open(p));
}

// ---------------------------------------------------------------------------------------------------
// output

/** Temporary files to delete if the process is interrupted. */
const liveTemps = new Set<string>();
let handlersInstalled = false;

function onSignal(signal: NodeJS.Signals): void {
  for (const p of liveTemps) {
    try {
      fs.unlinkSync(p);
    } catch {
      // already gone
    }
  }
  liveTemps.clear();
  process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
}

function onExit(): void {
  for (const p of liveTemps) {
    try {
      fs.unlinkSync(p);
    } catch {
      // already gone
    }
  }
}

/** The handlers exist only while a temp file does, so the process's default signal behaviour is kept otherwise. */
function track(path: string): void {
  liveTemps.add(path);
  if (!handlersInstalled) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    process.on('exit', onExit);
    handlersInstalled = true;
  }
}

function untrack(path: string): void {
  liveTemps.delete(path);
  if (liveTemps.size === 0 && handlersInstalled) {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', onExit);
    handlersInstalled = false;
  }
}

function writeError(file: string, e: unknown, bytesWritten: number): OutputError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new OutputError(file, `disk full (${code}) after writing ${bytesWritten} bytes`, bytesWritten);
  }
  return new OutputError(file, `write failed (${code ?? (e as Error).message}) after writing ${bytesWritten} bytes`, bytesWritten);
}

export class FileSink implements ByteSink {
  private written = 0;
  private finished = false;

  private constructor(private readonly fh: FileHandle, readonly name: string, readonly tempPath: string) {}

  /** Start writing `outPath` (through `<outPath>.tmp-<pid>`). */
  static async create(outPath: string): Promise<FileSink> {
    const temp = `${outPath}.tmp-${process.pid}`;
    let fh: FileHandle;
    try {
      fh = await open(temp, 'w');
    } catch (e) {
      throw new OutputError(outPath, `cannot create ${temp} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    track(temp);
    return new FileSink(fh, outPath, temp);
  }

  get bytesWritten(): number {
    return this.written;
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.finished) throw new OutputError(this.name, 'write after close');
    try {
      let done = 0;
      while (done < chunk.length) {
        const { bytesWritten } = await this.fh.write(chunk, done, chunk.length - done);
        done += bytesWritten;
        this.written += bytesWritten;
      }
    } catch (e) {
      const err = writeError(this.name, e, this.written);
      await this.abort();
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.finished) return;
    try {
      await this.fh.close();
      this.finished = true;
      await rename(this.tempPath, this.name);
      untrack(this.tempPath);
    } catch (e) {
      const err = e instanceof OutputError ? e : writeError(this.name, e, this.written);
      this.finished = false;
      await this.abort();
      throw err;
    }
  }

  async abort(): Promise<void> {
    if (!liveTemps.has(this.tempPath)) return;
    if (!this.finished) {
      this.finished = true;
      await this.fh.close().catch(() => undefined);
    }
    await unlink(this.tempPath).catch(() => undefined);
    untrack(this.tempPath);
  }
}
