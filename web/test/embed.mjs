// Embeddings in the browser against two references: sentence-transformers'
// vectors (tests/data/minilm_embeddings.{jsonl,bin}, independent of wgml)
// and the native build's `wgml embed --f32` run now; then dispose() and the
// model cache across a reload, and errors from bad input.
import fs from 'node:fs';
import path from 'node:path';
import {nativeBinary, runNative} from './native.mjs';

// Short texts of one length bucket (at most 8 tokens): one plan to compile.
export const TEXTS = ['hello world', 'A man is eating food.', "C'est la vie.", '你好，世界',
                      'I love pizza 🍕🍕🍕!', ''];
const MODEL_URL = '/models/all-MiniLM-L6-v2/';
const MIN_COSINE = 0.9999;

function cosine(a, b) {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
  return aa === 0 && bb === 0 ? 1 : ab / Math.sqrt(aa * bb);   // the empty text's row may be all zeros
}

// sentence-transformers' vectors for TEXTS, from the stored reference.
function referenceVectors(root) {
  const lines = fs.readFileSync(path.join(root, 'tests/data/minilm_embeddings.jsonl'), 'utf8').trim().split('\n');
  const head = JSON.parse(lines[0]);
  const bin = fs.readFileSync(path.join(root, 'tests/data/minilm_embeddings.bin'));
  const all = new Float32Array(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength));
  const texts = lines.slice(1).map((l) => JSON.parse(l).text);
  return TEXTS.map((t) => {
    const i = texts.indexOf(t);
    if (i < 0) throw new Error(`"${t}" is not in the reference set`);
    return all.subarray(i * head.dim, (i + 1) * head.dim);
  });
}

// The native build's vectors, or null (with the reason) when there is none.
function nativeVectors(root) {
  const bin = nativeBinary(root);
  if (!bin) return {reason: 'no native wgml build (build/dawn/wgml)'};
  const out = runNative(root, bin, ['embed', '--f32', '--format', 'jsonl', ...TEXTS]);
  const rows = out.trim().split('\n').map((l) => JSON.parse(l));
  return {vectors: TEXTS.map((t, i) => {
    const r = rows.find((x) => x.index === i);
    if (!r || r.text !== t) throw new Error(`native output lacks text ${i}`);
    return r.embedding;
  }), bin};
}

async function gotoBlank(page, server) {
  await page.goto(`${server.url}/test/blank.html`);
}

// In the page: load the model, embed TEXTS, keep the context for the next tests.
async function loadAndEmbed(page, texts) {
  return page.evaluate(async ({url, texts}) => {
    const wgml = await import('/wgml.js');
    const ml = await wgml.create();
    const e = await ml.loadEmbedder(url, {precision: 'f32'});
    const vectors = (await e.embed(texts)).map((v) => Array.from(v));
    window.__ml = ml;
    window.__e = e;
    return {vectors, dim: e.dim, live: ml.liveBuffers(), info: ml.deviceInfo, lastRun: e.lastRun};
  }, {url: MODEL_URL, texts});
}

export const tests = [
  {
    name: 'embed.reference',
    async run({page, server, root, state}) {
      await gotoBlank(page, server);
      const before = server.count('/models/');
      const r = await loadAndEmbed(page, TEXTS);
      state.firstVectors = r.vectors;
      state.modelRequests = server.count('/models/') - before;
      if (r.dim !== 384) throw new Error(`dim ${r.dim}, expected 384`);
      if (state.modelRequests === 0) throw new Error('the first load made no model request');
      const ref = referenceVectors(root);
      let worst = 1;
      TEXTS.forEach((t, i) => {
        const c = cosine(r.vectors[i], ref[i]);
        worst = Math.min(worst, c);
        if (!(c >= MIN_COSINE)) throw new Error(`"${t}": cosine ${c} with sentence-transformers < ${MIN_COSINE}`);
      });
      state.refWorst = worst;
      return {note: `${TEXTS.length} texts, worst cosine with sentence-transformers ${worst.toFixed(9)} ` +
                    `(${r.info.description}, ${r.lastRun.ms.toFixed(0)} ms for the batch)`};
    },
  },
  {
    name: 'embed.native',
    async run({root, state}) {
      if (!state.firstVectors) throw new Error('embed.reference did not run');
      const n = nativeVectors(root);
      if (!n.vectors) return {skipped: n.reason};
      let worst = 1;
      TEXTS.forEach((t, i) => {
        const c = cosine(state.firstVectors[i], n.vectors[i]);
        worst = Math.min(worst, c);
        if (!(c >= MIN_COSINE)) throw new Error(`"${t}": cosine ${c} with the native build < ${MIN_COSINE}`);
      });
      return {note: `worst cosine with ${path.relative(root, n.bin)} --f32: ${worst.toFixed(9)}`};
    },
  },
  {
    name: 'embed.dispose',
    async run({page}) {
      const r = await page.evaluate(async () => {
        const ml = window.__ml, e = window.__e;
        const before = ml.liveBuffers();
        await ml.dispose();
        let after_embed = null;
        try { await e.embed(['x']); } catch (err) { after_embed = `${err.name}: ${err.message}`; }
        return {before, after: ml.liveBuffers(), after_embed};
      });
      if (!(r.before > 0)) throw new Error(`no live GPU buffers before dispose (${r.before})`);
      if (r.after !== 0) throw new Error(`${r.after} GPU buffers live after dispose (of ${r.before})`);
      if (!r.after_embed) throw new Error('embed after dispose did not fail');
      return {note: `${r.before} buffers before, 0 after; embed afterwards: ${r.after_embed}`};
    },
  },
  {
    name: 'embed.cache_reload',
    async run({page, server, state}) {
      await page.reload();
      const before = server.count('/models/');
      const r = await loadAndEmbed(page, [TEXTS[0]]);
      const again = server.count('/models/') - before;
      // Embedder.dispose gives its weights' buffers back to the device;
      // the context's dispose the rest.
      const live = await page.evaluate(async () => {
        const ml = window.__ml, before = ml.liveBuffers();
        await window.__e.dispose();
        const after = ml.liveBuffers();
        await ml.dispose();
        return {before, after, end: ml.liveBuffers()};
      });
      if (!(live.after < live.before) || live.end !== 0)
        throw new Error(`live GPU buffers: ${JSON.stringify(live)}`);
      if (again !== 0) throw new Error(`the reload fetched ${again} model files again (first load: ${state.modelRequests})`);
      const c = cosine(r.vectors[0], state.firstVectors[0]);
      if (!(c >= MIN_COSINE)) throw new Error(`after the reload "${TEXTS[0]}" has cosine ${c} with the first load`);
      return {note: `first load ${state.modelRequests} model requests, reload 0; same vector (cosine ${c.toFixed(9)}); ` +
                    `live buffers ${live.before} -> ${live.after} (embedder disposed) -> 0`};
    },
  },
  {
    name: 'embed.errors',
    async run({page, server}) {
      await gotoBlank(page, server);
      const r = await page.evaluate(async () => {
        const wgml = await import('/wgml.js');
        const ml = await wgml.create();
        const out = {};
        const grab = async (f) => { try { await f(); return null; } catch (e) { return {name: e.name, status: e.status, message: e.message}; } };
        const enc = (s) => new TextEncoder().encode(s);
        const vocab = enc('[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n');
        out.badConfig = await grab(() => ml.loadEmbedder({'config.json': enc('{"hidden_size": '),
                                                          'vocab.txt': vocab, 'model.safetensors': new Uint8Array(16)}));
        out.noWeights = await grab(() => ml.loadEmbedder({'config.json': enc('{}'), 'vocab.txt': vocab}));
        out.badSource = await grab(() => ml.loadEmbedder(42));
        out.badPrecision = await grab(() => ml.loadEmbedder('/models/x/', {precision: 'f8'}));
        out.missingUrl = await grab(() => ml.loadEmbedder('/models/no-such-model/', {cache: false}));
        out.wgslGood = await ml.checkWgsl('@group(0) @binding(1) var<storage, read_write> o: array<f32>;\n' +
                                          '@compute @workgroup_size(1) fn main() { o[0] = 1.0; }\n');
        out.wgslBad = await ml.checkWgsl('@compute @workgroup_size(1) fn main() {\n  let x: f32 = nope;\n}\n');
        out.live = ml.liveBuffers();
        await ml.dispose();
        out.liveAfter = ml.liveBuffers();
        return out;
      });
      const expect = (k, name, status, re) => {
        const e = r[k];
        if (!e) throw new Error(`${k}: no error`);
        if (e.name !== name || (status && e.status !== status) || !re.test(e.message))
          throw new Error(`${k}: got ${e.name} (${e.status}): ${e.message}`);
      };
      expect('badConfig', 'WgmlError', 'bad file', /config\.json/);
      expect('noWeights', 'WgmlError', 'bad file', /hidden_size|model\.safetensors/);
      expect('badSource', 'TypeError', null, /model source/);
      expect('badPrecision', 'WgmlError', 'invalid argument', /precision/);
      expect('missingUrl', 'Error', null, /HTTP 404/);
      if (r.liveAfter !== 0) throw new Error(`${r.liveAfter} buffers live after dispose`);
      if (!r.wgslGood.ok) throw new Error(`a valid kernel failed to compile: ${r.wgslGood.message}`);
      // The compiler's own line:column for the undeclared identifier on line 2.
      if (r.wgslBad.ok || r.wgslBad.status !== 'GPU error' || !/^2:\d+: error: .*nope/m.test(r.wgslBad.message))
        throw new Error(`a WGSL error came back as ${JSON.stringify(r.wgslBad)}`);
      return {note: `e.g. "${r.badConfig.message.split('\n')[0]}"`};
    },
  },
];
