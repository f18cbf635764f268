// The demo with the real default models (all-MiniLM-L6-v2 and
// SmolLM2-135M-Instruct), not part of the test suite: on SwiftShader SmolLM2
// decodes at about 0.1 tokens/s, so one chat turn takes minutes.
//   node web/test/demo_real.mjs [--update-screenshots]
// runs the demo tests of demo.mjs with SmolLM2 and a greedy answer of at most
// 24 tokens; the screenshot goes to build/web-test/demo.png, and with
// --update-screenshots to web/screenshots/demo.png with what was checked in
// web/screenshots/demo.json (which `demo.screenshot` in run.mjs checks).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {launch} from './browser.mjs';
import {startServer, ROOT} from './server.mjs';
import {demoTests} from './demo.mjs';

const args = process.argv.slice(2);
const server = await startServer();
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'wgml-chromium-'));
const browser = await launch({userDataDir: profile});
const page = browser.pages()[0] ?? await browser.newPage();
const lines = [];
page.on('console', (m) => lines.push(`${m.type()}: ${m.text()}`));
const ctx = {server, page, browser, root: ROOT, state: {}, updateScreenshots: args.includes('--update-screenshots')};
let failed = 0;
const t0 = Date.now();
for (const t of demoTests({name: 'demo_real', chat: 'What is the capital of France?', maxTokens: 24,
                           timeoutMs: 1800000, committable: true})) {
  const t1 = Date.now();
  try {
    const r = await t.run(ctx);
    console.log(`ok   ${t.name} (${((Date.now() - t1) / 1000).toFixed(1)} s)${r?.note ? ': ' + r.note : ''}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${t.name} (${((Date.now() - t1) / 1000).toFixed(1)} s): ${e.stack || e}`);
    for (const l of lines.slice(-20)) console.log(`     | ${l}`);
  }
}
await browser.close();
await server.close();
fs.rmSync(profile, {recursive: true, force: true});
console.log(`(${((Date.now() - t0) / 1000).toFixed(0)} s, Chromium on SwiftShader)`);
process.exit(failed ? 1 : 0);
