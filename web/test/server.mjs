// A tiny static HTTP server for the browser tests, demo and benchmarks, on
// 127.0.0.1 only. Routes:
//   /models/<name>/...   the model folders under .deps/models/
//   /ort/...             onnxruntime-web's dist/ (web/node_modules)
//   /bench-data/...      build/web-bench/ (the ONNX export)
//   /test-data/...       build/web-test/ (files the tests make, e.g. wgml synth models)
//   /...                 web/ itself
// Counts requests per path so that tests can check what a page fetched.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const WEB = path.resolve(here, '..');
export const ROOT = path.resolve(WEB, '..');

const TYPES = {'.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript',
               '.wasm': 'application/wasm', '.json': 'application/json', '.css': 'text/css',
               '.png': 'image/png', '.txt': 'text/plain; charset=utf-8', '.onnx': 'application/octet-stream'};

const ROUTES = [
  ['/models/', path.join(ROOT, '.deps/models')],
  ['/ort/', path.join(WEB, 'node_modules/onnxruntime-web/dist')],
  ['/bench-data/', path.join(ROOT, 'build/web-bench')],
  ['/test-data/', path.join(ROOT, 'build/web-test')],
  ['/', WEB],
];

export function startServer({port = 0} = {}) {
  const requests = new Map();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    let p = decodeURIComponent(url.pathname);
    if (p.endsWith('/') && fs.existsSync(path.join(WEB, p, 'index.html'))) p += 'index.html';
    requests.set(p, (requests.get(p) || 0) + 1);
    const [prefix, dir] = ROUTES.find(([r]) => p.startsWith(r));
    const file = path.resolve(dir, '.' + p.slice(prefix.length - 1));
    if (!file.startsWith(dir) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404, {'content-type': 'text/plain'});
      res.end('not found');
      return;
    }
    res.writeHead(200, {
      'content-type': TYPES[path.extname(file)] || 'application/octet-stream',
      'content-length': fs.statSync(file).size,
      'cache-control': 'no-store',
      // onnxruntime-web's threaded wasm needs a cross-origin isolated page.
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
    });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => {
    const {port: p} = server.address();
    resolve({
      url: `http://127.0.0.1:${p}`,
      requests,
      count: (prefix) => [...requests].filter(([k]) => k.startsWith(prefix)).reduce((s, [, n]) => s + n, 0),
      close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }),
    });
  }));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = Number(process.argv[2] || 8080);
  startServer({port}).then((s) => console.log(`serving web/ at ${s.url}/ (demo: ${s.url}/demo/)`));
}
