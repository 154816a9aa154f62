/**
 * Peak memory and time of a whole-model run, ours against llama.cpp's `llama_model_quantize` at the same
 * thread count, on a generated F16 llama model of the requested size (default 0.1 GB; the published
 * figure used --gb 4). Each side runs in its own child process so that its peak RSS (getrusage
 * ru_maxrss) is its own. The generated files are removed on exit and on Ctrl-C.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileSink } from '../src/node/file-io.js';
import { parseFtype } from '../src/policy/ftype.js';
import { syntheticModel } from '../src/synthetic-model.js';
import { llamaSpecForSize } from './lib/model-size.js';
import { benchTempDir, parseBenchFlags, trackChild } from './lib/bench-cli.js';

const USAGE = `usage: node dist/bench/model-rss.js [--gb 0.1] [--ftype Q4_K_M] [--threads N] [--backend cpu|gpu|auto] [--no-oracle] [--keep]

  Peak memory (RSS) and time of a whole-model run against llama.cpp's llama_model_quantize, on a generated
  F16 llama model of about --gb GB (written to a temporary folder, removed at the end and on Ctrl-C;
  --keep leaves it). Needs about twice --gb of free disk.`;

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

async function main() {
  if (argv[0] === '--child') {
    const [, kind, input, output, ftype, threads, backend] = argv;
    await child(kind as 'ours' | 'oracle', input, output, ftype, Number(threads), backend);
    return;
  }
  const f = parseBenchFlags(argv, {
    gb: { kind: 'number', default: '0.1' }, ftype: { kind: 'string', default: 'Q4_K_M' },
    threads: { kind: 'int', default: String(os.availableParallelism()) }, backend: { kind: 'string', default: 'cpu', choices: ['cpu', 'gpu', 'auto'] },
    'no-oracle': { kind: 'bool' }, keep: { kind: 'bool' },
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
  const run = async (kind: string) => {
    const out = path.join(dir, `${kind}-${ftype}.gguf`);
    const c = trackChild(spawn(process.execPath, [self, '--child', kind, input, out, ftype, String(threads), backend], { stdio: ['ignore', 'pipe', 'inherit'] }));
    let stdout = '';
    c.stdout!.on('data', (d) => { stdout = (stdout + d).slice(-4096); });
    const status = await new Promise<number | null>((resolve) => c.once('close', resolve));
    if (status !== 0) throw new Error(`${kind} run failed (status ${status})`);
    const last = stdout.trim().split('\n').pop()!;
    return { ...JSON.parse(last), out } as { ms: number; maxRssMiB: number; out: string };
  };
  const ours = await run('ours');
  console.log(`ours   (${backend}, ${threads} threads): ${(ours.ms / 1000).toFixed(1)} s, peak RSS ${ours.maxRssMiB.toFixed(0)} MiB, ${(size / 1e6 / (ours.ms / 1000)).toFixed(1)} MB/s input`);
  if (!f['no-oracle']) {
    const ref = await run('oracle');
    console.log(`llama.cpp llama_model_quantize (${threads} threads): ${(ref.ms / 1000).toFixed(1)} s, peak RSS ${ref.maxRssMiB.toFixed(0)} MiB (includes its mmap of the input)`);
    const same = execFileSync('cmp', ['-s', ours.out, ref.out], { stdio: 'ignore' }) === null;
    console.log(`time ratio ours/llama.cpp: ${(ours.ms / ref.ms).toFixed(2)}; outputs ${same ? 'identical' : 'DIFFER'}`);
  }
}

await main();
