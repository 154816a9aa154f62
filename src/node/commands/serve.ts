/**
 * `webgpu-quantize serve [--port N] [--host H]`: serves the in-browser page (dist/web) over HTTP, on
 * 127.0.0.1:8080 by default. WebGPU needs a secure origin, and localhost is one; the page sends nothing
 * anywhere, so binding to another host is only useful for a browser on another machine of a trusted network.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../../errors.js';

export const SERVE_USAGE = `usage: webgpu-quantize serve [--port N] [--host H]

  Serves the in-browser quantizer page (nothing is uploaded: the browser reads and writes the files).
  --port N   TCP port (default 8080; 0 picks a free one)
  --host H   address to listen on (default 127.0.0.1; WebGPU needs localhost or HTTPS)
`;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.wasm': 'application/wasm',
};

/** The built page: dist/web beside the bundled CLI (dist/cli.js), or dist/web three folders above this source file (tests). */
export function webRoot(): string {
  for (const rel of ['./web/', '../../../dist/web/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (fs.existsSync(path.join(dir, 'index.html'))) return dir;
  }
  throw new UsageError('serve: the page is not built (dist/web/index.html is missing): run `npm run build`');
}

export interface ServeOptions {
  port: number;
  host: string;
}

export function parseServeArgs(argv: string[]): ServeOptions & { help: boolean } {
  const o = { port: 8080, host: '127.0.0.1', help: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new UsageError(`serve: ${a} needs a value`);
      return argv[++i];
    };
    if (a === '-h' || a === '--help') o.help = true;
    else if (a === '--port') {
      const v = value();
      const n = Number(v);
      if (!/^\d+$/.test(v) || n > 65535) throw new UsageError(`serve: --port: expected a port number 0-65535, got '${v}'`);
      o.port = n;
    } else if (a === '--host') o.host = value();
    else throw new UsageError(`serve: unknown argument '${a}' (see serve --help)`);
  }
  return o;
}

/** Start the server; resolves once it listens, with the URL to open. */
export function startServer(root: string, o: ServeOptions): Promise<{ server: http.Server; url: string }> {
  const server = http.createServer((req, res) => {
    const urlPath = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const rel = urlPath.endsWith('/') ? `${urlPath}index.html` : urlPath;
    const file = path.join(root, path.normalize(rel));
    const inside = file.startsWith(root);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    let stat: fs.Stats | undefined;
    try {
      stat = inside ? fs.statSync(file) : undefined;
    } catch {
      stat = undefined;
    }
    if (!stat?.isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end(`not found: ${urlPath}\n`);
      return;
    }
    res.writeHead(200, {
      'content-type': CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream',
      'content-length': stat.size,
      'cache-control': 'no-cache',
    });
    if (req.method === 'HEAD') res.end();
    else fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE') reject(new UsageError(`serve: port ${o.port} on ${o.host} is already in use (choose another with --port N)`));
      else if (e.code === 'EACCES') reject(new UsageError(`serve: not allowed to listen on ${o.host}:${o.port} (ports below 1024 need privileges; try --port 8080)`));
      else if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND') reject(new UsageError(`serve: cannot listen on host '${o.host}': no such local address`));
      else reject(e);
    });
    server.listen(o.port, o.host, () => {
      const addr = server.address() as { port: number };
      const host = o.host.includes(':') ? `[${o.host}]` : o.host;
      resolve({ server, url: `http://${host}:${addr.port}/` });
    });
  });
}

export async function runServe(argv: string[], log: { info(line: string): void; warn(line: string): void }): Promise<number> {
  const o = parseServeArgs(argv);
  if (o.help) {
    process.stdout.write(SERVE_USAGE);
    return 0;
  }
  const root = webRoot();
  const { server, url } = await startServer(root, o);
  log.info(`webgpu-quantize: serving the page at ${url} (Ctrl-C stops)`);
  if (!['127.0.0.1', 'localhost', '::1'].includes(o.host)) {
    log.warn(`webgpu-quantize: note: browsers enable WebGPU only on localhost or HTTPS; from another machine, ${url} may show no GPU`);
  }
  await new Promise<void>((resolve) => {
    const stop = () => {
      server.close(() => resolve());
      server.closeAllConnections();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  return 0;
}
