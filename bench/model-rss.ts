/**
 * Peak memory and time of a whole-model run, ours against llama.cpp's `llama_model_quantize` at the same
 * thread count, on a generated F16 llama model of the requested size (default 4 GB). Each side runs in
 * its own child process so that its peak RSS (getrusage ru_maxrss) is its own.
 *
 *   node dist/model-rss.js [--gb 4] [--ftype Q4_K_M] [--threads N] [--backend cpu|gpu|auto] [--no-oracle] [--keep]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileSink } from '../src/node/file-io.js';
import { parseFtype } from '../src/policy/ftype.js';
import { GgmlType } from '../src/core/ggml-type.js';
import { syntheticModel, type SyntheticSpec } from '../src/synthetic-model.js';

const argv = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : def;
};
const here = path.dirname(fileURLToPath(import.meta.url));

/** a llama-like shape whose F16 size is about `gb` GB: n_embd 4096, n_ff 11008, vocab 32000, layers to fit */
function specFor(gb: number): SyntheticSpec {
  const nEmbd = 4096, nFf = 11008, nVocab = 32000, nHeadKv = 8;
  const perLayer = 2 * (2 * nEmbd * nEmbd + 2 * nEmbd * (nEmbd / 32) * nHeadKv + 3 * nEmbd * nFf);
  const fixed = 2 * 2 * nEmbd * nVocab;
  const nLayer = Math.max(1, Math.round((gb * 1e9 - fixed) / perLayer));
  return { nLayer, nEmbd, nFf, nHead: 32, nHeadKv, nVocab, dtype: GgmlType.F16, name: `rss-bench-${gb}gb`, seed: 11 };
}

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
  const gb = Number(arg('--gb', '4'));
  const ftype = arg('--ftype', 'Q4_K_M');
  const threads = Number(arg('--threads', String(os.availableParallelism())));
  const backend = arg('--backend', 'cpu');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wq-rss-'));
  const input = path.join(dir, 'model-f16.gguf');
  const spec = specFor(gb);
  let t0 = Date.now();
  await syntheticModel(spec).write(await FileSink.create(input));
  const size = fs.statSync(input).size;
  console.log(`generated ${input}: ${(size / 1e9).toFixed(2)} GB F16, ${spec.nLayer} layers, in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const self = path.join(here, 'model-rss.js');
  const run = (kind: string) => {
    const out = path.join(dir, `${kind}-${ftype}.gguf`);
    const r = spawnSync(process.execPath, [self, '--child', kind, input, out, ftype, String(threads), backend], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26 });
    if (r.status !== 0) throw new Error(`${kind} run failed (status ${r.status})`);
    const last = r.stdout.trim().split('\n').pop()!;
    return { ...JSON.parse(last), out } as { ms: number; maxRssMiB: number; out: string };
  };
  const ours = run('ours');
  console.log(`ours   (${backend}, ${threads} threads): ${(ours.ms / 1000).toFixed(1)} s, peak RSS ${ours.maxRssMiB.toFixed(0)} MiB, ${(size / 1e6 / (ours.ms / 1000)).toFixed(1)} MB/s input`);
  if (!argv.includes('--no-oracle')) {
    const ref = run('oracle');
    console.log(`llama.cpp llama_model_quantize (${threads} threads): ${(ref.ms / 1000).toFixed(1)} s, peak RSS ${ref.maxRssMiB.toFixed(0)} MiB (includes its mmap of the input)`);
    const same = execFileSync('cmp', ['-s', ours.out, ref.out], { stdio: 'ignore' }) === null;
    console.log(`time ratio ours/llama.cpp: ${(ours.ms / ref.ms).toFixed(2)}; outputs ${same ? 'identical' : 'DIFFER'}`);
  }
  if (!argv.includes('--keep')) fs.rmSync(dir, { recursive: true, force: true });
}

await main();
