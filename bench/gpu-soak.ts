/**
 * Stability soak for the GPU path: N consecutive processes quantize the same generated model (default
 * 3 runs of 0.1 GB F16, Q8_0; the published soak used --runs 20 --gb 1) with `--backend gpu`; every run
 * must exit 0, promptly, with the same output bytes, which must also equal the CPU path's. Prints each
 * run's time and how long the process took to exit after writing its output. Files are removed on exit
 * and on Ctrl-C.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileSink } from '../src/node/file-io.js';
import { syntheticModel } from '../src/synthetic-model.js';
import { llamaSpecForSize } from './lib/model-size.js';
import { parseFtype } from '../src/policy/ftype.js';
import { benchTempDir, parseBenchFlags, trackChild } from './lib/bench-cli.js';

const USAGE = `usage: node dist/bench/gpu-soak.js [--runs 3] [--gb 0.1] [--ftype Q8_0] [--keep]

  N consecutive --backend gpu runs of the CLI on a generated F16 model of about --gb GB: each must exit 0,
  promptly, with output identical to the CPU path's. The files go to a temporary folder, removed at the
  end and on Ctrl-C (--keep leaves it).`;

const f = parseBenchFlags(process.argv.slice(2), {
  runs: { kind: 'int', default: '3' }, gb: { kind: 'number', default: '0.1' }, ftype: { kind: 'string', default: 'Q8_0' }, keep: { kind: 'bool' },
}, USAGE);
const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/webgpu-quantize.js');

function sha(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** Run the CLI; resolve with its exit code, wall time and the time between its last line and its exit. */
function runCli(args: string[]): Promise<{ code: number | null; signal: string | null; ms: number; exitLagMs: number; tail: string }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    let lastOutput = t0;
    let tail = '';
    const p = trackChild(spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
    const onData = (d: Buffer) => { lastOutput = Date.now(); tail = (tail + d.toString()).slice(-2000); };
    p.stdout.on('data', onData);
    p.stderr.on('data', onData);
    p.on('close', (code, signal) => resolve({ code, signal, ms: Date.now() - t0, exitLagMs: Date.now() - lastOutput, tail }));
  });
}

async function main() {
  const runs = Number(f.runs);
  const gb = Number(f.gb);
  const ftype = f.ftype as string;
  if (!parseFtype(ftype)) {
    process.stderr.write(`error: --ftype: unknown type '${ftype}' (see webgpu-quantize --help)\n`);
    process.exit(2);
  }
  const dir = benchTempDir('wq-soak-', f.keep as boolean);
  const input = path.join(dir, 'model-f16.gguf');
  const spec = llamaSpecForSize(gb, 'soak', 5);
  const t0 = Date.now();
  await syntheticModel(spec).write(await FileSink.create(input));
  console.log(`model: ${(fs.statSync(input).size / 1e9).toFixed(2)} GB F16, ${spec.nLayer} layers (generated in ${((Date.now() - t0) / 1000).toFixed(0)} s); ${runs} runs of ${ftype} with --backend gpu`);
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
  process.exitCode = ok === runs ? 0 : 1;
}

await main();
