/**
 * Peak memory and time of a whole-model run, ours against llama.cpp's `llama_model_quantize` at the same
 * thread count, on a generated F16 llama model of the requested size (default 0.1 GB; the published
 * figure used --gb 4). Each side runs in its own child process so that its peak RSS (getrusage
 * ru_maxrss) is its own. With --cli, our side is the real command line (bin/webgpu-quantize.js, so the
 * GPU adapter choice, SwiftShader fallback and banner are the user's), its peak RSS written at its exit by
 * a preloaded hook (node --import). --check-cpu also runs --backend cpu and compares the two outputs.
 * The generated files are removed on exit and on Ctrl-C.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileSink } from '../src/node/file-io.js';
import { parseFtype } from '../src/policy/ftype.js';
import { syntheticModel } from '../src/synthetic-model.js';
import { llamaSpecForSize } from './lib/model-size.js';
import { benchTempDir, parseBenchFlags, trackChild } from './lib/bench-cli.js';

const USAGE = `usage: node dist/bench/model-rss.js [--gb 0.1] [--ftype Q4_K_M] [--threads N] [--backend cpu|gpu|auto] [--cli] [--check-cpu] [--no-oracle] [--keep]

  Peak memory (RSS) and time of a whole-model run against llama.cpp's llama_model_quantize, on a generated
  F16 llama model of about --gb GB (written to a temporary folder, removed at the end and on Ctrl-C;
  --keep leaves it). Needs about twice --gb of free disk (three times with --check-cpu).
  --cli        run our side as the command line (bin/webgpu-quantize.js ... --backend B), not quantizeFile
  --check-cpu  also run our side with --backend cpu; its output must be identical (sha256) to the first`;

const argv = process.argv.slice(2);
const here = path.dirname(fileURLToPath(import.meta.url));

async function child(kind: 'ours' | 'oracle', input: string, output: string, ftype: string, threads: number, backend: string) {
  const t0 = Date.now();
  if (kind === 'ours') {
    const { quantizeFile } = await import('../src/node/index.js');
    const f = parseFtype(ftype)!;
    await quantizeFile({ input, output, options: { ftype: f.id, ftypeName: f.name, nthreads: threads, backend: backend as 'cpu' } });
  } else {
    const { loadOracle } = await import('../test/oracle/llama-cpp.js');
    const o = loadOracle();
    if (!o) throw new Error('oracle unavailable');
    const rc = o.modelQuantize(input, output, { ftype: parseFtype(ftype)!.id, nthread: threads });
    if (rc !== 0) throw new Error(`llama_model_quantize returned ${rc}`);
  }
  const ms = Date.now() - t0;
  const maxRssMiB = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(JSON.stringify({ ms, maxRssMiB }) + '\n');
}

/**
 * Preloaded into the CLI's process (node --import): at exit, write that process's peak RSS (ru_maxrss,
 * which counts Dawn's and SwiftShader's threads too: they are the same process) to $WQ_RSS_FILE.
 */
const RSS_HOOK = 'data:text/javascript,' + encodeURIComponent(
  "import fs from 'node:fs'; process.on('exit', () => fs.writeFileSync(process.env.WQ_RSS_FILE, " +
  "JSON.stringify({ maxRssMiB: process.resourceUsage().maxRSS / 1024 })));");

/** The command line as a child: wall time from spawn to exit (node's start included), peak RSS from the hook. */
async function cliChild(input: string, output: string, ftype: string, threads: number, backend: string) {
  const bin = path.join(here, '..', '..', 'bin', 'webgpu-quantize.js');
  const rssFile = `${output}.rss.json`;
  const t0 = Date.now();
  const c = trackChild(spawn(process.execPath, ['--import', RSS_HOOK, bin, '--backend', backend, input, output, ftype, String(threads)],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, WQ_RSS_FILE: rssFile } }));
  let tail = '';
  c.stdout!.on('data', (d) => { tail = (tail + d).slice(-4096); });
  const status = await new Promise<number | null>((resolve) => c.once('close', resolve));
  const ms = Date.now() - t0;
  if (status !== 0) throw new Error(`webgpu-quantize --backend ${backend} failed (status ${status}):\n${tail}`);
  const banner = tail.split('\n').filter((l) => /adapter|SwiftShader|backend/i.test(l)).slice(0, 2);
  for (const l of banner) console.log(`  cli: ${l}`);
  const { maxRssMiB } = JSON.parse(fs.readFileSync(rssFile, 'utf8')) as { maxRssMiB: number };
  fs.rmSync(rssFile);
  return { ms, maxRssMiB, out: output };
}

function sha256(file: string): string {
  const h = crypto.createHash('sha256');
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.allocUnsafe(16 << 20);
  try {
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0;) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

async function main() {
  if (argv[0] === '--child') {
    const [, kind, input, output, ftype, threads, backend] = argv;
    await child(kind as 'ours' | 'oracle', input, output, ftype, Number(threads), backend);
    return;
  }
  const f = parseBenchFlags(argv, {
    gb: { kind: 'number', default: '0.1' }, ftype: { kind: 'string', default: 'Q4_K_M' },
    threads: { kind: 'int', default: String(os.availableParallelism()) }, backend: { kind: 'string', default: 'cpu', choices: ['cpu', 'gpu', 'auto'] },
    cli: { kind: 'bool' }, 'check-cpu': { kind: 'bool' }, 'no-oracle': { kind: 'bool' }, keep: { kind: 'bool' },
  }, USAGE);
  const gb = Number(f.gb);
  const ftype = f.ftype as string;
  if (!parseFtype(ftype)) {
    process.stderr.write(`error: --ftype: unknown type '${ftype}' (see webgpu-quantize --help)\n`);
    process.exit(2);
  }
  const threads = Number(f.threads);
  const backend = f.backend as string;
  const dir = benchTempDir('wq-rss-', f.keep as boolean);
  const input = path.join(dir, 'model-f16.gguf');
  const spec = llamaSpecForSize(gb, `rss-bench-${gb}gb`, 11);
  let t0 = Date.now();
  await syntheticModel(spec).write(await FileSink.create(input));
  const size = fs.statSync(input).size;
  console.log(`generated ${input}: ${(size / 1e9).toFixed(2)} GB F16, ${spec.nLayer} layers, in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const self = path.join(here, 'model-rss.js');
  // asynchronous children, so that Ctrl-C reaches this process's handler (which stops them, then cleans up)
  const run = async (kind: string, be = backend) => {
    const out = path.join(dir, `${kind}-${be}-${ftype}.gguf`);
    if (kind === 'ours' && f.cli) return cliChild(input, out, ftype, threads, be);
    const c = trackChild(spawn(process.execPath, [self, '--child', kind, input, out, ftype, String(threads), be], { stdio: ['ignore', 'pipe', 'inherit'] }));
    let stdout = '';
    c.stdout!.on('data', (d) => { stdout = (stdout + d).slice(-4096); });
    const status = await new Promise<number | null>((resolve) => c.once('close', resolve));
    if (status !== 0) throw new Error(`${kind} run failed (status ${status})`);
    const last = stdout.trim().split('\n').pop()!;
    return { ...JSON.parse(last), out } as { ms: number; maxRssMiB: number; out: string };
  };
  const how = f.cli ? 'webgpu-quantize CLI' : 'quantizeFile';
  const ours = await run('ours');
  const oursSha = sha256(ours.out);
  console.log(`ours   (${how}, --backend ${backend}, ${threads} threads): ${(ours.ms / 1000).toFixed(1)} s, peak RSS ${ours.maxRssMiB.toFixed(0)} MiB, ${(size / 1e6 / (ours.ms / 1000)).toFixed(1)} MB/s input, output ${fs.statSync(ours.out).size} bytes sha256 ${oursSha}`);
  let differ = false;
  const compare = (label: string, other: { ms: number; maxRssMiB: number; out: string }) => {
    const sha = sha256(other.out);
    differ ||= sha !== oursSha;
    console.log(`${label}: ${(other.ms / 1000).toFixed(1)} s, peak RSS ${other.maxRssMiB.toFixed(0)} MiB, sha256 ${sha}`);
    console.log(`time ratio ours/${label.split(' ')[0]}: ${(ours.ms / other.ms).toFixed(2)}; outputs ${sha === oursSha ? 'identical' : 'DIFFER'}`);
    fs.rmSync(other.out);
  };
  if (f['check-cpu']) compare(`cpu (${how}, --backend cpu, ${threads} threads)`, await run('ours', 'cpu'));
  if (!f['no-oracle']) compare(`llama.cpp llama_model_quantize (${threads} threads; its RSS includes its mmap of the input)`, await run('oracle'));
  if (differ) process.exitCode = 1;
}

await main();
