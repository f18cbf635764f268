// wgml vs ONNX Runtime Web (WebGPU EP) on all-MiniLM-L6-v2 in headless
// Chromium: node web/bench/bench.mjs [--batch1 N] [--repeats N] [--tag NAME]
// Needs web/build.sh, the ONNX export (scripts/export_minilm_onnx.py, which
// writes build/web-bench/) and web/node_modules (scripts/setup.sh).
// Writes bench/results/<date>-browser-<tag>.json and .md (tag: swiftshader).
//
// Three page visits, each in a fresh page:
//   A  fresh profile: wgml then ONNX Runtime, batch 1 and batch 32 (same page)
//   B  fresh profile: ONNX Runtime alone, page load to first result (cold)
//   C  A's profile again: wgml alone, page load to first result (model from the Cache API)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {execFileSync} from 'node:child_process';
import {launch, chromiumPath} from '../test/browser.mjs';
import {startServer, ROOT, WEB} from '../test/server.mjs';

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const batch1 = Number(arg('batch1', 8)), repeats = Number(arg('repeats', 1)), tag = arg('tag', 'swiftshader');
for (const f of ['web/dist/wgml.wasm', 'build/web-bench/all-MiniLM-L6-v2.onnx', 'build/web-bench/sentences_ids.json'])
  if (!fs.existsSync(path.join(ROOT, f))) { console.error(`${f} is missing (see the header of web/bench/bench.mjs)`); process.exit(1); }

const server = await startServer();
async function visit(profile, opts) {
  const ctx = await launch({userDataDir: profile});
  const page = ctx.pages()[0] ?? await ctx.newPage();
  page.on('console', (m) => { if (m.type() === 'log' || /Failed|Error/.test(m.text())) console.log(`  page: ${m.text().slice(0, 200)}`); });
  await page.goto(`${server.url}/bench/`);
  const r = await page.evaluate((o) => window.runBench(o), opts);
  await ctx.close();
  return r;
}

const t0 = Date.now();
const profA = fs.mkdtempSync(path.join(os.tmpdir(), 'wgml-bench-a-'));
const profB = fs.mkdtempSync(path.join(os.tmpdir(), 'wgml-bench-b-'));
// Each visit's result is kept in build/web-bench/ as it arrives: a long run
// that fails late loses nothing (--resume reuses what is there).
const keep = async (name, f) => {
  const file = path.join(ROOT, `build/web-bench/visit-${name}.json`);
  if (process.argv.includes('--resume') && fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8'));
  const r = await f();
  fs.writeFileSync(file, JSON.stringify(r));
  return r;
};
console.log(`A: wgml then ONNX Runtime Web, batch 1 (${batch1} sentences) and batch 32…`);
const A = await keep('A', () => visit(profA, {batch1, repeats, order: 'wgml'}));
console.log('B: ONNX Runtime Web alone, first result…');
const B = await keep('B', () => visit(profB, {firstOnly: 'ort'}));
console.log('C: wgml alone again (model cached), first result…');
const C = await keep('C', () => visit(profA, {firstOnly: 'wgml'}));
await server.close();
for (const p of [profA, profB]) fs.rmSync(p, {recursive: true, force: true});

const size = (f) => fs.statSync(path.join(ROOT, f)).size;
const ortWasm = 'web/node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.jsep.wasm';
const ortPkg = JSON.parse(fs.readFileSync(path.join(WEB, 'node_modules/onnxruntime-web/package.json'), 'utf8'));
const byFamily = (prof) => {
  const m = {};
  for (const k of prof ?? []) { m[k.label] ??= {dispatches: 0, ms: 0}; m[k.label].dispatches++; m[k.label].ms += k.ns / 1e6; }
  return m;
};
const w = A.wgml, o = A.ort;
const result = {
  what: 'all-MiniLM-L6-v2 sentence embeddings in the browser: wgml (wasm + WebGPU) vs ONNX Runtime Web (WebGPU execution provider), same weights, same sentences, one Chromium session',
  device: 'SwiftShader (a CPU Vulkan device) under headless Chromium: this machine has no GPU. ' +
          'These numbers say how the two runtimes compare on a slow CPU rasteriser, not what either does on a real GPU.',
  date: new Date().toISOString(),
  chromium: execFileSync(chromiumPath(), ['--version'], {encoding: 'utf8'}).trim(),
  user_agent: A.userAgent,
  machine: {cores: os.cpus().length, load_average: os.loadavg().map((x) => +x.toFixed(2))},
  adapter: w.adapter, features: w.features,
  onnxruntime_web: ortPkg.version,
  sentences: A.texts, batch1_sentences: batch1, repeats,
  wasm_bytes: {wgml: size('web/dist/wgml.wasm'), onnxruntime_web_jsep: size(ortWasm)},
  wgml: {...w, batch1_profile_by_family: byFamily(w.batch1_profile), batch1_profile: undefined},
  onnxruntime: o,
  first_result_since_page_load_ms: {wgml_cold: w.first_result_since_page_load_ms, ort_cold: B.first_result_since_page_load_ms,
                                    wgml_cached_model: C.first_result_since_page_load_ms},
  ratio_ort_over_wgml: {batch1: o.batch1_ms / w.batch1_ms, batch32: o.batch32_ms / w.batch32_ms},
  cosine_min_wgml_vs_ort: A.cosine_min,
  bench_seconds: Math.round((Date.now() - t0) / 1000),
};
const date = new Date().toISOString().slice(0, 10);
const out = path.join(ROOT, 'bench/results', `${date}-browser-${tag}`);
fs.writeFileSync(`${out}.json`, JSON.stringify(result, null, 1) + '\n');

const f = (x, d = 0) => (x === undefined || x === null ? '–' : Number(x).toFixed(d));
const prof = Object.entries(result.wgml.batch1_profile_by_family).sort((a, b) => b[1].ms - a[1].ms);
const profTotal = prof.reduce((s, [, e]) => s + e.ms, 0);
const md = `# wgml vs ONNX Runtime Web in Chromium (${tag})

${result.device}

- ${result.chromium}; adapter: ${w.adapter.description} (${w.adapter.vendor}/${w.adapter.architecture}); features: ${w.features.join(', ')}
- machine: ${result.machine.cores} cores, load average ${result.machine.load_average.join(' / ')} during the run (other jobs were running)
- model: all-MiniLM-L6-v2, f32 weights in both; ONNX graph built by \`scripts/export_minilm_onnx.py\` (checked against sentence-transformers)
- onnxruntime-web ${result.onnxruntime_web} (\`ort.webgpu.min.mjs\`, executionProviders ['webgpu'], graphOptimizationLevel 'all')
- sentences: \`web/bench/sentences.json\` (${A.texts}, 6–15 tokens); batch 1 = the first ${batch1}, one call each; batch ${A.texts} = all in one call
- times: wall clock in the page, median of ${repeats} run(s) after a warm-up run of the same shapes; wgml tokenizes inside its time, ONNX Runtime gets token ids (tokenizers) made beforehand
- both give the same vectors: smallest cosine between them ${f(A.cosine_min, 7)}

| | wgml | ONNX Runtime Web | ORT / wgml |
|---|---:|---:|---:|
| batch 1, ms per sentence | ${f(w.batch1_ms)} | ${f(o.batch1_ms)} | ${f(result.ratio_ort_over_wgml.batch1, 2)} |
| batch ${A.texts}, ms per call | ${f(w.batch32_ms)} | ${f(o.batch32_ms)} | ${f(result.ratio_ort_over_wgml.batch32, 2)} |
| batch ${A.texts}, sentences/s | ${f(A.texts / w.batch32_ms * 1000, 2)} | ${f(A.texts / o.batch32_ms * 1000, 2)} | |
| first batch-1 pass (compiles kernels), ms per sentence | ${f(w.batch1_first_pass_ms)} | ${f(o.batch1_first_pass_ms)} | |
| first batch-${A.texts} call (compiles), ms | ${f(w.batch32_first_ms)} | ${f(o.batch32_first_ms)} | |
| setup: create + load / session create, ms | ${f(w.create_ms + w.load_ms)} | ${f(o.import_ms + o.session_ms)} | |
| page load → first result, cold, ms | ${f(w.first_result_since_page_load_ms)} | ${f(B.first_result_since_page_load_ms)} | |
| page load → first result, model cached (Cache API), ms | ${f(C.first_result_since_page_load_ms)} | – | |
| wasm binary, bytes | ${result.wasm_bytes.wgml} | ${result.wasm_bytes.onnxruntime_web_jsep} | |

## Where wgml's time goes

Batch 1, one GPU run timed with timestamp queries, one compute pass per kernel
(${prof.length ? 'SwiftShader exposes timestamp-query in Chromium' : 'no timestamp-query here'}):

| kernel family | dispatches | GPU ms | share |
|---|---:|---:|---:|
${prof.map(([k, e]) => `| ${k} | ${e.dispatches} | ${f(e.ms, 1)} | ${f(100 * e.ms / profTotal, 1)}% |`).join('\n')}
| all | ${prof.reduce((s, [, e]) => s + e.dispatches, 0)} | ${f(profTotal, 1)} | |

Loading: model files ${f(w.load_files_ms)} ms (download and Cache API), weights to the GPU ${f(w.load_weights_ms)} ms
(${w.js_stats.files.asyncReads} asynchronous Blob reads, ${f(w.js_stats.files.asyncReadMs)} ms; ${w.js_stats.gpu.writes} buffer writes).
JS side over the whole wgml run: ${w.js_stats.gpu.pipelines} pipelines compiled in ${f(w.js_stats.gpu.compileMs)} ms,
${w.js_stats.gpu.scopePops} error-scope waits (${f(w.js_stats.gpu.scopePopMs)} ms), ${w.js_stats.gpu.reads} readbacks
(${f(w.js_stats.gpu.readMs)} ms, including the GPU work they wait for), ${w.js_stats.gpu.submits} submits.

Regenerate: \`web/build.sh && python3 scripts/export_minilm_onnx.py && node web/bench/bench.mjs\` (${result.bench_seconds} s here).
`;
fs.writeFileSync(`${out}.md`, md);
console.log(md);
console.log(`wrote ${path.relative(ROOT, out)}.{json,md}`);
