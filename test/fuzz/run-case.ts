/**
 * Runs one fuzz case and classifies what happened: `clean` (a QuantizeError with one printable line),
 * `success` (then the output must be a valid GGUF that keeps every tensor name byte for byte), `crash`
 * (any other exception, or a message with unprintable characters or a stack), `hang` (past the time
 * limit), `partial` (a file at the output path, or a temporary file, after an error). In-process through
 * the Node API, or as a CLI subprocess.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { QuantizeError } from '../../src/errors.js';
import { quantizeFile } from '../../src/node/index.js';
import { InlineCpuBackend } from '../../src/pipeline/backend.js';
import { hex, walkGguf } from '../formats/gguf-walk.js';
import type { FuzzCase } from './mutator.js';

export type Outcome = 'clean' | 'success' | 'crash' | 'hang' | 'partial';
export const OUTCOMES: readonly Outcome[] = ['clean', 'success', 'crash', 'hang', 'partial'];

export interface CaseResult { outcome: Outcome; detail: string }

const UNPRINTABLE = /[\x00-\x1f\x7f-\x9f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const backend = new InlineCpuBackend();

interface Paths { input: string; output: string; imatrix?: string; model: string }

function writeCase(c: FuzzCase, dir: string, imatrixModel: string): Paths {
  const file = path.join(dir, c.kind === 'gguf' ? `case-${c.seed}.gguf` : `case-${c.seed}.imatrix${c.format === 'dat' ? '.dat' : '.gguf'}`);
  fs.writeFileSync(file, c.bytes);
  const output = path.join(dir, `out-${c.seed}.gguf`);
  return c.kind === 'gguf' ? { input: file, output, model: file } : { input: imatrixModel, output, imatrix: file, model: imatrixModel };
}

/** tensor names as llama.cpp keeps them (C strings: up to the first NUL), as hex, sorted */
function namesOf(bytes: Uint8Array, strict: boolean): string[] {
  return walkGguf(bytes, 32, strict).tensors.map((t) => {
    const z = t.name.indexOf(0);
    return hex(z < 0 ? t.name : t.name.subarray(0, z));
  }).sort();
}

function leftovers(dir: string, output: string): string[] {
  const tmp = fs.readdirSync(dir).filter((f) => f.includes('.tmp-'));
  return fs.existsSync(output) ? [path.basename(output), ...tmp] : tmp;
}

function checkSuccess(p: Paths): CaseResult {
  if (!fs.existsSync(p.output)) return { outcome: 'crash', detail: 'reported success but wrote no output' };
  try {
    const out = namesOf(fs.readFileSync(p.output), true);
    const inp = namesOf(fs.readFileSync(p.model), false);
    if (JSON.stringify(out) !== JSON.stringify(inp)) return { outcome: 'crash', detail: `tensor names changed: in ${inp.length}, out ${out.length}, first difference ${inp.find((n) => !out.includes(n)) ?? out.find((n) => !inp.includes(n))}` };
  } catch (e) {
    return { outcome: 'crash', detail: `invalid output: ${(e as Error).message}` };
  }
  const tmp = fs.readdirSync(path.dirname(p.output)).filter((f) => f.includes('.tmp-'));
  if (tmp.length) return { outcome: 'partial', detail: `temporary files left after success: ${tmp.join(', ')}` };
  return { outcome: 'success', detail: '' };
}

function cleanup(dir: string): void {
  for (const f of fs.readdirSync(dir)) fs.rmSync(path.join(dir, f), { force: true, recursive: true });
}

/** In-process, through quantizeFile. */
export async function runInProcess(c: FuzzCase, dir: string, imatrixModel: string, timeoutMs = 10_000): Promise<CaseResult> {
  const p = writeCase(c, dir, imatrixModel);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), timeoutMs); });
  try {
    const run = quantizeFile({
      input: p.input, output: p.output, backend,
      options: { ftype: c.ftype.id, ftypeName: c.ftype.name, onlyCopy: !!c.ftype.onlyCopy, allowRequantize: c.allowRequantize, imatrixPath: p.imatrix, nthreads: 1 },
    }).then(() => null, (e: unknown) => e);
    const r = await Promise.race([run, timeout]);
    if (r === 'timeout') return { outcome: 'hang', detail: `no answer within ${timeoutMs} ms` };
    if (r === null) return checkSuccess(p);
    const left = leftovers(dir, p.output);
    if (left.length) return { outcome: 'partial', detail: `left after ${(r as Error).message}: ${left.join(', ')}` };
    if (!(r instanceof QuantizeError)) return { outcome: 'crash', detail: `${(r as Error).name}: ${String((r as Error).stack ?? r).split('\n').slice(0, 4).join(' | ')}` };
    if (UNPRINTABLE.test(r.message) || r.message.length > 2100) return { outcome: 'crash', detail: `unprintable or overlong message: ${JSON.stringify(r.message.slice(0, 200))}` };
    return { outcome: 'clean', detail: r.message };
  } finally {
    clearTimeout(timer);
    cleanup(dir);
  }
}

/** As a CLI subprocess (`bin/webgpu-quantize.js`, dist must be built). */
export function runCli(c: FuzzCase, dir: string, imatrixModel: string, bin: string, timeoutMs = 30_000): CaseResult {
  const p = writeCase(c, dir, imatrixModel);
  try {
    const args = ['--backend', 'cpu', ...(c.allowRequantize ? ['--allow-requantize'] : []), ...(p.imatrix ? ['--imatrix', p.imatrix] : []), p.input, p.output, c.ftype.name, '1'];
    const r = spawnSync(process.execPath, [bin, ...args], { cwd: dir, encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, CI: '' } });
    if (r.signal === 'SIGTERM' && r.error) return { outcome: 'hang', detail: `killed after ${timeoutMs} ms` };
    if (r.signal) return { outcome: 'crash', detail: `signal ${r.signal}: ${r.stderr.slice(-300)}` };
    if (r.status === 0) return checkSuccess(p);
    const left = leftovers(dir, p.output);
    if (left.length) return { outcome: 'partial', detail: `left: ${left.join(', ')}` };
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('webgpu-quantize: error:'));
    if (r.status !== 1 || errors.length !== 1 || /internal error|\n\s+at /.test(r.stderr) || /[\x00-\x08\x0b-\x1f\x7f]/.test(r.stderr)) {
      return { outcome: 'crash', detail: `exit ${r.status}: ${JSON.stringify(r.stderr.slice(-400))}` };
    }
    return { outcome: 'clean', detail: errors[0] };
  } finally {
    cleanup(dir);
  }
}
