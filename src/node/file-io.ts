/**
 * Node file I/O behind the browser-safe ByteSource/ByteSink interfaces: a FileHandle source, a model
 * opener that finds split shards on disk, and an output sink that writes `<out>.tmp-<pid>` beside the
 * output and renames it into place only on success, so a failed or interrupted run never leaves a
 * half-written model under the real name.
 */
import fs from 'node:fs';
import { dirname } from 'node:path';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { OutputError, QuantizeError } from '../errors.js';
import type { ByteSink, ByteSource } from '../formats/byte-source.js';
import { openGgufModel, type GgufModel } from '../formats/gguf-model.js';

/** What a path that is not a regular file is, for messages. */
function kindOf(st: fs.Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

const errCode = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

/** Makes the error for a file that cannot be read (callers pick the class: GGUF, imatrix, usage). */
export type FileFailure = (detail: string) => Error;

const defaultFailure = (path: string): FileFailure => (detail) => new QuantizeError(`${path}: ${detail}`);

/**
 * Only regular files are read: a FIFO with no writer would block in open() forever, and a device such as
 * /dev/zero never ends. The path is checked with stat() before it is opened (so a device is never even
 * opened), then opened with O_NONBLOCK (so a FIFO put there in between cannot block) and checked again
 * with fstat() on the descriptor that is actually read. The size is the one fstat() gives.
 */
export async function openRegularFile(path: string, fail: FileFailure = defaultFailure(path)): Promise<{ fh: FileHandle; size: number }> {
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(path);
  } catch (e) {
    throw fail(`cannot open: ${errCode(e)}`);
  }
  if (!st.isFile()) throw fail(`cannot read ${kindOf(st)}: only regular files are read`);
  let fh: FileHandle;
  try {
    fh = await open(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (e) {
    throw fail(`cannot open: ${errCode(e)}`);
  }
  try {
    const now = await fh.stat();
    if (!now.isFile()) throw fail(`cannot read ${kindOf(now)}: only regular files are read`);
    return { fh, size: now.size };
  } catch (e) {
    await fh.close().catch(() => undefined);
    throw e;
  }
}

/**
 * The whole of a regular file (synchronous: option parsing and imatrix loading), refusing special files
 * as openRegularFile does and files past `maxBytes`; reads exactly the size fstat() reports.
 */
export function readRegularFileSync(path: string, fail: FileFailure = defaultFailure(path), maxBytes = 2 ** 31 - 1): Uint8Array {
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch (e) {
    throw fail(`cannot open: ${errCode(e)}`);
  }
  if (!st.isFile()) throw fail(`cannot read ${kindOf(st)}: only regular files are read`);
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (e) {
    throw fail(`cannot open: ${errCode(e)}`);
  }
  try {
    const now = fs.fstatSync(fd);
    if (!now.isFile()) throw fail(`cannot read ${kindOf(now)}: only regular files are read`);
    if (now.size > maxBytes) throw fail(`file is ${now.size} bytes, more than the limit of ${maxBytes}`);
    const buf = new Uint8Array(now.size);
    let done = 0;
    while (done < buf.length) {
      let n: number;
      try {
        n = fs.readSync(fd, buf, done, buf.length - done, done);
      } catch (e) {
        throw fail(`read failed at offset ${done}: ${errCode(e)}`);
      }
      if (n === 0) throw fail(`file shrank while being read: ${done} of ${buf.length} bytes`);
      done += n;
    }
    return buf;
  } finally {
    fs.closeSync(fd);
  }
}

/** A small text file (--tensor-type-file): a regular file of at most 64 MiB, as UTF-8. */
export function readTextFileSync(path: string): string {
  return new TextDecoder().decode(readRegularFileSync(path, (detail) => new Error(detail), 64 * 1024 * 1024));
}

export class FileSource implements ByteSource {
  private constructor(private readonly fh: FileHandle, readonly name: string, readonly size: number) {}

  static async open(path: string): Promise<FileSource> {
    const { fh, size } = await openRegularFile(path);
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

/** Flush a folder's entries (a rename in it) to disk; file systems that cannot fsync a folder are let be. */
async function syncFolder(dir: string): Promise<void> {
  let fh: FileHandle;
  try {
    fh = await open(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  } catch {
    return; // no O_DIRECTORY open here (Windows): nothing more can be done
  }
  try {
    await fh.sync();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'ENOTSUP' && code !== 'EPERM' && code !== 'EISDIR') throw e;
  } finally {
    await fh.close().catch(() => undefined);
  }
}

export interface FileSinkOptions {
  /**
   * fsync the file before the rename and its folder after it (default true), so that after a power loss
   * the output path holds either nothing or the whole file. Off only to measure what it costs (bench/).
   */
  durable?: boolean;
}

export class FileSink implements ByteSink {
  private written = 0;
  private finished = false;

  private constructor(private readonly fh: FileHandle, readonly name: string, readonly tempPath: string, private readonly durable: boolean) {}

  /** Start writing `outPath` (through `<outPath>.tmp-<pid>`). */
  static async create(outPath: string, opts: FileSinkOptions = {}): Promise<FileSink> {
    const temp = `${outPath}.tmp-${process.pid}`;
    let fh: FileHandle;
    try {
      fh = await open(temp, 'w');
    } catch (e) {
      throw new OutputError(outPath, `cannot create ${temp} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    track(temp);
    return new FileSink(fh, outPath, temp, opts.durable ?? true);
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
      // the data reaches the disk before the name does: a crash never leaves a short file under the name
      if (this.durable) await this.fh.sync();
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
    // and the rename reaches the disk before success is reported
    if (this.durable) {
      try {
        await syncFolder(dirname(this.name) || '.');
      } catch (e) {
        throw new OutputError(this.name, `written and renamed, but flushing its folder failed (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
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
