/** `webgpu-quantize serve`: the page and its scripts over HTTP on 127.0.0.1, nothing outside dist/web. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../golden/shared-paths.js';

const BIN = path.join(REPO_ROOT, 'bin/webgpu-quantize.js');
let child: ChildProcess;
let url: string;

function rawGet(pathname: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get(new URL(url), { path: pathname }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    }).on('error', reject);
  });
}

beforeAll(async () => {
  child = spawn(process.execPath, [BIN, 'serve', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /serving the page at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`serve exited with ${code} before listening: ${out}`)));
  });
});
afterAll(() => {
  if (child.exitCode === null) child.kill('SIGKILL');
});

describe('webgpu-quantize serve', () => {
  it('prints a 127.0.0.1 URL and serves the page, its script and its worker', async () => {
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await page.text()).toContain('<title>webgpu-quantize');
    for (const f of ['main.js', 'worker.js']) {
      const r = await fetch(url + f);
      expect(r.status, f).toBe(200);
      expect(r.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    }
  });

  it('answers 404 for missing files and for paths that climb out of dist/web', async () => {
    expect((await fetch(url + 'nope.js')).status).toBe(404);
    expect((await rawGet('/../package.json')).status).toBe(404);
    expect((await rawGet('/..%2f..%2fpackage.json')).status).toBe(404);
  });

  it('stops cleanly on Ctrl-C (SIGINT) with exit code 0', async () => {
    const code = await new Promise<number | null>((resolve) => {
      child.once('exit', (c) => resolve(c));
      child.kill('SIGINT');
    });
    expect(code).toBe(0);
  });

  it('refuses a bad port in one line', () => {
    const r = spawnSync(process.execPath, [BIN, 'serve', '--port', '99999'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe("webgpu-quantize: error: serve: --port: expected a port number 0-65535, got '99999'");
  });
});
