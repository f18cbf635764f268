// In the page: wgml and ONNX Runtime Web (WebGPU execution provider) embed the
// same sentences with the same weights, one after the other in one Chromium
// session. Times are wall-clock in the page (performance.now), after a
// warm-up run of the same shapes (first runs compile kernels); the first
// runs are reported too. ONNX Runtime gets token ids from the export script
// (tokenizers); wgml tokenizes itself (included in its times).
import * as wgml from '../wgml.js';

const MODEL = '../models/all-MiniLM-L6-v2/';
const ONNX = '../bench-data/all-MiniLM-L6-v2.onnx';
const IDS = '../bench-data/sentences_ids.json';

const now = () => performance.now();
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
function cosine(a, b) {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
  return ab / Math.sqrt(aa * bb);
}
function log(s) { document.getElementById('out').textContent += s + '\n'; console.log(s); }

async function benchWgml(texts, {batch1, repeats}) {
  const r = {};
  let t = now();
  const ml = await wgml.create();
  r.create_ms = now() - t;
  r.adapter = ml.adapterInfo;
  r.features = ml.features;
  t = now();
  const e = await ml.loadEmbedder(MODEL, {precision: 'f32'});
  r.load_ms = now() - t;
  r.load_files_ms = e.timings.filesMs;
  r.load_weights_ms = e.timings.loadMs;
  t = now();
  const first = await e.embed([texts[0]]);
  r.first_embed_ms = now() - t;
  r.first_result_since_page_load_ms = now();
  // Batch 1: warm-up over the sentences (compiles their shapes), then timed.
  const one = texts.slice(0, batch1);
  t = now();
  for (const s of one) await e.embed([s]);
  r.batch1_first_pass_ms = (now() - t) / one.length;
  const b1 = [];
  for (let k = 0; k < repeats; k++) for (const s of one) { t = now(); await e.embed([s]); b1.push(now() - t); }
  r.batch1_ms = median(b1);
  // Per-kernel GPU time of one batch-1 run (one timed pass per kernel).
  if (ml.deviceInfo.timestamp_query) {
    ml.setProfiling(true);
    await e.embed([one[1]]);
    r.batch1_profile = await ml.lastProfile();
    ml.setProfiling(false);
  }
  t = now();
  const firstBatch = await e.embed(texts);
  r.batch32_first_ms = now() - t;
  const b32 = [];
  let vectors = firstBatch;
  for (let k = 0; k < repeats; k++) { t = now(); vectors = await e.embed(texts); b32.push(now() - t); }
  r.batch32_ms = median(b32);
  r.js_stats = ml.stats();
  r.vectors = vectors;
  r.first_vector = first[0];
  await ml.dispose();
  return r;
}

async function benchOrt(texts, ids, {batch1, repeats}) {
  const r = {};
  let t = now();
  const ort = await import('../ort/ort.webgpu.min.mjs');
  ort.env.wasm.wasmPaths = new URL('../ort/', location.href).href;
  r.import_ms = now() - t;
  r.version = ort.env.versions?.web ?? ort.env.versions?.common;
  t = now();
  const session = await ort.InferenceSession.create(ONNX, {executionProviders: ['webgpu'],
                                                           graphOptimizationLevel: 'all'});
  r.session_ms = now() - t;
  const run = async (rows) => {
    const L = Math.max(...rows.map((x) => x.length));
    const idt = new BigInt64Array(rows.length * L), mt = new BigInt64Array(rows.length * L);
    rows.forEach((x, i) => x.forEach((v, j) => { idt[i * L + j] = BigInt(v); mt[i * L + j] = 1n; }));
    const out = await session.run({input_ids: new ort.Tensor('int64', idt, [rows.length, L]),
                                   attention_mask: new ort.Tensor('int64', mt, [rows.length, L])});
    const d = out.sentence_embedding.dims[1], data = out.sentence_embedding.data;
    return rows.map((_, i) => data.slice(i * d, (i + 1) * d));
  };
  t = now();
  const first = await run([ids[0]]);
  r.first_embed_ms = now() - t;
  r.first_result_since_page_load_ms = now();
  const one = ids.slice(0, batch1);
  t = now();
  for (const x of one) await run([x]);
  r.batch1_first_pass_ms = (now() - t) / one.length;
  const b1 = [];
  for (let k = 0; k < repeats; k++) for (const x of one) { t = now(); await run([x]); b1.push(now() - t); }
  r.batch1_ms = median(b1);
  t = now();
  let vectors = await run(ids);
  r.batch32_first_ms = now() - t;
  const b32 = [];
  for (let k = 0; k < repeats; k++) { t = now(); vectors = await run(ids); b32.push(now() - t); }
  r.batch32_ms = median(b32);
  r.vectors = vectors;
  r.first_vector = first[0];
  await session.release();
  return r;
}

// Page load to the first embedding of one runtime alone (a fresh page).
async function firstResult(which, texts, ids) {
  if (which === 'wgml') {
    const ml = await wgml.create();
    const e = await ml.loadEmbedder(MODEL, {precision: 'f32'});
    await e.embed([texts[0]]);
    const r = {first_result_since_page_load_ms: now(), load_files_ms: e.timings.filesMs};
    await ml.dispose();
    return r;
  }
  const ort = await import('../ort/ort.webgpu.min.mjs');
  ort.env.wasm.wasmPaths = new URL('../ort/', location.href).href;
  const session = await ort.InferenceSession.create(ONNX, {executionProviders: ['webgpu'], graphOptimizationLevel: 'all'});
  const x = ids[0], mk = (a) => new ort.Tensor('int64', BigInt64Array.from(a.map(BigInt)), [1, a.length]);
  await session.run({input_ids: mk(x), attention_mask: mk(x.map(() => 1))});
  const r = {first_result_since_page_load_ms: now()};
  await session.release();
  return r;
}

// order: which runtime goes first ('wgml' or 'ort'); the other follows in the
// same page. "first result since page load" is measured for the first only
// (the second starts later), so the bench runs the page twice, once per order.
window.runBench = async ({batch1 = 8, repeats = 1, order = 'wgml', firstOnly = null} = {}) => {
  const {texts, ids} = await (await fetch(IDS)).json();
  if (firstOnly) return firstResult(firstOnly, texts, ids);
  const res = {texts: texts.length, batch1_texts: batch1, repeats, order, userAgent: navigator.userAgent};
  const runs = order === 'wgml' ? ['wgml', 'ort'] : ['ort', 'wgml'];
  for (const which of runs) {
    log(`${which}… (batch 1 then batch ${texts.length}; SwiftShader takes minutes)`);
    res[which] = which === 'wgml' ? await benchWgml(texts, {batch1, repeats}) : await benchOrt(texts, ids, {batch1, repeats});
    log(`${which}: batch 1 ${res[which].batch1_ms.toFixed(0)} ms, batch ${texts.length} ${res[which].batch32_ms.toFixed(0)} ms`);
  }
  // Both must compute the same thing.
  res.cosine_min = Math.min(...res.wgml.vectors.map((v, i) => cosine(v, res.ort.vectors[i])));
  delete res.wgml.vectors; delete res.ort.vectors;
  delete res.wgml.first_vector; delete res.ort.first_vector;
  return res;
};

document.getElementById('go').onclick = async () => log(JSON.stringify(await window.runBench(), null, 1));
