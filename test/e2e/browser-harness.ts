/**
 * What the browser end-to-end tests share: the page built into dist/web (rebuilt when a source is newer),
 * served over http://127.0.0.1 (a secure origin: navigator.gpu and the origin-private file system need
 * one), and a fresh headless Chromium per page (WebGPU on SwiftShader).
 *
 * Without /usr/bin/chromium the suites are skipped locally and fail in CI (CI=true): they use
 * `describe.skipIf(!HAVE_CHROMIUM && !IN_CI)`, so in CI the launch itself fails.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { REPO_ROOT } from '../golden/shared-paths.js';

export const CHROMIUM = '/usr/bin/chromium';
export const IN_CI = process.env.CI === 'true';
export const HAVE_CHROMIUM = fs.existsSync(CHROMIUM);
export const WEB_DIST = path.join(REPO_ROOT, 'dist/web');

/** newest mtime under `dir` of files matching `re` */
function newest(dir: string, re: RegExp): number {
  let t = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && re.test(e.name)) t = Math.max(t, fs.statSync(path.join(e.parentPath ?? (e as { path?: string }).path ?? dir, e.name)).mtimeMs);
  }
  return t;
}

/** dist/ rebuilt (scripts/build.mjs) when web/, src/, shaders/ or the build script is newer than the page */
export function buildIfStale(): void {
  const outs = ['index.html', 'main.js', 'worker.js'].map((f) => path.join(WEB_DIST, f));
  const built = outs.every((f) => fs.existsSync(f)) ? Math.min(...outs.map((f) => fs.statSync(f).mtimeMs)) : 0;
  const sources = Math.max(newest(path.join(REPO_ROOT, 'web'), /\.(ts|html)$/), newest(path.join(REPO_ROOT, 'src'), /\.ts$/),
    newest(path.join(REPO_ROOT, 'shaders'), /\.wgsl$/), fs.statSync(path.join(REPO_ROOT, 'scripts/build.mjs')).mtimeMs);
  if (built < sources) execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: REPO_ROOT, stdio: 'inherit' });
}

const MIME: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.map': 'application/json' };

export function serve(root: string): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).replace(/^\/+/, '') || 'index.html';
    const file = path.resolve(root, rel);
    if (!file.startsWith(root + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': MIME[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/**
 * A fresh browser and page at `origin`; `picker`: 'none' hides showSaveFilePicker, 'opfs' answers it with an
 * origin-private file. One browser per test: its GPU process is shared by every page, so a GPU that
 * hangs in one test would otherwise stall rendering (and Playwright's clicks) in the next.
 */
export async function openPageAt(origin: string, picker: 'none' | 'opfs'): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader',
      '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const context = await browser.newContext({ acceptDownloads: true });
  context.on('close', () => void browser.close());
  await context.addInitScript(picker === 'none'
    ? 'Object.defineProperty(window, "showSaveFilePicker", { value: undefined, configurable: true });'
    : `window.showSaveFilePicker = async (o) => { window.__picked = o.suggestedName;
         return (await navigator.storage.getDirectory()).getFileHandle(o.suggestedName, { create: true }); };`);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${origin}/index.html`);
  await page.waitForFunction(() => (window as unknown as { __wq?: { ready: boolean } }).__wq?.ready === true);
  return { context, page, errors };
}
