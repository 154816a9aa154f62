/**
 * The in-browser page end to end, in headless Chromium (WebGPU on SwiftShader when it offers an adapter):
 * the page's own inputs, buttons, worker, sinks and download, checked by whole-file sha256 against
 * llama-quantize's outputs in ../shared/golden/synth-v050. The page is served from dist/web over
 * http://127.0.0.1 (a secure origin: navigator.gpu and the origin-private file system need one).
 *
 * Without /usr/bin/chromium the suite is skipped locally and fails in CI (CI=true).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { MemorySink } from '../../src/formats/byte-source.js';
import { kvI32, kvU16, setKv, type GgufKv } from '../../src/formats/gguf-kv.js';
import { splitPath } from '../../src/formats/gguf-model.js';
import { parseGgufBytes } from '../../src/formats/gguf-reader.js';
import { paddingAfter, planOutput, ZERO_PAD } from '../../src/formats/gguf-writer.js';
import { REPO_ROOT, SYNTH_DIR } from '../golden/shared-paths.js';
import { buildIfStale, CHROMIUM, HAVE_CHROMIUM, IN_CI, openPageAt, serve, WEB_DIST } from './browser-harness.js';

if (!HAVE_CHROMIUM && !IN_CI) console.log(`browser e2e skipped: ${CHROMIUM} is not installed`);

const MODEL = path.join(SYNTH_DIR, 'synth-f32.gguf');
const IMATRIX = path.join(SYNTH_DIR, 'imatrix.gguf');
const manifest = JSON.parse(fs.readFileSync(path.join(SYNTH_DIR, 'MANIFEST.json'), 'utf8')) as { outputs: Record<string, { file_sha256: string }> };
const goldenSha = (key: string) => manifest.outputs[key].file_sha256;
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
/** a run of this 5 MB model takes about a second; past this it is hung (a stuck GPU pipeline, a lost worker) */
const RUN_LIMIT_MS = 45_000;

/** synth-f32.gguf cut into 3 shards the way gguf-split lays them out (split.* keys after shard 0's KVs) */
async function synthShards(): Promise<{ name: string; mimeType: string; buffer: Buffer }[]> {
  const bytes = new Uint8Array(fs.readFileSync(MODEL));
  const synth = parseGgufBytes(bytes, MODEL);
  const names = synth.tensors.map((t) => t.name);
  const groups = [names.slice(0, 8), names.slice(8, 15), names.slice(15)];
  const shards = [];
  for (let i = 0; i < groups.length; i++) {
    let kvs: GgufKv[] = i === 0 ? [...synth.kvs] : [];
    kvs = setKv(setKv(setKv(kvs, kvU16('split.no', i)), kvI32('split.tensors.count', names.length)), kvU16('split.count', groups.length));
    const tensors = groups[i].map((n) => synth.tensors.find((t) => t.name === n)!);
    const plan = planOutput({ kvs, tensors });
    const sink = new MemorySink();
    await sink.write(plan.meta);
    for (const t of tensors) {
      await sink.write(bytes.subarray(t.dataOffset, t.dataOffset + t.nbytes));
      await sink.write(ZERO_PAD.subarray(0, paddingAfter(t.nbytes)));
    }
    shards.push({ name: path.basename(splitPath('synth', i, groups.length)), mimeType: 'application/octet-stream', buffer: Buffer.from(sink.toBytes()) });
  }
  return shards;
}

/**
 * llama-quantize's per-tensor and size lines from its console log; where its imatrix loader printed
 * between "converting to X .." and "size = ...", the two halves are joined back into one line.
 */
function goldenReportLines(text: string): string[] {
  const lines = text.split('\n');
  const out: string[] = [];
  lines.forEach((l, i) => {
    if (/^\[\s*\d+\/\s*\d+\]/.test(l)) {
      out.push(l.includes('size =') ? l : l.slice(0, l.indexOf('.. ') + 3) + lines.slice(i + 1).find((s) => s.startsWith('size =')));
    } else if (/^llama_model_quantize_impl: (model|quant) size/.test(l)) {
      out.push(l);
    }
  });
  return out;
}
const isReportLine = (l: string) => /^\[\s*\d+\/\s*\d+\]/.test(l) || /^llama_model_quantize_impl: (model|quant) size/.test(l);

/** read bytes (or a Blob) out of the page as base64: Playwright's protocol carries JSON */
const PAGE_B64 = `async (data) => {
  const url = await new Promise((resolve) => { const r = new FileReader(); r.onload = () => resolve(r.result); r.readAsDataURL(new Blob([data])); });
  return url.slice(url.indexOf(',') + 1);
}`;

interface PageRun { b64: string; log: string[]; backend: string; outputName: string }

describe.skipIf(!HAVE_CHROMIUM && !IN_CI)('browser page (headless Chromium)', () => {
  let server: http.Server;
  let origin: string;
  const backends: string[] = [];

  beforeAll(async () => {
    buildIfStale();
    server = await serve(WEB_DIST);
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server?.close(r));
    if (backends.length) console.log(`browser e2e backends: ${[...new Set(backends)].join('; ')}`);
  });

  const openPage = (picker: 'none' | 'opfs') => openPageAt(origin, picker);

  /** waits until a run has ended: the result or the error line is shown */
  async function settled(page: Page): Promise<'result' | 'error'> {
    try {
      const h = await page.waitForFunction(() => {
        const shown = (id: string) => !document.getElementById(id)!.hidden;
        return shown('result') ? 'result' : shown('error') ? 'error' : null;
      }, undefined, { timeout: RUN_LIMIT_MS });
      return (await h.jsonValue()) as 'result' | 'error';
    } catch (e) {
      const log = (await page.locator('#log').textContent().catch(() => null))?.trim().split('\n').slice(-2).join(' | ');
      throw new Error(`no result after ${RUN_LIMIT_MS} ms; the page's log ends with: ${log} (${(e as Error).message.split('\n')[0]})`);
    }
  }

  /** window.__wq.quantize on the files currently in the page's model input */
  async function scripted(page: Page, opts: Record<string, unknown>, withImatrix = false): Promise<PageRun> {
    const r = await page.evaluate(async ([opts, withImatrix, b64src, RUN_LIMIT_MS]) => {
      const b64 = eval(b64src) as (d: BlobPart) => Promise<string>;
      const model = Array.from((document.getElementById('model-input') as HTMLInputElement).files!);
      const imatrix = withImatrix ? (document.getElementById('imatrix-input') as HTMLInputElement).files![0] : null;
      const w = (window as unknown as { __wq: { quantize(m: File[], o: object): Promise<{ bytes: Uint8Array; log: string[]; backend: string; outputName: string }> } }).__wq;
      const limit = new Promise<never>((_, reject) => setTimeout(() => {
        const log = document.getElementById('log')!.textContent!.trim().split('\n').slice(-2).join(' | ');
        reject(new Error(`no result after ${RUN_LIMIT_MS} ms; the page's log ends with: ${log}`));
      }, RUN_LIMIT_MS));
      const out = await Promise.race([w.quantize(model, { ...opts, imatrix }), limit]);
      return { b64: await b64(out.bytes as BlobPart), log: out.log, backend: out.backend, outputName: out.outputName };
    }, [opts, withImatrix, PAGE_B64, RUN_LIMIT_MS] as const);
    backends.push(r.backend);
    return r;
  }

  it('shows instead of logs: adapter on load, model summary and estimate, low-bit warning, per-tensor table (screenshots saved)', async () => {
    const shots = path.join(REPO_ROOT, 'test/e2e/__screenshots__');
    fs.mkdirSync(shots, { recursive: true });
    const { context, page, errors } = await openPage('none');
    const notFound: string[] = [];
    page.on('response', (r) => { if (r.status() >= 400) notFound.push(`${r.status()} ${r.url()}`); });
    try {
      // the adapter before any run: SwiftShader here, named and called software
      await page.waitForFunction(() => !document.getElementById('adapter')!.textContent!.startsWith('Looking'));
      expect(await page.locator('#adapter').textContent()).toMatch(/^GPU adapter: .*swiftshader.* — software .*Largest buffer [\d.]+ (MiB|GiB)/i);
      await page.screenshot({ path: path.join(shots, '1-load.png'), fullPage: true });
      // the ftype list says what needs an imatrix and what is CPU only (derived from the registries; every type has a kernel now)
      expect(await page.locator('#ftype option[value="IQ2_XXS"]').textContent()).toBe('IQ2_XXS (2.31 bpw, needs an imatrix)');
      expect(await page.locator('#ftype option[value="Q4_K_M"]').textContent()).not.toMatch(/not implemented/);
      expect(await page.locator('label:has(#imatrix-input)').textContent()).toContain('strongly recommended');

      await page.setInputFiles('#model-input', MODEL);
      await page.waitForFunction(() => !document.getElementById('model-summary')!.hidden);
      expect(await page.locator('#model-summary').textContent()).toMatch(/^llama .*: 1\.3 M parameters, 21 tensors, 4\.82 MiB of tensor data \(32\.00 bits per weight\)/);
      // llama.cpp's own dry run of this model: "quant size  =     0.74 MiB (4.89 BPW)"
      expect(await page.locator('#estimate').textContent()).toMatch(/^For this model: 0\.74 MiB \(4\.89 bits per weight\)\. $/);
      await page.screenshot({ path: path.join(shots, '2-model-q4_k_m.png'), fullPage: true });

      await page.selectOption('#ftype', 'Q2_K');
      await expect.poll(() => page.locator('#lowbit-warning').isVisible()).toBe(true);
      expect(await page.locator('#lowbit-warning').textContent()).toMatch(/^Q2_K without an importance matrix: .*strongly recommended/);
      expect(await page.locator('#bpw-bars span').count()).toBe(21);
      await page.screenshot({ path: path.join(shots, '3-q2_k-without-imatrix.png'), fullPage: true });
      await page.setInputFiles('#imatrix-input', IMATRIX);
      await expect.poll(() => page.locator('#lowbit-warning').isVisible()).toBe(false);
      await page.setInputFiles('#imatrix-input', []);

      await page.selectOption('#backend', 'cpu');
      await page.click('#go');
      expect(await settled(page)).toBe('result');
      // the table, filled as tensors finish: llama.cpp's own types for this model (mix/Q2_K)
      const golden = (manifest.outputs['mix/Q2_K'] as unknown as { tensors: Record<string, { type: string }> }).tensors;
      const rows = await page.locator('#tensors tbody tr').evaluateAll((trs) => trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent)));
      expect(rows).toHaveLength(21);
      for (const r of rows) expect(r[4]!.toLowerCase(), r[1]!).toBe(golden[r[1]!].type.toLowerCase());
      expect(await page.locator('#download').count()).toBe(1);
      expect(await page.locator('#log-box').getAttribute('open')).toBeNull(); // the raw log stays behind its toggle
      expect(await page.locator('#log').textContent()).toContain('WARNING: Q2_K without an importance matrix');
      await page.screenshot({ path: path.join(shots, '4-result-table.png'), fullPage: true });
      expect(notFound).toEqual([]);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('form: model from the file input, defaults (Q4_K_M, backend auto), in-memory result offered as a download', async () => {
    const { context, page, errors } = await openPage('none');
    try {
      expect(await page.locator('#output-note').textContent()).toContain('held in memory');
      expect(await page.locator('#ftype').inputValue()).toBe('Q4_K_M');
      await page.setInputFiles('#model-input', MODEL);
      expect(await page.locator('#model-info').textContent()).toBe('synth-f32.gguf (4.83 MiB)');
      await page.click('#go');
      expect(await settled(page)).toBe('result');
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
      expect(download.suggestedFilename()).toBe('synth-Q4_K_M.gguf');
      const bytes = fs.readFileSync((await download.path())!);
      expect(sha256(bytes)).toBe(goldenSha('mix/Q4_K_M'));
      const log = (await page.locator('#log').textContent())!.split('\n');
      expect(log.filter((l) => /^\[\s*\d+\/\s*21\] /.test(l))).toHaveLength(21);
      const backend = log.find((l) => l.startsWith('webgpu-quantize: backend: '))!.slice('webgpu-quantize: backend: '.length);
      backends.push(backend);
      expect(await page.locator('#result').textContent()).toContain(`on ${backend}`);
      expect(await page.locator('#progress').evaluate((p) => (p as HTMLProgressElement).value)).toBe(1);
      expect(await page.locator('#error').isHidden()).toBe(true);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('form: CPU backend, imatrix file, output streamed through the save-file picker; log lines equal llama-quantize\'s', async () => {
    const { context, page, errors } = await openPage('opfs');
    try {
      expect(await page.locator('#output-note').textContent()).toContain('written there as it is produced');
      await page.setInputFiles('#model-input', MODEL);
      await page.setInputFiles('#imatrix-input', IMATRIX);
      await page.selectOption('#backend', 'cpu');
      await page.click('#go');
      expect(await settled(page)).toBe('result');
      expect(await page.locator('#result').textContent()).toContain('Saved synth-Q4_K_M.gguf');
      const b64 = await page.evaluate(async (src) => {
        const name = (window as unknown as { __picked: string }).__picked;
        const file = await (await (await navigator.storage.getDirectory()).getFileHandle(name)).getFile();
        return (eval(src) as (d: BlobPart) => Promise<string>)(file);
      }, PAGE_B64);
      expect(sha256(Buffer.from(b64, 'base64'))).toBe(goldenSha('mix/Q4_K_M-imatrix'));
      const log = (await page.locator('#log').textContent())!.split('\n');
      const golden = goldenReportLines(fs.readFileSync(path.join(SYNTH_DIR, 'llama-quantize-log-Q4_K_M-imatrix.txt'), 'utf8'));
      expect(golden).toHaveLength(23);
      expect(log.filter(isReportLine)).toEqual(golden);
      fs.mkdirSync('/tmp/wq-e2e', { recursive: true });
      await page.screenshot({ path: '/tmp/wq-e2e/page-after-imatrix-run.png', fullPage: true });
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('split model: three shards given together; option variants; all on the CPU backend', async () => {
    const { context, page, errors } = await openPage('none');
    try {
      await page.setInputFiles('#model-input', await synthShards());
      expect(await page.locator('#model-info').textContent()).toContain('3 files');
      const split = await scripted(page, { backend: 'cpu' });
      expect(split.backend).toBe('cpu (1 thread)');
      expect(split.outputName).toBe('synth-Q4_K_M.gguf');
      // split.* keys are dropped from a single output file, so the result is the unsplit model's
      expect(sha256(Buffer.from(split.b64, 'base64'))).toBe(goldenSha('mix/Q4_K_M'));

      await page.setInputFiles('#model-input', MODEL);
      await page.setInputFiles('#imatrix-input', IMATRIX);
      const cases: [string, Record<string, unknown>, boolean][] = [
        ['mix/Q4_K_M-leave-output', { leaveOutputTensor: true }, false],
        ['mix/Q4_K_M-imatrix-q8-emb-out', { outputTensorType: 'q8_0', tokenEmbeddingType: 'q8_0', output: 'opfs' }, true],
        ['pure-imatrix/Q3_K', { ftype: 'Q3_K_M', pure: true }, true],
      ];
      for (const [key, opts, im] of cases) {
        const r = await scripted(page, { ...opts, backend: 'cpu' }, im);
        expect(sha256(Buffer.from(r.b64, 'base64')), key).toBe(goldenSha(key));
      }
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  /** runs on the page's WebGPU device; without one, fails in CI and is reported skipped (with its reason) locally */
  async function onGpu(ctx: TestContext, cases: [string, Record<string, unknown>, boolean][]): Promise<void> {
    const { context, page, errors } = await openPage('none');
    try {
      const adapter = await page.evaluate(async () => {
        const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
        return gpu ? ((await gpu.requestAdapter()) ? 'ok' : 'navigator.gpu gave no adapter') : 'no navigator.gpu';
      });
      if (adapter !== 'ok') {
        if (IN_CI) throw new Error(`browser e2e: WebGPU unavailable in Chromium (${adapter})`);
        ctx.skip(`browser e2e GPU cases: WebGPU unavailable in Chromium (${adapter})`);
      }
      await page.setInputFiles('#model-input', MODEL);
      await page.setInputFiles('#imatrix-input', IMATRIX);
      for (const [key, opts, im] of cases) {
        const r = await scripted(page, { ...opts, backend: 'gpu' }, im);
        expect(r.backend).toMatch(/^gpu /);
        expect(sha256(Buffer.from(r.b64, 'base64')), `${key} on ${r.backend}`).toBe(goldenSha(key));
      }
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }

  it('GPU backend in the worker: block types without imatrix (Q8_0, Q4_0, Q5_1)', (ctx) => onGpu(ctx, [
    ['pure/Q8_0', { ftype: 'Q8_0', pure: true }, false],
    ['pure/Q4_0', { ftype: 'Q4_0', pure: true }, false],
    ['pure/Q5_1', { ftype: 'Q5_1', pure: true, output: 'opfs' }, false],
  ]));

  it('GPU backend in the worker: imatrix kernels and K-quants (Q4_0 with imatrix, Q4_K_M mix with imatrix)', (ctx) => onGpu(ctx, [
    ['pure-imatrix/Q4_0', { ftype: 'Q4_0', pure: true }, true],
    ['mix/Q4_K_M-imatrix', {}, true],
  ]));

  it('errors: one line on the page, no download, and the page works again afterwards', async () => {
    const { context, page, errors } = await openPage('none');
    try {
      await page.selectOption('#backend', 'cpu');
      // a truncated model, dropped on the drop zone
      const head = fs.readFileSync(MODEL).subarray(0, 4096).toString('base64');
      await page.evaluate((b64) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], 'cut.gguf'));
        document.getElementById('drop')!.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
      }, head);
      expect(await page.locator('#model-info').textContent()).toBe('cut.gguf (0.00 MiB)');
      await page.click('#go');
      expect(await settled(page)).toBe('error');
      const message = (await page.locator('#error').textContent())!;
      expect(message).toMatch(/^error: cut\.gguf: .*4096/);
      expect(message).not.toContain('\n');
      expect(await page.locator('#download').count()).toBe(0);
      expect(await page.locator('#result').isHidden()).toBe(true);

      // a split model missing its middle shard
      const shards = await synthShards();
      await page.setInputFiles('#model-input', [shards[0], shards[2]]);
      await page.click('#go');
      expect(await settled(page)).toBe('error');
      expect(await page.locator('#error').textContent()).toBe(
        "error: synth-00001-of-00003.gguf is a split model and shard 'synth-00002-of-00003.gguf' was not given: select or drop all its shards together");
      expect(await page.locator('#download').count()).toBe(0);

      // a type llama.cpp refuses without an importance matrix is refused, saying how to get one
      await page.setInputFiles('#model-input', MODEL);
      await page.selectOption('#ftype', 'IQ2_XXS');
      await page.click('#go');
      expect(await settled(page)).toBe('error');
      expect(await page.locator('#error').textContent()).toMatch(/^error: .*iq2_xxs.*requires an importance matrix: compute one/);
      expect(await page.locator('#download').count()).toBe(0);

      // and a good run right after
      await page.selectOption('#ftype', 'Q4_K_M');
      await page.click('#go');
      expect(await settled(page)).toBe('result');
      expect(await page.locator('#download').count()).toBe(1);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
