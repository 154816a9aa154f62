/**
 * The command line as a user meets it: llama-quantize's grammar and lines, the demo, and bad input that
 * must end in ONE clear line on stderr, a non-zero exit, and no file at the output path.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, SYNTH_DIR } from '../golden/shared-paths.js';

const BIN = path.join(REPO_ROOT, 'bin/webgpu-quantize.js');
const SYNTH = path.join(SYNTH_DIR, 'synth-f32.gguf');
const manifest = JSON.parse(fs.readFileSync(path.join(SYNTH_DIR, 'MANIFEST.json'), 'utf8'));
let tmp: string;

function cli(args: string[], cwd = tmp) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', env: { ...process.env, CI: '' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
const sha = (f: string) => createHash('sha256').update(fs.readFileSync(f)).digest('hex');

/** A copy of the synth model with `mutate` applied to its bytes. */
function corrupt(name: string, mutate: (b: Buffer) => Buffer): string {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, mutate(Buffer.from(fs.readFileSync(SYNTH))));
  return p;
}

function expectOneLineFailure(r: { code: number | null; err: string }, pattern: RegExp, output?: string) {
  expect(r.code).not.toBe(0);
  const lines = r.err.trim().split('\n');
  const errorLines = lines.filter((l) => l.startsWith('webgpu-quantize: error:'));
  expect(errorLines).toHaveLength(1);
  expect(errorLines[0]).toMatch(pattern);
  if (output) {
    expect(fs.existsSync(output)).toBe(false);
    expect(fs.readdirSync(path.dirname(output)).filter((f) => f.includes('.tmp-'))).toEqual([]);
  }
}

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wq-cli-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('command line', () => {
  it('quantizes with the llama-quantize grammar and lines, to the golden bytes', () => {
    const out = path.join(tmp, 'q.gguf');
    const r = cli(['--backend', 'cpu', SYNTH, out, 'Q4_K_M', '2']);
    expect(r.code).toBe(0);
    expect(sha(out)).toBe(manifest.outputs['mix/Q4_K_M'].file_sha256);
    expect(r.out).toMatch(/^\[   1\/  21\] output\.weight {24}- \[   256,    288,      1,      1\], type =    f32, converting to q6_K \.\. size = {5}0\.28 MiB -> {5}0\.06 MiB$/m);
    expect(r.out).toMatch(/llama_model_quantize_impl: quant size  = {5}0\.74 MiB \(4\.89 BPW\)/);
    expect(r.out).toMatch(/quantizing '.*synth-f32\.gguf' to '.*q\.gguf' as Q4_K_M using 2 threads/);
  });

  it('defaults to Q4_K_M and ggml-model-<TYPE>.gguf beside the input', () => {
    const input = path.join(tmp, 'in.gguf');
    fs.copyFileSync(SYNTH, input);
    const r = cli(['--backend', 'cpu', input]);
    expect(r.code).toBe(0);
    expect(sha(path.join(tmp, 'ggml-model-Q4_K_M.gguf'))).toBe(manifest.outputs['mix/Q4_K_M'].file_sha256);
  });

  it('keeps going when its output pipe closes (| head)', () => {
    const out = path.join(tmp, 'piped.gguf');
    const r = spawnSync('bash', ['-c', `"${process.execPath}" "${BIN}" --backend cpu "${SYNTH}" "${out}" Q4_K_M 1 | head -1; exit \${PIPESTATUS[0]}`], { encoding: 'utf8' });
    expect(r.stderr).not.toMatch(/EPIPE|error/);
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(sha(out)).toBe(manifest.outputs['mix/Q4_K_M'].file_sha256);
  });

  it('warns once the plan is known, counting the tensors llama.cpp makes low-bit, for a low-bit type without an imatrix', () => {
    const r = cli(['--backend', 'cpu', SYNTH, path.join(tmp, 'q2.gguf'), 'Q2_K']);
    expect(r.code).toBe(0);
    // the counts from llama.cpp's own Q2_K output of this model (the manifest), not from our planner
    const types = Object.values(manifest.outputs['mix/Q2_K'].tensors as Record<string, { type: string }>).map((t) => t.type.toLowerCase());
    const low = ['q2_k', 'q3_k', 'q4_k', 'q4_0', 'q4_1'];
    const counts = low.map((t) => [t, types.filter((x) => x === t).length] as const).filter(([, n]) => n > 0);
    const n = counts.reduce((a, [, k]) => a + k, 0);
    const warning = r.err.split('\n').filter((l) => l.includes('WARNING: Q2_K without an importance matrix'));
    expect(warning).toHaveLength(1);
    expect(warning[0]).toContain(`${n} of ${types.length} tensors become low-bit types`);
    for (const [t, k] of counts) expect(warning[0]).toMatch(new RegExp(`[(, ]${k} ${t.replace('k', 'K')}[,)]`));
    // after the plan: the line comes after the input was opened (no banner before a bad input)
    const bad = cli(['--backend', 'cpu', path.join(tmp, 'missing.gguf'), path.join(tmp, 'q2b.gguf'), 'Q2_K']);
    expect(bad.code).toBe(1);
    expect(bad.err).not.toMatch(/WARNING/);
    const r8 = cli(['--backend', 'cpu', SYNTH, path.join(tmp, 'q8.gguf'), 'Q8_0']);
    expect(r8.err).not.toMatch(/low-bit|WARNING/);
    // only tensors actually converted to low-bit types count: Q4_K_M with every tensor forced to q8_0 has none
    const forced = cli(['--backend', 'cpu', '--tensor-type', '.=q8_0', '--output-tensor-type', 'q8_0', '--token-embedding-type', 'q8_0', SYNTH, path.join(tmp, 'f.gguf'), 'Q4_K_M']);
    expect(forced.code).toBe(0);
    expect(forced.err).not.toMatch(/WARNING/);
  });

  it('runs the built-in demo with no arguments', () => {
    const r = cli(['--backend', 'cpu']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/demo: generated .*demo-f32\.gguf/);
    expect(r.out).toMatch(/wrote .*demo-Q4_K_M\.gguf/);
  });

  it('dry run writes nothing and prints the planned types', () => {
    const r = cli(['--dry-run', SYNTH, 'Q4_K_M']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/blk\.1\.ffn_down\.weight .* size = {5}0\.50 MiB -> {5}0\.10 MiB \(q6_K\)/);
    expect(fs.existsSync(path.join(SYNTH_DIR, 'ggml-model-Q4_K_M.gguf'))).toBe(false);
  });

  it('refuses an already-quantized model without --allow-requantize', () => {
    const q8 = path.join(tmp, 'q8-in.gguf');
    expect(cli(['--backend', 'cpu', SYNTH, q8, 'Q8_0']).code).toBe(0);
    const out = path.join(tmp, 'req.gguf');
    expectOneLineFailure(cli(['--backend', 'cpu', q8, out, 'Q4_K_M']), /already q8_0.*--allow-requantize/, out);
    expect(cli(['--backend', 'cpu', '--allow-requantize', q8, out, 'Q4_K_M']).code).toBe(0);
  });
});

describe('bad input: one line, non-zero exit, no partial output', () => {
  const out = () => path.join(tmp, 'bad-out.gguf');

  it('bad magic', () => {
    const f = corrupt('magic.gguf', (b) => { b.write('GGUX', 0); return b; });
    expectOneLineFailure(cli([f, out(), 'Q8_0']), /magic\.gguf.*magic/i, out());
  });
  it('unsupported version', () => {
    const f = corrupt('version.gguf', (b) => { b.writeUInt32LE(7, 4); return b; });
    expectOneLineFailure(cli([f, out(), 'Q8_0']), /version\.gguf.*version 7/i, out());
  });
  it('truncated file (tensor data past the end)', () => {
    const f = corrupt('trunc.gguf', (b) => b.subarray(0, b.length - 1000));
    expectOneLineFailure(cli([f, out(), 'Q8_0']), /trunc\.gguf.*past the end|trunc\.gguf.*truncated/i, out());
  });
  it('truncated header', () => {
    const f = corrupt('trunc-header.gguf', (b) => b.subarray(0, 200));
    expectOneLineFailure(cli([f, out(), 'Q8_0']), /trunc-header\.gguf.*(truncated|only \d+ remain)/i, out());
  });
  it('a tensor count that lies', () => {
    const f = corrupt('count.gguf', (b) => { b.writeBigInt64LE(1_000_000_000n, 8); return b; });
    expectOneLineFailure(cli([f, out(), 'Q8_0']), /count\.gguf.*1000000000/, out());
  });
  it('NaN weights name the tensor and the row', () => {
    // first data value of the first tensor in file order
    const f = corrupt('nan.gguf', (b) => {
      const dataStart = b.length - 0; // placeholder replaced below
      return b;
    });
    // find the data offset by reading the header through the library itself
    const r0 = spawnSync(process.execPath, ['--input-type=module', '-e',
      `import { openGgufModelFile } from '${path.join(REPO_ROOT, 'dist/node.js')}';` +
      `const m = await openGgufModelFile(${JSON.stringify(f)}); const t = m.tensors.find((t) => t.name === 'blk.0.attn_q.weight');` +
      `console.log(t.dataOffset + 4 * (5 * t.ne[0] + 7)); await m.close();`], { encoding: 'utf8' });
    const at = Number(r0.stdout.trim());
    expect(at).toBeGreaterThan(0);
    const b = fs.readFileSync(f);
    b.writeFloatLE(NaN, at);
    fs.writeFileSync(f, b);
    expectOneLineFailure(cli(['--backend', 'cpu', f, out(), 'Q4_K_M']), /nan\.gguf: tensor 'blk\.0\.attn_q\.weight.*NaN.*row 5, column 7/, out());
  });
  it('output path equal to the input path', () => {
    const input = path.join(tmp, 'same.gguf');
    fs.copyFileSync(SYNTH, input);
    const before = sha(input);
    expectOneLineFailure(cli([input, input, 'Q8_0']), /same/);
    expect(sha(input)).toBe(before);
  });
  it('unknown ftype', () => {
    expectOneLineFailure(cli([SYNTH, out(), 'Q9_Z']), /invalid ftype 'Q9_Z'/, out());
  });
  it('unknown ggml type name', () => {
    expectOneLineFailure(cli(['--output-tensor-type', 'q7_x', SYNTH, out(), 'Q4_K_M']), /invalid ggml_type 'q7_x'/, out());
  });
  it('an imatrix of another model', () => {
    const im = path.join(tmp, 'other.imatrix.dat');
    // legacy format: one entry for blk.0.attn_q.weight with 128 values (the model's rows have 256)
    const name = Buffer.from('blk.0.attn_q.weight');
    const b = Buffer.alloc(4 + 4 + name.length + 4 + 4 + 128 * 4);
    let o = b.writeInt32LE(1, 0);
    o = b.writeInt32LE(name.length, o);
    o += name.copy(b, o);
    o = b.writeInt32LE(1, o);
    o = b.writeInt32LE(128, o);
    for (let i = 0; i < 128; i++) o = b.writeFloatLE(1, o);
    fs.writeFileSync(im, b);
    expectOneLineFailure(cli(['--backend', 'cpu', '--imatrix', im, SYNTH, out(), 'Q4_K_M']), /blk\.0\.attn_q\.weight.*128.*256/, out());
  });
  it('a missing imatrix for a type that needs one', () => {
    expectOneLineFailure(cli([SYNTH, out(), 'IQ2_XXS']), /importance matrix|imatrix/, out());
  });
  it('an IQ2_XXS tensor the policy exempts from the imatrix rule (token_embd) still needs one, as ggml_quantize_chunk does', () => {
    // llama.cpp aborts (GGML_ASSERT in ggml_quantize_chunk) on this run; we refuse with the way to get an imatrix
    expectOneLineFailure(cli(['--backend', 'cpu', '--token-embedding-type', 'iq2_xxs', SYNTH, out(), 'Q4_K_M']),
      /tensor 'token_embd\.weight' \(iq2_xxs\) requires an importance matrix: compute one .*llama-imatrix/, out());
  });
});
