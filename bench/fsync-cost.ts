/**
 * What the durable output costs: FileSink with fsync (the file before the rename, its folder after it)
 * against the same sink without, side by side in one run, for output sizes from a small model's to a
 * large slab, plus one whole quantization (the shared synth model to Q8_0) with each. Runs alternate
 * (durable, plain, durable, ...) so that disk cache state and other load hit both alike; medians print.
 *
 *   node dist/fsync-cost.js [--dir D] [--sizes 1,16,128] [--repeats 5]
 *
 * `--dir` is where the files go (default os.tmpdir(); pick the disk you care about: on tmpfs fsync is free).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FileSink } from '../src/node/file-io.js';
import { quantizeFile } from '../src/node/index.js';
import { InlineCpuBackend } from '../src/pipeline/backend.js';

const argv = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : def;
};
const dir = fs.mkdtempSync(path.join(arg('--dir', os.tmpdir()), 'fsync-cost-'));
const sizesMiB = arg('--sizes', '1,16,128').split(',').map(Number);
const repeats = Number(arg('--repeats', '5'));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function writeOnce(bytes: number, durable: boolean): Promise<number> {
  const out = path.join(dir, `out-${durable ? 'd' : 'p'}.bin`);
  const chunk = new Uint8Array(4 << 20).fill(durable ? 1 : 2);
  const t0 = process.hrtime.bigint();
  const sink = await FileSink.create(out, { durable });
  for (let done = 0; done < bytes; done += chunk.length) await sink.write(chunk.subarray(0, Math.min(chunk.length, bytes - done)));
  await sink.close();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  fs.rmSync(out);
  return ms;
}

const fsType = (() => {
  try {
    return fs.readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')).filter((f) => f.length > 2 && dir.startsWith(f[1]))
      .sort((a, b) => b[1].length - a[1].length)[0]?.[2] ?? '?';
  } catch {
    return '?';
  }
})();
console.log(`fsync cost: ${dir} (${fsType}), ${repeats} alternating runs each, medians`);
console.log('output size   plain (no fsync)   durable (fsync file + folder)   extra');
try {
  // warm-up (JIT, first file creation in the folder), not counted
  await writeOnce(1 << 20, true);
  await writeOnce(1 << 20, false);
  for (const mib of sizesMiB) {
    const d: number[] = [];
    const p: number[] = [];
    for (let r = 0; r < repeats; r++) {
      d.push(await writeOnce(mib << 20, true));
      p.push(await writeOnce(mib << 20, false));
    }
    const md = median(d), mp = median(p);
    console.log(`${String(mib).padStart(7)} MiB   ${mp.toFixed(1).padStart(10)} ms      ${md.toFixed(1).padStart(14)} ms          ${(md - mp).toFixed(1).padStart(7)} ms`);
  }
  const synth = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../shared/golden/synth-v050/synth-f32.gguf');
  if (fs.existsSync(synth)) {
    // the whole run through the real pipeline: the sink is chosen by patching FileSink.create's default
    const create = FileSink.create.bind(FileSink);
    const times: Record<string, number[]> = { durable: [], plain: [] };
    const backend = new InlineCpuBackend();
    for (let r = 0; r < repeats; r++) {
      for (const durable of [true, false]) {
        FileSink.create = (p: string) => create(p, { durable });
        const out = path.join(dir, 'synth-q8_0.gguf');
        const t0 = process.hrtime.bigint();
        await quantizeFile({ input: synth, output: out, backend, options: { ftype: 7, ftypeName: 'Q8_0', nthreads: 1 } });
        times[durable ? 'durable' : 'plain'].push(Number(process.hrtime.bigint() - t0) / 1e6);
        fs.rmSync(out);
      }
    }
    FileSink.create = create;
    console.log(`whole run, synth-f32.gguf (4.8 MiB) -> Q8_0 (1.3 MiB), 1 thread: plain ${median(times.plain).toFixed(1)} ms, durable ${median(times.durable).toFixed(1)} ms`);
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
