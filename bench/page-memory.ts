/**
 * Memory of the in-browser page over a whole model: headless Chromium (WebGPU on SwiftShader unless the
 * machine has a GPU) opens the page served by `webgpu-quantize serve`'s server, is given a generated
 * model through the page's file input, runs the chosen type on the chosen backend with the output
 * streamed through the save-file path (showSaveFilePicker answered with an origin-private file: the same
 * FileSystemWritableFileStream sink a user's chosen file gets), and meanwhile samples, every
 * --interval-ms, the page's and the worker's JavaScript heaps through the DevTools protocol
 * (Runtime.getHeapUsage on each target's own session) and the RSS of every Chromium process from /proc
 * (with the kernel's own peak, VmHWM). The output is read back and compared with the CLI's CPU path.
 * Everything goes to a temporary folder (model, browser profile), removed at the end and on Ctrl-C.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GgmlType } from '../src/core/ggml-type.js';
import { startServer } from '../src/node/commands/serve.js';
import { FileSink } from '../src/node/file-io.js';
import { parseFtype } from '../src/policy/ftype.js';
import { syntheticModel } from '../src/synthetic-model.js';
import { benchTempDir, interrupted, parseBenchFlags, trackChild } from './lib/bench-cli.js';
import { CdpPipe, processTree, type ProcMem } from './lib/cdp-pipe.js';
import { llamaSpecForSize } from './lib/model-size.js';

const USAGE = `usage: node dist/bench/page-memory.js [--size-gb 0.064] [--dtype f16|f32] [--ftype Q8_0] [--backend gpu|cpu|auto] [--interval-ms 200] [--timeout-min 60] [--no-compare] [--keep]

  Drives the in-browser page (dist/web) in headless Chromium over a generated llama-shaped model of about
  --size-gb GB (10^9 bytes) in --dtype, quantizing to --ftype on --backend with the streamed save, and
  reports the peak memory of the page and of its worker (JS heaps through the DevTools protocol) and of
  Chromium's processes (RSS from /proc) against the model size. The output is read back and compared,
  by sha256, with the CLI's CPU path (--no-compare skips that). Needs /usr/bin/chromium and about twice
  --size-gb of free disk in the temporary folder, which is removed at the end and on Ctrl-C (--keep
  leaves it).`;

const CHROMIUM = '/usr/bin/chromium';
const f = parseBenchFlags(process.argv.slice(2), {
  'size-gb': { kind: 'number', default: '0.064' }, dtype: { kind: 'string', default: 'f16', choices: ['f16', 'f32'] },
  ftype: { kind: 'string', default: 'Q8_0' }, backend: { kind: 'string', default: 'gpu', choices: ['gpu', 'cpu', 'auto'] },
  'interval-ms': { kind: 'int', default: '200' }, 'timeout-min': { kind: 'number', default: '60' },
  'no-compare': { kind: 'bool' }, keep: { kind: 'bool' },
}, USAGE);

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.resolve(here, '../../bin/webgpu-quantize.js');
const WEB = path.resolve(here, '../web');
const MB = 1e6;
const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 8 * MiB })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** the CLI's CPU path on the same model, in a child process; its output's sha256 */
async function cpuReference(input: string, output: string, ftype: string): Promise<{ sha: string; ms: number }> {
  const t0 = Date.now();
  const p = trackChild(spawn(process.execPath, [BIN, '--backend', 'cpu', input, output, ftype], { stdio: ['ignore', 'ignore', 'pipe'] }));
  let err = '';
  p.stderr!.on('data', (d) => { err = (err + d).slice(-2000); });
  const code = await new Promise<number | null>((r) => p.once('close', r));
  if (code !== 0) throw new Error(`CPU reference run failed (exit ${code}): ${err}`);
  const ms = Date.now() - t0;
  const sha = await sha256File(output);
  fs.rmSync(output, { force: true });
  return { sha, ms };
}

interface Heap { used: number; total: number; backing: number }
interface Peaks { page: Heap; worker: Heap; procs: Map<number, ProcMem>; sumRss: number; samples: number; workerSamples: number }

const maxHeap = (a: Heap, b: Heap): Heap => ({ used: Math.max(a.used, b.used), total: Math.max(a.total, b.total), backing: Math.max(a.backing, b.backing) });
const zeroHeap = (): Heap => ({ used: 0, total: 0, backing: 0 });

async function heapOf(cdp: CdpPipe, session: string): Promise<Heap> {
  const r = await cdp.send<{ usedSize: number; totalSize: number; backingStorageSize?: number }>('Runtime.getHeapUsage', {}, session);
  return { used: r.usedSize, total: r.totalSize, backing: r.backingStorageSize ?? 0 };
}

async function main() {
  const gb = Number(f['size-gb']);
  const ftype = f.ftype as string;
  if (!parseFtype(ftype)) {
    process.stderr.write(`error: --ftype: unknown type '${ftype}' (see webgpu-quantize --help)\n`);
    process.exit(2);
  }
  if (!fs.existsSync(path.join(WEB, 'index.html'))) {
    process.stderr.write(`error: the page is not built (${WEB}/index.html is missing): run npm run build\n`);
    process.exit(2);
  }
  if (!fs.existsSync(CHROMIUM)) {
    process.stderr.write(`error: ${CHROMIUM} is not installed\n`);
    process.exit(2);
  }
  const dtype: GgmlType.F32 | GgmlType.F16 = f.dtype === 'f32' ? GgmlType.F32 : GgmlType.F16;
  const dir = benchTempDir('wq-pagemem-', f.keep as boolean);
  const input = path.join(dir, `model-${f.dtype}.gguf`);
  // llamaSpecForSize sizes an F16 model; an F32 one of the same bytes has half the parameters
  const spec = { ...llamaSpecForSize(dtype === GgmlType.F32 ? gb / 2 : gb, `page-memory-${gb}gb`, 13), dtype };
  let t0 = Date.now();
  await syntheticModel(spec).write(await FileSink.create(input));
  const modelBytes = fs.statSync(input).size;
  console.log(`model: ${(modelBytes / 1e9).toFixed(3)} GB ${String(f.dtype).toUpperCase()}, n_embd ${spec.nEmbd}, ${spec.nLayer} layers (generated in ${((Date.now() - t0) / 1000).toFixed(0)} s)`);

  const { server, url } = await startServer(WEB, { port: 0, host: '127.0.0.1' });
  const cdp = CdpPipe.launch(CHROMIUM, ['--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader',
    `--user-data-dir=${path.join(dir, 'profile')}`, '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--no-first-run', '--no-default-browser-check', 'about:blank'], path.join(dir, 'tmp'));
  trackChild(cdp.proc, { group: true });
  try {
    await runPage(cdp, url, input, modelBytes, dir, ftype);
  } finally {
    await cdp.send('Browser.close').catch(() => undefined);
    if (cdp.proc.exitCode === null && cdp.proc.signalCode === null) await Promise.race([new Promise((r) => cdp.proc.once('exit', r)), sleep(5000)]);
    try {
      process.kill(-cdp.proc.pid!, 'SIGKILL');
    } catch {
      // all gone
    }
    server.close();
  }
}

async function runPage(cdp: CdpPipe, url: string, input: string, modelBytes: number, dir: string, ftype: string): Promise<void> {
  const interval = Number(f['interval-ms']);
  // the page target, with its own flattened session
  let targets: { targetId: string; type: string }[] = [];
  for (let i = 0; i < 100 && !targets.some((t) => t.type === 'page'); i++) {
    targets = (await cdp.send<{ targetInfos: { targetId: string; type: string }[] }>('Target.getTargets')).targetInfos;
    if (!targets.some((t) => t.type === 'page')) await sleep(100);
  }
  const pageTarget = targets.find((t) => t.type === 'page');
  if (!pageTarget) throw new Error(`chromium opened no page: ${cdp.stderrTail()}`);
  const { sessionId: page } = await cdp.send<{ sessionId: string }>('Target.attachToTarget', { targetId: pageTarget.targetId, flatten: true });
  // the page's dedicated worker attaches to the page's session when the page starts it
  let worker: string | null = null;
  cdp.on('Target.attachedToTarget', (p, from) => {
    const info = p.targetInfo as { type: string };
    if (from === page && info.type === 'worker') worker = p.sessionId as string;
  });
  cdp.on('Target.detachedFromTarget', (p) => {
    if (p.sessionId === worker) worker = null;
  });
  await cdp.send('Page.enable', {}, page);
  await cdp.send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: false, flatten: true }, page);
  // the save-file picker answered with an origin-private file: the page streams into it (StreamSink over
  // FileSystemWritableFileStream, as into a file a user picks); a dialog cannot be answered headless
  await cdp.send('Page.addScriptToEvaluateOnNewDocument', {
    source: `window.showSaveFilePicker = async (o) => { window.__picked = o.suggestedName;
      return (await navigator.storage.getDirectory()).getFileHandle(o.suggestedName, { create: true }); };`,
  }, page);
  await cdp.send('Page.navigate', { url: `${url}index.html` }, page);
  await waitFor(cdp, page, 'window.__wq?.ready === true', 30_000, 'the page did not load');
  const adapter = await waitFor<string>(cdp, page, `(() => { const t = document.getElementById('adapter').textContent; return t.startsWith('Looking') ? null : t; })()`, 30_000, 'no adapter line');

  const { root } = await cdp.send<{ root: { nodeId: number } }>('DOM.getDocument', {}, page);
  const { nodeId } = await cdp.send<{ nodeId: number }>('DOM.querySelector', { nodeId: root.nodeId, selector: '#model-input' }, page);
  await cdp.send('DOM.setFileInputFiles', { nodeId, files: [input] }, page);
  const summary = await waitFor<string>(cdp, page, `(() => { const s = document.getElementById('model-summary'); return s.hidden ? null : s.textContent; })()`, 60_000, 'no model summary');
  await cdp.evaluate(page, `(() => {
    const set = (id, v) => { const el = document.getElementById(id); el.value = v; if (el.value !== v) throw new Error(id + ': no option ' + v); el.dispatchEvent(new Event('change')); };
    set('ftype', ${JSON.stringify(ftype)}); set('backend', ${JSON.stringify(f.backend)});
  })()`);
  const estimate = await cdp.evaluate<string>(page, `document.getElementById('estimate').textContent`);
  console.log(`page: ${adapter}`);
  console.log(`page: ${summary}`);
  console.log(`page: ${ftype}: ${estimate}`);

  const baseline = processTree(cdp.proc.pid!);
  const baseHeap = await heapOf(cdp, page);
  const peaks: Peaks = { page: baseHeap, worker: zeroHeap(), procs: new Map(), sumRss: 0, samples: 0, workerSamples: 0 };
  const sampleProcs = () => {
    const tree = processTree(cdp.proc.pid!);
    peaks.sumRss = Math.max(peaks.sumRss, tree.reduce((n, p) => n + p.rssKiB, 0));
    for (const p of tree) {
      const old = peaks.procs.get(p.pid);
      peaks.procs.set(p.pid, { ...p, rssKiB: Math.max(p.rssKiB, old?.rssKiB ?? 0), hwmKiB: Math.max(p.hwmKiB, old?.hwmKiB ?? 0) });
    }
  };
  // one request in flight per target: a busy worker answers late, the other samples go on
  let pageBusy = false;
  let workerBusy = false;
  const sampleHeaps = () => {
    if (!pageBusy) {
      pageBusy = true;
      void heapOf(cdp, page).then((h) => { peaks.page = maxHeap(peaks.page, h); }, () => undefined).finally(() => { pageBusy = false; });
    }
    const w = worker;
    if (w && !workerBusy) {
      workerBusy = true;
      void heapOf(cdp, w).then((h) => { peaks.worker = maxHeap(peaks.worker, h); peaks.workerSamples++; }, () => undefined).finally(() => { workerBusy = false; });
    }
  };

  console.log(`running ${ftype} on --backend ${f.backend}, sampling every ${interval} ms ...`);
  const t0 = Date.now();
  await cdp.evaluate(page, `document.getElementById('go').click()`);
  const limit = Number(f['timeout-min']) * 60_000;
  let outcome: { state: string; text: string; progress: string } | null = null;
  let lastReport = Date.now();
  for (;;) {
    sampleProcs();
    sampleHeaps();
    peaks.samples++;
    outcome = await cdp.evaluate(page, `(() => {
      const shown = (id) => !document.getElementById(id).hidden;
      return { state: shown('result') ? 'result' : shown('error') ? 'error' : 'running', text: (shown('error') ? document.getElementById('error') : document.getElementById('result')).textContent,
        progress: document.getElementById('progress-text').textContent };
    })()`);
    if (outcome!.state !== 'running') break;
    if (Date.now() - t0 > limit) throw new Error(`no result after ${f['timeout-min']} min; progress: ${outcome!.progress}`);
    if (Date.now() - lastReport > 30_000) {
      lastReport = Date.now();
      console.log(`  ${((Date.now() - t0) / 1000).toFixed(0)} s: ${outcome!.progress}`);
    }
    await sleep(interval);
  }
  const ms = Date.now() - t0;
  // the kernel's own peaks cover what fell between samples
  sampleProcs();
  await sleep(2 * interval);
  if (outcome!.state === 'error') throw new Error(`the page failed: ${outcome!.text}`);
  console.log(`page: ${outcome!.text}`);

  // the streamed output, read back out of the origin-private file in 8 MiB pieces
  const name = await cdp.evaluate<string>(page, 'window.__picked');
  const h = createHash('sha256');
  let outBytes = 0;
  for (let off = 0; ; off += 8 * MiB) {
    const b64 = await cdp.evaluate<string>(page, `(async () => {
      const file = await (await (await navigator.storage.getDirectory()).getFileHandle(${JSON.stringify(name)})).getFile();
      const b = new Uint8Array(await file.slice(${off}, ${off + 8 * MiB}).arrayBuffer());
      let s = ''; for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode.apply(null, b.subarray(i, i + 0x8000));
      return btoa(s);
    })()`);
    const buf = Buffer.from(b64, 'base64');
    if (buf.length === 0) break;
    if (off % (128 * MiB) === 0 && off) console.log(`  read back ${off / MiB} MiB`);
    h.update(buf);
    outBytes += buf.length;
  }
  const pageSha = h.digest('hex');
  console.log(`read the output back from the page: ${outBytes} bytes`);
  await cdp.send('Browser.close').catch(() => undefined);

  let verdict = 'not compared (--no-compare)';
  if (!f['no-compare']) {
    const ref = await cpuReference(input, path.join(dir, 'cpu.gguf'), ftype);
    verdict = ref.sha === pageSha ? `identical to the CLI's CPU path (sha256 ${pageSha.slice(0, 16)}; CPU run ${(ref.ms / 1000).toFixed(1)} s)`
      : `DIFFERENT from the CLI's CPU path (page ${pageSha.slice(0, 16)}, cpu ${ref.sha.slice(0, 16)})`;
    if (ref.sha !== pageSha) process.exitCode = 1;
  }

  // the table
  const mb = (n: number) => (n / MB).toFixed(1);
  const ratio = (n: number) => `${((100 * n) / modelBytes).toFixed(1)} %`;
  const rows: [string, string, string][] = [
    ['model (input) bytes', `${modelBytes} (${mb(modelBytes)} MB)`, ''],
    ['output bytes', `${outBytes} (${mb(outBytes)} MB)`, ratio(outBytes)],
    ['seconds (click to result)', (ms / 1000).toFixed(1), ''],
    ['throughput', `${(modelBytes / MB / (ms / 1000)).toFixed(1)} MB/s of input`, ''],
    ['page JS heap peak: used / total', `${mb(peaks.page.used)} / ${mb(peaks.page.total)} MB (before the run: ${mb(baseHeap.used)} used)`, ratio(peaks.page.total)],
    ['worker JS heap peak: used / total', `${mb(peaks.worker.used)} / ${mb(peaks.worker.total)} MB (${peaks.workerSamples} samples)`, ratio(peaks.worker.total)],
  ];
  if (peaks.page.backing || peaks.worker.backing) {
    rows.push(['ArrayBuffer backing stores peak: page / worker', `${mb(peaks.page.backing)} / ${mb(peaks.worker.backing)} MB`, ratio(Math.max(peaks.page.backing, peaks.worker.backing))]);
  }
  // per Chromium process: its peak RSS (the kernel's VmHWM) and its RSS before the run; renderers one by
  // one (the page and its dedicated worker share the renderer that grew), other kinds their largest
  const grew = (p: ProcMem) => p.hwmKiB - (baseline.find((b) => b.pid === p.pid)?.rssKiB ?? 0);
  const renderers = [...peaks.procs.values()].filter((p) => p.kind === 'renderer').sort((a, b) => grew(b) - grew(a));
  const byKind = new Map<string, ProcMem[]>();
  for (const p of peaks.procs.values()) if (p.kind !== 'renderer') byKind.set(p.kind, [...(byKind.get(p.kind) ?? []), p]);
  const procRow = (label: string, p: ProcMem) => {
    const base = baseline.find((b) => b.pid === p.pid)?.rssKiB ?? 0;
    rows.push([`RSS peak (VmHWM), ${label}`, `${mb(p.hwmKiB * 1024)} MB (before the run: ${mb(base * 1024)} MB)`, ratio(p.hwmKiB * 1024)]);
  };
  renderers.forEach((p, i) => procRow(i === 0 ? 'renderer of the page and its worker' : `another renderer (pid ${p.pid})`, p));
  for (const [kind, ps] of [...byKind].sort((a, b) => Math.max(...b[1].map((p) => p.hwmKiB)) - Math.max(...a[1].map((p) => p.hwmKiB)))) {
    const top = ps.reduce((a, b) => (b.hwmKiB > a.hwmKiB ? b : a));
    procRow(kind === 'gpu-process' ? 'GPU process (SwiftShader)' : `${kind}${ps.length > 1 ? ` (largest of ${ps.length})` : ''}`, top);
  }
  rows.push(['RSS, all Chromium processes together, sampled peak', `${mb(peaks.sumRss * 1024)} MB (before the run: ${mb(baseline.reduce((n, p) => n + p.rssKiB, 0) * 1024)} MB)`, ratio(peaks.sumRss * 1024)]);
  console.log('');
  console.log(`${ftype} of a ${mb(modelBytes)} MB ${String(f.dtype).toUpperCase()} model in the page, --backend ${f.backend}, streamed save; ${peaks.samples} samples every ${interval} ms`);
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  console.log(`${'what'.padEnd(w0)}  ${'measured'.padEnd(w1)}  of the model size`);
  for (const [a, b, c] of rows) console.log(`${a.padEnd(w0)}  ${b.padEnd(w1)}  ${c}`);
  console.log(`output: ${verdict}`);
}

/** poll `expression` in the page until it gives a non-null value */
async function waitFor<T>(cdp: CdpPipe, session: string, expression: string, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await cdp.evaluate<T | null | false>(session, expression).catch(() => null);
    if (v !== null && v !== false && v !== undefined) return v as T;
    if (Date.now() > end) throw new Error(`${what} after ${ms / 1000} s`);
    await sleep(100);
  }
}

try {
  await main();
} catch (e) {
  // Ctrl-C stops Chromium under a pending request: the signal handler cleans up and exits (130), not this error
  if (!interrupted()) throw e;
  await new Promise(() => setTimeout(() => undefined, 60_000));
}
