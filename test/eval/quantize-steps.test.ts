/**
 * `--calibrate calib.txt` and `--kld eval.txt` on the quantize command line: the imatrix is made first and
 * used (the output equals llama_model_quantize's with that imatrix file, byte for byte), the KLD of the
 * written file is printed, and bad input stops before anything is written.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadImatrix } from '../../src/formats/imatrix.js';
import { loadReferenceImatrix } from '../oracle/imatrix-reference.js';
import { loadOracle, oracleUnavailable } from '../oracle/llama-cpp.js';
import { ORACLE_REQUIRED } from '../oracle/require-oracle.js';
import { REPO_ROOT, SHARED } from '../golden/shared-paths.js';

const BIN = path.join(REPO_ROOT, 'bin/webgpu-quantize.js');
const GOLD = path.join(SHARED, 'golden/llama-tools-v050');
const MODEL = path.join(SHARED, 'models/stories260K-gguf/stories260K.gguf');
let tmp: string;

function cli(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: tmp, encoding: 'utf8', env: { ...process.env, CI: '' } }, (e, out, err) => {
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, out, err });
    });
  });
}
const sha = (f: string) => createHash('sha256').update(fs.readFileSync(f)).digest('hex');

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ikld-steps-'));
  // ~6,000 tokens of each text: 47 chunks of 128
  fs.writeFileSync(path.join(tmp, 'calib.txt'), fs.readFileSync(path.join(GOLD, 'calib.txt'), 'utf8').slice(0, 12000));
  fs.writeFileSync(path.join(tmp, 'eval.txt'), fs.readFileSync(path.join(GOLD, 'eval.txt'), 'utf8').slice(0, 12000));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('quantize --calibrate / --kld', () => {
  it('makes the imatrix, quantizes with it exactly as llama_model_quantize does, then reports the KLD', async () => {
    const r = await cli(['--backend', 'cpu', '--calibrate', 'calib.txt', '--kld', 'eval.txt', '--eval-ctx', '128', MODEL, 'out.gguf', 'Q4_0']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/calibrated on calib\.txt: imatrix of 35 matrices over 44 chunks of 128 tokens .* written to out\.imatrix\.gguf; quantizing with it/);
    expect(r.out).toMatch(/quality of out\.gguf vs .* \(48 chunks of 128\): PPL\(Q\) [\d.]+ ± [\d.]+, PPL\(base\) [\d.]+ ± [\d.]+, mean KLD 0\.\d+ ± /);
    const im = loadImatrix(fs.readFileSync(path.join(tmp, 'out.imatrix.gguf')), 'out.imatrix.gguf');
    expect(im.entries.size).toBe(35);
    expect(im.chunkCount).toBe(44);
    expect(im.datasets).toEqual(['calib.txt']);
    const oracle = loadOracle();
    if (!oracle) {
      if (ORACLE_REQUIRED) throw new Error(oracleUnavailable);
      console.log(oracleUnavailable);
      return;
    }
    const cwd = process.cwd();
    process.chdir(tmp); // the imatrix path is stored as given: give it as the CLI did
    try {
      await loadReferenceImatrix('out.imatrix.gguf'); // the oracle run reads it with the independent reader
      expect(oracle.modelQuantize(MODEL, path.join(tmp, 'oracle.gguf'), { ftype: 2, nthread: 2, imatrixFile: { path: 'out.imatrix.gguf' } }), oracle.lastQuantizeError()).toBe(0);
    } finally {
      process.chdir(cwd);
    }
    expect(sha(path.join(tmp, 'out.gguf'))).toBe(sha(path.join(tmp, 'oracle.gguf')));
  }, 600_000);

  it('a missing calibration text: one error line, no output, no imatrix', async () => {
    const r = await cli(['--backend', 'cpu', '--calibrate', 'nope.txt', MODEL, 'out2.gguf', 'Q4_0']);
    expect(r.code).toBe(1);
    expect(r.err.trim().split('\n').filter((l) => l.startsWith('webgpu-quantize: error:'))).toEqual(['webgpu-quantize: error: nope.txt: cannot read: no such file']);
    expect(fs.existsSync(path.join(tmp, 'out2.gguf'))).toBe(false);
    expect(fs.existsSync(path.join(tmp, 'out2.imatrix.gguf'))).toBe(false);
  });
});

describe('imatrix / kld / tokenize: bad input is one line, a non-zero exit and no output file', () => {
  const oneError = (r: { code: number | null; err: string }, pattern: RegExp) => {
    expect(r.code).toBe(1);
    const lines = r.err.trim().split('\n').filter((l) => l.startsWith('webgpu-quantize: error:'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(pattern);
  };
  it('a text shorter than two contexts', async () => {
    fs.writeFileSync(path.join(tmp, 'short.txt'), 'Once upon a time there was a cat.');
    oneError(await cli(['imatrix', '--backend', 'cpu', '-m', MODEL, '-f', 'short.txt', '-o', 'im.gguf', '-c', '128']), /short\.txt: the text tokenizes to only 11 tokens; a context of 128 needs at least 256/);
    expect(fs.readdirSync(tmp).filter((f) => f.startsWith('im.gguf') || f.includes('.tmp-'))).toEqual([]);
    oneError(await cli(['kld', '--backend', 'cpu', MODEL, MODEL, '-f', 'short.txt', '-c', '128']), /short\.txt: the text tokenizes to only 11 tokens/);
  });
  it('a model that is not a GGUF, a missing option, an unknown option', async () => {
    oneError(await cli(['imatrix', '-m', 'calib.txt', '-f', 'calib.txt']), /calib\.txt: .*GGUF|magic/i);
    oneError(await cli(['imatrix', '-f', 'calib.txt']), /imatrix: model is required/);
    oneError(await cli(['kld', MODEL, '-f', 'eval.txt']), /kld: expected base\.gguf quantized\.gguf, got 1 file/);
    oneError(await cli(['tokenize', '-m', MODEL, '-f', 'eval.txt', '--bogus']), /tokenize: unknown option '--bogus'/);
  });
});
