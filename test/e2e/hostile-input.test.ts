/**
 * The reproducers of issue 6, through the command line: special files as inputs, stored types that are
 * neither float nor quantized, thread counts, type names and --override-kv values that llama.cpp reads
 * loosely, and names with binary bytes. Each must end in one clear printable line, a non-zero exit, no
 * output file and no temporary file, and never hang (every run has a 30 s limit it must not reach).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, SYNTH_DIR } from '../golden/shared-paths.js';

const BIN = path.join(REPO_ROOT, 'bin/webgpu-quantize.js');
const SYNTH = path.join(SYNTH_DIR, 'synth-f32.gguf');
const manifest = JSON.parse(fs.readFileSync(path.join(SYNTH_DIR, 'MANIFEST.json'), 'utf8'));
let tmp: string;

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, '--backend', 'cpu', ...args], { cwd: tmp, encoding: 'utf8', timeout: 30_000, env: { ...process.env, CI: '' } });
  return { code: r.status, signal: r.signal, out: r.stdout, err: r.stderr };
}

/** One `error:` line matching `pattern`, nothing unprintable on stderr, no output or temporary file. */
function expectRefusal(r: ReturnType<typeof cli>, pattern: RegExp, output = path.join(tmp, 'out.gguf')) {
  expect(r.signal, 'the run hung and was killed').toBeNull();
  expect(r.code).toBe(1);
  const errorLines = r.err.split('\n').filter((l) => l.startsWith('webgpu-quantize: error:'));
  expect(errorLines).toHaveLength(1);
  expect(errorLines[0]).toMatch(pattern);
  expect(r.err).not.toMatch(/internal error|\n\s+at /);
  expect(r.err).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
  expect(fs.existsSync(output)).toBe(false);
  expect(fs.readdirSync(path.dirname(output)).filter((f) => f.includes('.tmp-'))).toEqual([]);
}

/** synth-f32.gguf with the stored type of one tensor rewritten (its data keeps the same size when 4 bytes wide). */
function withTensorType(name: string, type: number, file: string): string {
  const b = Buffer.from(fs.readFileSync(SYNTH));
  const at = b.indexOf(Buffer.from(name, 'latin1'));
  expect(at).toBeGreaterThan(0);
  const nDims = b.readUInt32LE(at + name.length);
  b.writeInt32LE(type, at + name.length + 4 + 8 * nDims);
  const p = path.join(tmp, file);
  fs.writeFileSync(p, b);
  return p;
}

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wq-hostile-'));
  spawnSync('mkfifo', [path.join(tmp, 'fifo')]);
  fs.mkdirSync(path.join(tmp, 'dir'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('special files are refused, never waited on or read without end', () => {
  it('a FIFO with no writer as the model', () => {
    expect(fs.statSync(path.join(tmp, 'fifo')).isFIFO()).toBe(true);
    expectRefusal(cli(['fifo', 'out.gguf', 'Q8_0']), /^webgpu-quantize: error: fifo: cannot read a FIFO \(named pipe\): only regular files are read$/);
  });
  it('a FIFO with no writer as --imatrix', () => {
    expectRefusal(cli(['--imatrix', 'fifo', SYNTH, 'out.gguf', 'Q8_0']), /error: fifo: cannot read a FIFO/);
  });
  it('a FIFO as --tensor-type-file', () => {
    expectRefusal(cli(['--tensor-type-file', 'fifo', SYNTH, 'out.gguf', 'Q8_0']), /--tensor-type-file: failed to open file 'fifo': cannot read a FIFO/);
  });
  it('/dev/zero as --imatrix and as the model', () => {
    expectRefusal(cli(['--imatrix', '/dev/zero', SYNTH, 'out.gguf', 'Q8_0']), /error: \/dev\/zero: cannot read a character device/);
    expectRefusal(cli(['/dev/zero', 'out.gguf', 'Q8_0']), /error: \/dev\/zero: cannot read a character device/);
  });
  it('a directory as the model or the imatrix', () => {
    expectRefusal(cli(['dir', 'out.gguf', 'Q8_0']), /^webgpu-quantize: error: dir: cannot read a directory: only regular files are read$/);
    expectRefusal(cli(['--imatrix', 'dir', SYNTH, 'out.gguf', 'Q8_0']), /error: dir: cannot read a directory/);
  });
});

describe('stored types that are neither float nor quantized', () => {
  it('an I32 weight to be quantized is refused before anything is written, naming tensor and type', () => {
    const f = withTensorType('blk.0.attn_q.weight', 26, 'i32.gguf');
    expectRefusal(cli([f, 'out.gguf', 'Q8_0']),
      /^webgpu-quantize: error: tensor 'blk\.0\.attn_q\.weight' is stored as i32, which is neither a float nor a quantized type: it cannot be converted to q8_0/);
  });
  it('an I32 tensor that is copied (COPY) comes through unchanged, as llama.cpp copies it', () => {
    const f = withTensorType('blk.0.attn_q.weight', 26, 'i32-copy.gguf');
    const r = cli([f, 'copy.gguf', 'COPY']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/blk\.0\.attn_q\.weight .*type =    i32, size =/);
  });
});

describe('thread counts', () => {
  it('a count past the cores is capped with a one-line notice, and the bytes are the golden ones', () => {
    const r = cli([SYNTH, 'out.gguf', 'Q8_0', '99999']);
    expect(r.code).toBe(0);
    const cores = os.availableParallelism();
    expect(r.err).toContain(`webgpu-quantize: 99999 threads asked for, but this machine has ${cores} cores: using ${cores}\n`);
    expect(r.out).toContain(`using ${cores} threads`);
    const sha = spawnSync('sha256sum', [path.join(tmp, 'out.gguf')], { encoding: 'utf8' }).stdout.split(' ')[0];
    expect(sha).toBe(manifest.outputs['pure/Q8_0'].file_sha256);
    fs.rmSync(path.join(tmp, 'out.gguf'));
  });
  for (const bad of ['-1', '1e3', '4.5', '0x4', ' 2']) {
    it(`'${bad}' is refused`, () => {
      expectRefusal(cli([SYNTH, 'out.gguf', 'Q8_0', bad]), new RegExp(`error: invalid nthread '${bad.replace(/[.+]/g, '\\$&')}': give a whole number of threads, 0 for all cores$`));
    });
  }
});

describe('type names and --override-kv values are read exactly', () => {
  it("'15abc' (llama.cpp's stoi reads 15) is refused, saying what llama-quantize would have used", () => {
    expectRefusal(cli([SYNTH, '15abc']), /error: type '15abc' is neither a type name nor a plain number \(llama-quantize would read it as 15 = Q4_K_M\); give Q4_K_M or 15, or write the output file as '\.\/15abc'$/);
  });
  it("'0x0f' in the type position (stoi reads 0) is refused", () => {
    expectRefusal(cli([SYNTH, 'out.gguf', '0x0f']), /error: type '0x0f' is neither a type name nor a plain number \(llama-quantize would read it as 0 = F32\); give F32 or 0$/);
  });
  it('a plain number and a lower-case name are still types', () => {
    const r = cli(['--dry-run', SYNTH, '7']);
    expect(r.code).toBe(0);
    expect(cli(['--dry-run', SYNTH, 'q8_0']).code).toBe(0);
  });
  it('--override-kv x=int:zz and float values with junk are refused', () => {
    expectRefusal(cli(['--override-kv', 'x=int:zz', SYNTH, 'out.gguf', 'Q8_0']), /error: --override-kv: 'x=int:zz': 'zz' is not an integer$/);
    expectRefusal(cli(['--override-kv', 'x=int:12abc', SYNTH, 'out.gguf', 'Q8_0']), /'12abc' is not an integer$/);
    expectRefusal(cli(['--override-kv', 'x=float:1.5x', SYNTH, 'out.gguf', 'Q8_0']), /'1\.5x' is not a number$/);
  });
});

describe('binary bytes in names never reach the terminal raw', () => {
  it('a duplicated tensor name full of control bytes is quoted with escapes', () => {
    // two tensors renamed to the same 19 bytes: NUL-free control bytes, 0xff, a newline and an escape sequence
    const b = Buffer.from(fs.readFileSync(SYNTH));
    const evil = Buffer.from([0x0a, 0xff, 0x1b, 0x5b, 0x32, 0x4a, 0x07, 0x08, 0x0d, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a]);
    for (const name of ['blk.0.attn_q.weight', 'blk.0.attn_k.weight']) evil.copy(b, b.indexOf(Buffer.from(name)));
    const f = path.join(tmp, 'evil.gguf');
    fs.writeFileSync(f, b);
    expectRefusal(cli([f, 'out.gguf', 'Q8_0']), /error: .*evil\.gguf: duplicate tensor name '\\x0a\\xff\\x1b\[2J\\x07\\x08\\x0dABCDEFGHIJ' \(tensor \d+\)$/);
  });
});
