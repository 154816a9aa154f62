/** Runs one ggml_quantize_chunk call in a child process (abort-probe.mjs); returns how it ended. */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { libDir } from './llama-cpp.js';

export function probeOracleCall(type: number, src: Float32Array, nrows: number, nPerRow: number, imatrix: Float32Array | null) {
  const lib = libDir();
  if (!lib) throw new Error('llama.cpp oracle unavailable');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wq-probe-'));
  try {
    const file = path.join(dir, 'in.bin');
    fs.writeFileSync(file, Buffer.concat([
      Buffer.from(new Int32Array([type, nrows, nPerRow, imatrix ? 1 : 0]).buffer),
      Buffer.from(src.buffer, src.byteOffset, 4 * nrows * nPerRow),
      ...(imatrix ? [Buffer.from(imatrix.buffer, imatrix.byteOffset, 4 * nPerRow)] : []),
    ]));
    const r = spawnSync(process.execPath, [path.resolve('test/oracle/abort-probe.mjs'), lib, file], { encoding: 'utf8', timeout: 120_000 });
    return { status: r.status, signal: r.signal, output: `${r.stdout}${r.stderr}` };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
