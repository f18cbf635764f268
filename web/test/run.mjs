// The browser tests of wgml's wasm build, in headless Chromium (Debian's,
// WebGPU on SwiftShader): node web/test/run.mjs [NAME...]
// Prints one line per test and ends with "browser: N passed, N failed, N skipped".
// SwiftShader runs BERT slowly and compiles kernels slowly: the tests use a
// few short sentences, and a small synthetic decoder for generation (the
// demo with SmolLM2 is demo_real.mjs, outside the suite).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {launch} from './browser.mjs';
import {startServer, ROOT} from './server.mjs';
import {tests as embedTests} from './embed.mjs';
import {tests as genTests} from './generate.mjs';
import {tests as demoTests} from './demo.mjs';

const args = process.argv.slice(2);
const only = args.filter((a) => !a.startsWith('--'));
const all = [...embedTests, ...genTests, ...demoTests].filter((t) => !only.length || only.some((o) => t.name.startsWith(o)));

if (!fs.existsSync(path.join(ROOT, 'web/dist/wgml.wasm'))) {
  console.error('web/dist/wgml.wasm is missing: run web/build.sh first');
  process.exit(1);
}

const server = await startServer();
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'wgml-chromium-'));
const browser = await launch({userDataDir: profile});   // one profile: the Cache API persists across reloads
const page = browser.pages()[0] ?? await browser.newPage();
const consoleLines = [];
page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));

const ctx = {server, page, browser, root: ROOT, state: {}};
let passed = 0, failed = 0, skipped = 0;
const t0 = Date.now();
for (const t of all) {
  const t1 = Date.now();
  consoleLines.length = 0;
  try {
    const r = await t.run(ctx);
    const secs = ((Date.now() - t1) / 1000).toFixed(1);
    if (r && r.skipped) {
      skipped++;
      console.log(`SKIP ${t.name} (${secs} s): ${r.skipped}`);
    } else {
      passed++;
      console.log(`ok   ${t.name} (${secs} s)${r && r.note ? ': ' + r.note : ''}`);
    }
  } catch (e) {
    failed++;
    console.log(`FAIL ${t.name} (${((Date.now() - t1) / 1000).toFixed(1)} s): ${e.stack || e}`);
    for (const l of consoleLines.slice(-20)) console.log(`     | ${l}`);
  }
}
await browser.close();
await server.close();
fs.rmSync(profile, {recursive: true, force: true});
console.log(`(${((Date.now() - t0) / 1000).toFixed(0)} s, Chromium on SwiftShader)`);
console.log(`browser: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed ? 1 : 0);
