/**
 * Stability soak for the GPU path: N consecutive processes quantize the same generated model (default
 * 1 GB F16, Q8_0) with `--backend gpu`; every run must exit 0, promptly, with the same output bytes, which
 * must also equal the CPU path's. Prints each run's time and how long the process took to exit after
 * writing its output.
 *
 *   node dist/gpu-soak.js [--runs 20] [--gb 1] [--ftype Q8_0] [--keep]
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileSink } from '../src/node/file-io.js';
import { GgmlType } from '../src/core/ggml-type.js';
import { syntheticModel } from '../src/synthetic-model.js';

const argv = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : def;
};
const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../bin/webgpu-quantize.js');

function sha(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** Run the CLI; resolve with its exit code, wall time and the time between its last line and its exit. */
function runCli(args: string[]): Promise<{ code: number | null; signal: string | null; ms: number; exitLagMs: number; tail: string }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    let lastOutput = t0;
    let tail = '';
    const p = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const onData = (d: Buffer) => { lastOutput = Date.now(); tail = (tail + d.toString()).slice(-2000); };
    p.stdout.on('data', onData);
    p.stderr.on('data', onData);
    p.on('close', (code, signal) => resolve({ code, signal, ms: Date.now() - t0, exitLagMs: Date.now() - lastOutput, tail }));
  });
}

async function main() {
  const runs = Number(arg('--runs', '20'));
  const gb = Number(arg('--gb', '1'));
  const ftype = arg('--ftype', 'Q8_0');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wq-soak-'));
  const input = path.join(dir, 'model-f16.gguf');
  const nEmbd = 2048, nFf = 5632, nVocab = 32000;
  const perLayer = 2 * (4 * nEmbd * nEmbd + 3 * nEmbd * nFf);
  const nLayer = Math.max(1, Math.round((gb * 1e9 - 2 * 2 * nEmbd * nVocab) / perLayer));
  const t0 = Date.now();
  await syntheticModel({ nLayer, nEmbd, nFf, nHead: 16, nHeadKv: 16, nVocab, dtype: GgmlType.F16, seed: 5, name: 'soak' })
    .write(await FileSink.create(input));
  console.log(`model: ${(fs.statSync(input).size / 1e9).toFixed(2)} GB F16, ${nLayer} layers (generated in ${((Date.now() - t0) / 1000).toFixed(0)} s); ${runs} runs of ${ftype} with --backend gpu`);
  const cpuOut = path.join(dir, 'cpu.gguf');
  const cpu = await runCli(['--backend', 'cpu', input, cpuOut, ftype]);
  if (cpu.code !== 0) throw new Error(`CPU run failed: ${cpu.tail}`);
  const want = sha(cpuOut);
  console.log(`cpu: ${(cpu.ms / 1000).toFixed(1)} s, sha256 ${want.slice(0, 16)}`);
  let ok = 0;
  for (let i = 1; i <= runs; i++) {
    const out = path.join(dir, 'gpu.gguf');
    fs.rmSync(out, { force: true });
    const r = await runCli(['--backend', 'gpu', input, out, ftype]);
    const same = r.code === 0 && sha(out) === want;
    if (same) ok++;
    console.log(`run ${String(i).padStart(2)}: exit ${r.code}${r.signal ? ` (${r.signal})` : ''}, ${(r.ms / 1000).toFixed(1)} s, exited ${r.exitLagMs} ms after its last line, output ${same ? 'identical to the CPU path' : 'DIFFERENT or missing'}`);
    if (r.code !== 0) console.log(r.tail);
  }
  console.log(`${ok}/${runs} runs completed with identical output`);
  if (!argv.includes('--keep')) fs.rmSync(dir, { recursive: true, force: true });
  process.exitCode = ok === runs ? 0 : 1;
}

await main();
