/**
 * Sources and sinks: the Blob source (browser path) reads what the file source reads, and the file sink
 * only ever leaves a complete output under the real name: rename on success, temp deleted on abort,
 * write errors, disk full and SIGINT/SIGTERM.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { OutputError } from '../../src/errors.js';
import { BlobSource, MemorySink, MemorySource } from '../../src/formats/byte-source.js';
import { readGgufHeader } from '../../src/formats/gguf-reader.js';
import { FileSink, FileSource } from '../../src/node/file-io.js';
import { repoRoot, synthF32, tempDir } from './gguf-fixtures.js';

const dir = tempDir('node-io');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('sources', () => {
  it('Blob, file and memory sources read the same bytes and the same header', async () => {
    const bytes = new Uint8Array(fs.readFileSync(synthF32));
    const file = await FileSource.open(synthF32);
    const blob = new BlobSource(new Blob([bytes]), 'synth-f32.gguf');
    const mem = new MemorySource(bytes);
    try {
      for (const [off, len] of [[0, 100], [4095, 9000], [bytes.length - 10, 50], [bytes.length + 5, 10]]) {
        const a = await file.read(off, len);
        expect(Buffer.compare(Buffer.from(a), Buffer.from(await blob.read(off, len)))).toBe(0);
        expect(Buffer.compare(Buffer.from(a), Buffer.from(await mem.read(off, len)))).toBe(0);
        expect(a.length).toBe(Math.max(0, Math.min(len, bytes.length - off)));
      }
      const h1 = await readGgufHeader(file);
      const h2 = await readGgufHeader(blob);
      expect(h2.tensors).toEqual(h1.tensors);
      expect(h2.kvs.map((k) => k.raw)).toEqual(h1.kvs.map((k) => k.raw));
      expect(h2.name).toBe('synth-f32.gguf');
    } finally {
      await file.close();
    }
  });
});

describe('FileSink', () => {
  it('writes through <out>.tmp-<pid> and renames on close', async () => {
    const out = path.join(dir, 'ok.gguf');
    const listeners = process.listenerCount('SIGINT');
    const sink = await FileSink.create(out);
    expect(process.listenerCount('SIGINT')).toBe(listeners + 1);
    expect(sink.tempPath).toBe(`${out}.tmp-${process.pid}`);
    await sink.write(Uint8Array.from([1, 2, 3]));
    expect(fs.existsSync(out)).toBe(false);
    await sink.write(new Uint8Array(5000).fill(7));
    expect(sink.bytesWritten).toBe(5003);
    await sink.close();
    expect(fs.existsSync(sink.tempPath)).toBe(false);
    const back = fs.readFileSync(out);
    expect(back.length).toBe(5003);
    expect([...back.subarray(0, 4)]).toEqual([1, 2, 3, 7]);
    expect(process.listenerCount('SIGINT')).toBe(listeners);
  });

  it('replaces an existing output only on success', async () => {
    const out = path.join(dir, 'keep.gguf');
    fs.writeFileSync(out, 'old');
    const listeners = process.listenerCount('SIGTERM');
    const sink = await FileSink.create(out);
    await sink.write(Uint8Array.from([9]));
    await sink.abort();
    await sink.abort();
    expect(fs.readFileSync(out, 'utf8')).toBe('old');
    expect(fs.existsSync(sink.tempPath)).toBe(false);
    expect(process.listenerCount('SIGTERM')).toBe(listeners);
  });

  it('turns ENOSPC into a one-line OutputError naming the file and the bytes written, and removes the temp', async () => {
    const out = path.join(dir, 'full.gguf');
    const sink = await FileSink.create(out);
    await sink.write(new Uint8Array(1000));
    const fh = (sink as unknown as { fh: { write: unknown } }).fh;
    fh.write = async () => {
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    };
    const err = await sink.write(new Uint8Array(10)).then(() => null, (e) => e);
    expect(err).toBeInstanceOf(OutputError);
    expect(err.message).toBe(`${out}: disk full (ENOSPC) after writing 1000 bytes`);
    expect(err.bytesWritten).toBe(1000);
    expect(fs.existsSync(sink.tempPath)).toBe(false);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('reports an output directory that does not exist', async () => {
    const out = path.join(dir, 'missing', 'x.gguf');
    await expect(FileSink.create(out)).rejects.toThrow(new OutputError(out, `cannot create ${out}.tmp-${process.pid} (ENOENT)`));
  });

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`deletes the temp file on ${signal} and exits with 128+signo`, () => {
      const out = path.join(dir, `sig-${signal}.gguf`);
      const script = path.join(dir, `sig-${signal}.mts`);
      fs.writeFileSync(script, [
        `import { FileSink } from ${JSON.stringify(path.join(repoRoot, 'src/node/file-io.ts'))};`,
        `const sink = await FileSink.create(${JSON.stringify(out)});`,
        `await sink.write(new Uint8Array(4096));`,
        `console.log(sink.tempPath);`,
        `process.kill(process.pid, '${signal}');`,
        `await new Promise((r) => setTimeout(r, 5000));`,
      ].join('\n'));
      const r = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
      const temp = r.stdout.trim();
      expect(temp, r.stderr).toBe(`${out}.tmp-${r.pid}`);
      expect(r.status).toBe(signal === 'SIGINT' ? 130 : 143);
      expect(fs.existsSync(temp)).toBe(false);
      expect(fs.existsSync(out)).toBe(false);
    });
  }
});

describe('MemorySink', () => {
  it('copies chunks (callers reuse buffers) and refuses writes after close', async () => {
    const sink = new MemorySink('m');
    const buf = Uint8Array.from([1, 2]);
    await sink.write(buf);
    buf[0] = 9;
    await sink.write(buf);
    await sink.close();
    expect([...sink.toBytes()]).toEqual([1, 2, 9, 2]);
    expect((await sink.toBlob().arrayBuffer()).byteLength).toBe(4);
    await expect(sink.write(buf)).rejects.toThrow('m: write after close');
  });
});

describe('durable output (fsync)', () => {
  it('flushes the file before the rename and its folder after it', async () => {
    const out = path.join(dir, 'durable.gguf');
    const probe = await fs.promises.open(synthF32, 'r');
    const proto = Object.getPrototypeOf(probe) as { sync(): Promise<void> };
    await probe.close();
    const seen: string[] = [];
    const spy = vi.spyOn(proto, 'sync').mockImplementation(async function (this: fs.promises.FileHandle) {
      const st = await this.stat();
      seen.push(`${st.isDirectory() ? 'folder' : 'file'} output:${fs.existsSync(out)} temp:${fs.readdirSync(dir).some((f) => f.startsWith('durable.gguf.tmp-'))}`);
    });
    try {
      const sink = await FileSink.create(out);
      await sink.write(new Uint8Array([1, 2, 3]));
      await sink.close();
      const quick = await FileSink.create(path.join(dir, 'quick.gguf'), { durable: false });
      await quick.write(new Uint8Array([4]));
      await quick.close();
    } finally {
      spy.mockRestore();
    }
    expect(seen).toEqual(['file output:false temp:true', 'folder output:true temp:false']);
    expect([...fs.readFileSync(out)]).toEqual([1, 2, 3]);
  });
});
