/**
 * The practice in the page, end to end in headless Chromium on stories260K: a calibration text makes the
 * imatrix in the worker (WebGPU matmuls on SwiftShader, the page's backend `gpu`), the model is quantized
 * with it (Q4_K_M), and "check quality" reports the KL divergence of the output from the original on an
 * evaluation text. Checked against the CLI run on the same files (dist/cli.js, `--backend gpu`, Dawn on
 * the same SwiftShader): the downloaded model and imatrix equal `--calibrate`'s byte for byte, and the
 * shown statistics equal what `kld --json` prints, at the page's printing precision.
 *
 * SwiftShader runs these forward passes at about 10 tokens/s, so the texts are cut to 2 chunks of 64 tokens.
 * Without /usr/bin/chromium the suite is skipped locally and fails in CI (CI=true).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, SHARED } from '../golden/shared-paths.js';
import { buildIfStale, CHROMIUM, HAVE_CHROMIUM, IN_CI, openPageAt, serve, WEB_DIST } from './browser-harness.js';

if (!HAVE_CHROMIUM && !IN_CI) console.log(`browser calibrate e2e skipped: ${CHROMIUM} is not installed`);

const MODEL = path.join(SHARED, 'models/stories260K-gguf/stories260K.gguf');
const TEXTS = path.join(SHARED, 'data/tinystories');
const CLI = path.join(REPO_ROOT, 'dist/cli.js');
const SHOTS = path.join(REPO_ROOT, 'test/e2e/__screenshots__');
/** the forward passes of 2 chunks of 64 tokens (imatrix) or 2 x 2 (check) take about 15-30 s on SwiftShader */
const STEP_LIMIT_MS = 240_000;

function cli(args: string[], cwd: string): Promise<{ out: string; err: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', maxBuffer: 64 << 20 }, (e, out, err) => {
      if (e) reject(new Error(`webgpu-quantize ${args.join(' ')} failed: ${err.trim().split('\n').slice(-3).join(' | ')}`));
      else resolve({ out, err });
    });
  });
}

/** waits until the page shows `id`, or its error line (then fails with it) */
async function shown(page: Page, id: string): Promise<void> {
  const h = await page.waitForFunction((id) => {
    if (!document.getElementById('error')!.hidden) return `error: ${document.getElementById('error')!.textContent}`;
    return !document.getElementById(id)!.hidden ? 'ok' : null;
  }, id, { timeout: STEP_LIMIT_MS }).catch(async (e) => {
    const log = (await page.locator('#log').textContent().catch(() => null))?.trim().split('\n').slice(-2).join(' | ');
    throw new Error(`#${id} not shown after ${STEP_LIMIT_MS} ms; the page's log ends with: ${log} (${(e as Error).message.split('\n')[0]})`);
  });
  expect(await h.jsonValue()).toBe('ok');
}

async function download(page: Page, selector: string): Promise<{ name: string; bytes: Buffer }> {
  const [d] = await Promise.all([page.waitForEvent('download'), page.click(selector)]);
  return { name: d.suggestedFilename(), bytes: fs.readFileSync((await d.path())!) };
}

describe.skipIf(!HAVE_CHROMIUM && !IN_CI)('page: calibrate, quantize, check quality (stories260K, headless Chromium)', () => {
  let server: http.Server;
  let origin: string;
  let tmp: string;

  beforeAll(async () => {
    buildIfStale();
    server = await serve(WEB_DIST);
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wq-page-calib-'));
    // 360 characters: 160 and 171 tokens, so 2 whole chunks of 64 each (the -1 default takes all of them)
    fs.writeFileSync(path.join(tmp, 'calib.txt'), fs.readFileSync(path.join(TEXTS, 'calib.txt'), 'utf8').slice(0, 360));
    fs.writeFileSync(path.join(tmp, 'eval.txt'), fs.readFileSync(path.join(TEXTS, 'eval.txt'), 'utf8').slice(0, 360));
    fs.writeFileSync(path.join(tmp, 'short.txt'), 'Once upon a time there was a cat.');
    fs.mkdirSync(SHOTS, { recursive: true });
  });
  afterAll(async () => {
    await new Promise((r) => server?.close(r));
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('calibration text -> imatrix in the worker -> Q4_K_M -> check quality; equal to the CLI (screenshots saved)', async () => {
    const t0 = Date.now();
    const { context, page, errors } = await openPageAt(origin, 'none');
    // the CLI's one-step practice on the same files, meanwhile (relative names: they are stored in the outputs)
    const cliCalibrate = cli(['--backend', 'gpu', '--calibrate', 'calib.txt', '--eval-ctx', '64', MODEL, 'stories260K-Q4_K_M.gguf', 'Q4_K_M'], tmp);
    cliCalibrate.catch(() => undefined);
    try {
      // the defaults are llama-imatrix's
      expect(await page.locator('#eval-ctx').inputValue()).toBe('512');
      expect(await page.locator('#eval-chunks').inputValue()).toBe('-1');
      expect(await page.locator('#check').isDisabled()).toBe(true);
      await page.setInputFiles('#model-input', MODEL);
      await page.waitForFunction(() => !document.getElementById('model-summary')!.hidden);
      // low-bit warnings as without a calibration text; the text satisfies the imatrix requirement
      await page.selectOption('#ftype', 'IQ2_XXS');
      await expect.poll(() => page.locator('#lowbit-warning').isVisible()).toBe(true);
      expect(await page.locator('#lowbit-warning').textContent()).toMatch(/^IQ2_XXS (needs|without) an importance matrix: .*calibration text/);
      await page.setInputFiles('#calib-input', path.join(tmp, 'calib.txt'));
      await expect.poll(() => page.locator('#lowbit-warning').isVisible()).toBe(false);
      await page.selectOption('#ftype', 'Q4_K_M');
      await page.fill('#eval-ctx', '64');
      await page.selectOption('#backend', 'gpu');
      await page.screenshot({ path: path.join(SHOTS, 'calib-1-picked.png'), fullPage: true });

      await page.click('#go');
      // llama-imatrix's running perplexity while the chunks go through
      await page.waitForFunction(() => /^imatrix: [12] of 2 chunks {2}· {2}PPL \d+\.\d{4}$/.test(document.getElementById('progress-text')!.textContent!), undefined, { timeout: STEP_LIMIT_MS });
      await page.screenshot({ path: path.join(SHOTS, 'calib-2-imatrix-progress.png'), fullPage: true });
      await shown(page, 'result');
      const tRun = Date.now() - t0;
      expect(await page.locator('#calib-summary').textContent()).toBe('imatrix made from calib.txt, 2 chunks of 64 tokens');
      expect(await page.locator('#calib-result').textContent()).toMatch(/\(\d+ matrices, PPL \d+\.\d{4} ± \d+\.\d{5}, forward pass on gpu \(.*swiftshader.*\)\); quantizing with it\. Download stories260K-Q4_K_M\.imatrix\.gguf$/i);
      const log = (await page.locator('#log').textContent())!.split('\n');
      expect(log.filter((l) => /^\[1\]\d+\.\d{4},\[2\]\d+\.\d{4},$/.test(l))).toHaveLength(1);
      expect(log.some((l) => /without an importance matrix/.test(l))).toBe(false);
      await page.screenshot({ path: path.join(SHOTS, 'calib-3-quantized.png'), fullPage: true });

      const model = await download(page, '#download');
      const imatrix = await download(page, '#imatrix-download');
      expect(model.name).toBe('stories260K-Q4_K_M.gguf');
      expect(imatrix.name).toBe('stories260K-Q4_K_M.imatrix.gguf');
      const c = await cliCalibrate;
      expect(c.out).toMatch(/calibrated on calib\.txt: imatrix of \d+ matrices over 2 chunks of 64 tokens .* written to stories260K-Q4_K_M\.imatrix\.gguf; quantizing with it/);
      const tCli = Date.now() - t0;
      expect(imatrix.bytes.equals(fs.readFileSync(path.join(tmp, 'stories260K-Q4_K_M.imatrix.gguf'))), 'imatrix = the CLI\'s').toBe(true);
      expect(model.bytes.equals(fs.readFileSync(path.join(tmp, 'stories260K-Q4_K_M.gguf'))), 'model = the CLI\'s').toBe(true);

      // check quality on the bytes just produced; the CLI's kld on the same two files meanwhile
      fs.writeFileSync(path.join(tmp, 'page-Q4_K_M.gguf'), model.bytes);
      const cliKld = cli(['kld', '--backend', 'gpu', MODEL, 'page-Q4_K_M.gguf', '-f', 'eval.txt', '-c', '64', '--json'], tmp);
      cliKld.catch(() => undefined);
      expect(await page.locator('#check-note').textContent()).toBe('Compares stories260K-Q4_K_M.gguf with stories260K.gguf.');
      await page.setInputFiles('#eval-input', path.join(tmp, 'eval.txt'));
      const t1 = Date.now();
      await page.click('#check');
      await shown(page, 'quality');
      const tCheck = Date.now() - t1;
      await page.screenshot({ path: path.join(SHOTS, 'calib-4-quality.png'), fullPage: true });
      const cell = (id: string) => page.locator(`#${id}`).textContent();
      const k = JSON.parse((await cliKld).out.trim().split('\n').at(-1)!) as Record<string, [number, number]> & { chunks: number; tokens: number };
      expect(k.chunks).toBe(2);
      expect(k.tokens).toBe(62);
      const pm = (v: [number, number], d: number, unit = '') => `${v[0].toFixed(d)} ± ${v[1].toFixed(d)}${unit}`;
      expect({
        pplBase: await cell('q-ppl-base'), pplQ: await cell('q-ppl-q'), kld: await cell('q-kld'), rmsDp: await cell('q-rms-dp'), sameTop: await cell('q-same-top'),
      }).toEqual({
        pplBase: pm(k.ppl_base, 6), pplQ: pm(k.ppl_q, 6), kld: pm(k.mean_kld, 6), rmsDp: pm(k.rms_dp_pct, 3, ' %'), sameTop: pm(k.same_top_p_pct, 3, ' %'),
      });
      expect(await page.locator('#check-note').textContent()).toMatch(/^stories260K-Q4_K_M\.gguf vs stories260K\.gguf on eval\.txt: 2 chunks of 64 tokens \(62 tokens scored\), forward passes on gpu \(.*\), [\d.]+ s\.$/);
      expect(errors).toEqual([]);
      console.log(`page calibrate+quantize ${(tRun / 1000).toFixed(1)} s (CLI alongside done at ${(tCli / 1000).toFixed(1)} s), check quality ${(tCheck / 1000).toFixed(1)} s`);
    } finally {
      await context.close();
    }
  }, 900_000);

  it('check quality on a file saved through the save-file picker (read back from disk), CPU backend: equal to the CLI\'s kld --backend cpu', async () => {
    const { context, page, errors } = await openPageAt(origin, 'opfs');
    try {
      await page.setInputFiles('#model-input', MODEL);
      await page.selectOption('#ftype', 'Q8_0');
      await page.selectOption('#backend', 'cpu');
      await page.fill('#eval-ctx', '64');
      await page.click('#go');
      await shown(page, 'result');
      expect(await page.locator('#result').textContent()).toContain('Saved stories260K-Q8_0.gguf');
      expect(await page.locator('#calib-result').isHidden()).toBe(true);
      const b64 = await page.evaluate(async () => {
        const file = await (await (await navigator.storage.getDirectory()).getFileHandle('stories260K-Q8_0.gguf')).getFile();
        const url = await new Promise<string>((resolve) => { const r = new FileReader(); r.onload = () => resolve(r.result as string); r.readAsDataURL(file); });
        return url.slice(url.indexOf(',') + 1);
      });
      fs.writeFileSync(path.join(tmp, 'saved-Q8_0.gguf'), Buffer.from(b64, 'base64'));
      const cliKld = cli(['kld', '--backend', 'cpu', MODEL, 'saved-Q8_0.gguf', '-f', 'eval.txt', '-c', '64', '--json'], tmp);
      cliKld.catch(() => undefined);
      await page.setInputFiles('#eval-input', path.join(tmp, 'eval.txt'));
      await page.click('#check');
      await shown(page, 'quality');
      const k = JSON.parse((await cliKld).out.trim().split('\n').at(-1)!) as Record<string, [number, number]>;
      expect(await page.locator('#q-kld').textContent()).toBe(`${k.mean_kld[0].toFixed(6)} ± ${k.mean_kld[1].toFixed(6)}`);
      expect(await page.locator('#q-ppl-q').textContent()).toBe(`${k.ppl_q[0].toFixed(6)} ± ${k.ppl_q[1].toFixed(6)}`);
      expect(await page.locator('#check-note').textContent()).toMatch(/, forward passes on cpu, [\d.]+ s\.$/);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 300_000);

  it('the chunks field (--chunks 1) on the CPU backend: the imatrix equals the CLI\'s imatrix -c 64 --chunks 1 --backend cpu', async () => {
    const { context, page, errors } = await openPageAt(origin, 'none');
    try {
      await page.setInputFiles('#model-input', MODEL);
      await page.setInputFiles('#calib-input', path.join(tmp, 'calib.txt'));
      await page.fill('#eval-ctx', '64');
      await page.fill('#eval-chunks', '1');
      await page.selectOption('#backend', 'cpu');
      const cliImatrix = cli(['imatrix', '-m', MODEL, '-f', 'calib.txt', '-o', 'cli-1chunk.imatrix.gguf', '-c', '64', '--chunks', '1', '--backend', 'cpu'], tmp);
      cliImatrix.catch(() => undefined);
      await page.click('#go');
      await shown(page, 'result');
      expect(await page.locator('#calib-summary').textContent()).toBe('imatrix made from calib.txt, 1 chunks of 64 tokens');
      expect(await page.locator('#calib-result').textContent()).toContain('forward pass on cpu)');
      const imatrix = await download(page, '#imatrix-download');
      await cliImatrix;
      expect(imatrix.bytes.equals(fs.readFileSync(path.join(tmp, 'cli-1chunk.imatrix.gguf'))), 'imatrix = the CLI\'s').toBe(true);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 300_000);

  it('IQ2_XXS: warned about without an imatrix, not with a calibration text; on the CPU backend equal to the CLI\'s --calibrate --backend cpu', async () => {
    const { context, page, errors } = await openPageAt(origin, 'none');
    try {
      const cliRun = cli(['--backend', 'cpu', '--calibrate', 'calib.txt', '--eval-ctx', '64', MODEL, 'stories260K-IQ2_XXS.gguf', 'IQ2_XXS'], tmp);
      cliRun.catch(() => undefined);
      await page.setInputFiles('#model-input', MODEL);
      await page.selectOption('#ftype', 'IQ2_XXS');
      await page.selectOption('#backend', 'cpu');
      await page.fill('#eval-ctx', '64');
      const warning = (l: string) => /^webgpu-quantize: WARNING: IQ2_XXS without an importance matrix: \d+ of 48 tensors become low-bit types/.test(l);
      await page.click('#go');
      await shown(page, 'result');
      expect((await page.locator('#log').textContent())!.split('\n').filter(warning)).toHaveLength(1);
      await page.setInputFiles('#calib-input', path.join(tmp, 'calib.txt'));
      await page.click('#go');
      await shown(page, 'result');
      expect(await page.locator('#calib-summary').textContent()).toBe('imatrix made from calib.txt, 2 chunks of 64 tokens');
      expect((await page.locator('#log').textContent())!.split('\n').filter(warning)).toEqual([]);
      const model = await download(page, '#download');
      const imatrix = await download(page, '#imatrix-download');
      const c = await cliRun;
      expect(c.err.split('\n').filter(warning)).toEqual([]);
      expect(imatrix.bytes.equals(fs.readFileSync(path.join(tmp, 'stories260K-IQ2_XXS.imatrix.gguf'))), 'imatrix = the CLI\'s').toBe(true);
      expect(model.bytes.equals(fs.readFileSync(path.join(tmp, 'stories260K-IQ2_XXS.gguf'))), 'model = the CLI\'s').toBe(true);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 300_000);

  it('a calibration text too short for one context: one error line, nothing to download, no imatrix', async () => {
    const { context, page, errors } = await openPageAt(origin, 'none');
    try {
      await page.setInputFiles('#model-input', MODEL);
      await page.setInputFiles('#calib-input', path.join(tmp, 'short.txt'));
      await page.fill('#eval-ctx', '64');
      await page.selectOption('#backend', 'cpu');
      await page.click('#go');
      await page.waitForFunction(() => !document.getElementById('error')!.hidden, undefined, { timeout: STEP_LIMIT_MS });
      expect(await page.locator('#error').textContent()).toMatch(/^error: short\.txt: the text tokenizes to only \d+ tokens; a context of 64 needs at least 128$/);
      expect(await page.locator('#download').count()).toBe(0);
      expect(await page.locator('#imatrix-download').count()).toBe(0);
      expect(await page.locator('#check').isDisabled()).toBe(true);
      // a bad -c is refused before anything runs
      await page.fill('#eval-ctx', '1');
      await page.click('#go');
      await expect.poll(() => page.locator('#error').textContent()).toBe("error: the context (-c) must be an integer of at least 2, got '1'");
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 300_000);
});
