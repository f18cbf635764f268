// The demo page: adapter and features, model loading with progress, semantic
// search over a list of sentences, per-kernel GPU time and texts/s; then a
// chat with a Llama-family GGUF model (SmolLM2-135M-Instruct by default),
// streamed token by token, with tokens/s.
//   ?model=URL        another embedding model directory (sentence-transformers layout)
//   ?llm=URL          another GGUF model for the chat ('none': no chat)
//   ?chat=TEXT        send TEXT as the first chat message once the model is loaded
//   ?max_tokens=N     the answer's length limit (default 64); ?temp=T its temperature
import * as wgml from '../wgml.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const MODEL = params.get('model') || '../models/all-MiniLM-L6-v2/';
const LLM = params.get('llm') || '../models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf';
const SENTENCES = [
  'A man is eating food.',
  'A man is riding a horse.',
  'A woman is playing violin.',
  'A monkey is playing drums.',
  'The girl is carrying a baby.',
  'Paris is the capital of France.',
  'The stock market crashed today.',
  'She is making pasta in the kitchen.',
];

const state = {ml: null, embedder: null, corpus: [], vectors: [], firstResultMs: null,
               chat: {generator: null, messages: [], busy: false, abort: null, turns: 0}};
window.demo = state;   // for the tests

function status(text, error = false) {
  $('status').textContent = text;
  $('status').className = error ? 'error' : '';
}

const mb = (n) => `${(n / 1048576).toFixed(1)} MiB`;

function showAdapter(ml) {
  const a = ml.adapterInfo, d = ml.deviceInfo;
  const rows = [['vendor', a.vendor], ['architecture', a.architecture], ['device', a.description || a.device],
                ['fallback adapter', a.isFallbackAdapter ? 'yes (a CPU device)' : 'no'],
                ['subgroup size', a.subgroupMinSize ? `${a.subgroupMinSize}–${a.subgroupMaxSize}` : 'unknown'],
                ['wgml uses', [d.shader_f16 && 'shader-f16', d.subgroups && 'subgroups',
                               d.timestamp_query && 'timestamp-query', d.packed_dot4 && 'dot4I8Packed']
                                 .filter(Boolean).join(', ') || 'no optional feature']];
  $('adapter-info').innerHTML = rows.map(([k, v]) => `<dt>${k}</dt><dd>${escape(String(v || '–'))}</dd>`).join('');
  // The features wgml uses first (struck out where the adapter or device
  // lacks them), then a count of the rest.
  const enabled = new Set(ml.features), offered = new Set(ml.adapterFeatures);
  const mlFeatures = ['shader-f16', 'subgroups', 'timestamp-query'];
  const others = ml.adapterFeatures.filter((f) => !mlFeatures.includes(f));
  $('features').innerHTML = mlFeatures.map((f) =>
    `<span class="${enabled.has(f) ? '' : 'off'}" title="${enabled.has(f) ? 'enabled' : offered.has(f) ? 'not requested' : 'the adapter lacks it'}">${f}</span>`).join('') +
    `<span title="${escape(others.join(', '))}">+${others.length} other adapter features</span>`;
  const L = ml.limits;
  $('limits').innerHTML = [['maxBufferSize', mb(L.maxBufferSize)], ['maxStorageBufferBindingSize', mb(L.maxStorageBufferBindingSize)],
    ['maxComputeWorkgroupStorageSize', `${L.maxComputeWorkgroupStorageSize} B`],
    ['maxComputeInvocationsPerWorkgroup', L.maxComputeInvocationsPerWorkgroup]]
    .map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join('');
}

function escape(s) {
  return s.replace(/[&<>"]/g, (c) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'}[c]));
}

// Download: bytes over every file; upload: weights read into the GPU;
// compile: kernels compiled in the current batch of pipelines. One set of
// bars per model: ids download, upload, compile (the embedder) and the same
// with prefix 'llm-' (the chat model).
function progressBars(prefix) {
  const downloads = new Map();
  let compiled = 0;
  return (p) => {
    if (p.phase === 'download') {
      downloads.set(p.file, p);
      let loaded = 0, total = 0;
      for (const d of downloads.values()) { loaded += d.loaded; total += d.total || d.loaded; }
      $(`${prefix}download`).max = total || 1;
      $(`${prefix}download`).value = loaded;
      const cached = [...downloads.values()].every((d) => d.cached);
      $(`${prefix}download-text`).textContent = `${mb(loaded)} / ${mb(total)}${cached ? ' (from the cache)' : ''}`;
    } else if (p.phase === 'upload') {
      $(`${prefix}upload`).max = p.total || 1;
      $(`${prefix}upload`).value = p.loaded;
      $(`${prefix}upload-text`).textContent = `${mb(p.loaded)} / ${mb(p.total)}`;
    } else if (p.phase === 'compile') {
      $(`${prefix}compile`).max = p.total;
      $(`${prefix}compile`).value = p.loaded;
      compiled += p.loaded === p.total ? p.total : 0;
      $(`${prefix}compile-text`).textContent = `${p.loaded} / ${p.total} kernels${compiled ? ` (${compiled} in all)` : ''}`;
    }
  };
}
const onProgress = progressBars('');
const onLlmProgress = progressBars('llm-');

async function embedCorpus() {
  const texts = $('corpus').value.split('\n').map((s) => s.trim()).filter(Boolean);
  if (texts.join('\n') === state.corpus.join('\n')) return;
  status(`embedding ${texts.length} sentences…`);
  state.vectors = await state.embedder.embed(texts, {onProgress});
  state.corpus = texts;
  await showRun();
}

async function showRun() {
  const r = state.embedder.lastRun;
  $('texts-per-s').textContent = r.textsPerSecond.toFixed(2);
  $('embed-ms').textContent = `${r.ms.toFixed(0)} ms / ${r.texts} text${r.texts > 1 ? 's' : ''}`;
  const prof = $('profile').checked ? await state.ml.lastProfile() : null;
  const tbody = $('kernels').querySelector('tbody');
  if (!prof || !prof.length) {
    tbody.innerHTML = '';
    $('kernel-note').textContent = state.ml.deviceInfo.timestamp_query
      ? 'Turn on per-kernel time and search again.'
      : 'This adapter has no timestamp-query: only whole-run times (above).';
    return;
  }
  const by = new Map();
  for (const k of prof) {
    const e = by.get(k.label) || {n: 0, ns: 0};
    e.n++; e.ns += k.ns;
    by.set(k.label, e);
  }
  const total = prof.reduce((s, k) => s + k.ns, 0);
  tbody.innerHTML = [...by].sort((a, b) => b[1].ns - a[1].ns).map(([label, e]) =>
    `<tr><td>${escape(label)}</td><td class="num">${e.n}</td><td class="num">${(e.ns / 1e6).toFixed(2)}</td>` +
    `<td class="num">${(100 * e.ns / total).toFixed(1)}%</td></tr>`).join('') +
    `<tr><th>all</th><th class="num">${prof.length}</th><th class="num">${(total / 1e6).toFixed(2)}</th><th></th></tr>`;
  $('kernel-note').textContent = `The last GPU run's ${prof.length} dispatches by kernel family ` +
    '(timed one pass per kernel, which adds a little overhead).';
}

async function search() {
  $('search-button').disabled = true;
  try {
    await embedCorpus();
    const q = $('query').value.trim();
    if (!q) return;
    status('embedding the query…');
    const [v] = await state.embedder.embed([q], {onProgress});
    const scored = state.vectors.map((u, i) => {
      let s = 0;
      for (let j = 0; j < u.length; j++) s += u[j] * v[j];
      return {i, s};
    }).sort((a, b) => b.s - a.s);
    $('results').innerHTML = scored.map(({i, s}) =>
      `<li><span class="score">${s.toFixed(3)}</span><span class="sbar" style="width:${Math.max(2, 120 * s).toFixed(0)}px"></span>${escape(state.corpus[i])}</li>`).join('');
    if (state.firstResultMs === null) {
      state.firstResultMs = performance.now();
      $('first-result').textContent = `${(state.firstResultMs / 1000).toFixed(1)} s`;
    }
    await showRun();
    status(`ready: ${state.corpus.length} sentences, ${state.embedder.dim} dimensions`);
  } catch (e) {
    status(`${e.name}: ${e.message}`, true);
    throw e;
  } finally {
    $('search-button').disabled = false;
  }
}

async function main() {
  $('corpus').value = (params.get('sentences')?.split('|') ?? SENTENCES).join('\n');
  if (params.get('query')) $('query').value = params.get('query');
  const s = wgml.supported();
  if (!s.ok) { status(`wgml cannot run in this browser: ${s.reasons.join('; ')}`, true); return; }
  status('requesting a WebGPU device…');
  state.ml = await wgml.create();
  showAdapter(state.ml);
  state.ml.setProfiling($('profile').checked && state.ml.deviceInfo.timestamp_query);
  $('profile').disabled = !state.ml.deviceInfo.timestamp_query;
  $('profile').onchange = () => state.ml.setProfiling($('profile').checked);
  status('loading the model…');
  $('model-name').textContent = MODEL.replace(/\/$/, '').split('/').pop();
  state.embedder = await state.ml.loadEmbedder(MODEL, {onProgress});
  const t = state.embedder.timings;
  $('timings').textContent = `files ${(t.filesMs / 1000).toFixed(1)} s, weights to GPU ${(t.loadMs / 1000).toFixed(1)} s, ` +
    `wasm ${(state.ml.timings.wasmMs).toFixed(0)} ms, ${(await fetchSize('../dist/wgml.wasm') / 1024).toFixed(0)} KiB`;
  $('search-button').disabled = false;
  $('search-button').onclick = () => search();
  $('query').onkeydown = (e) => { if (e.key === 'Enter') search(); };
  await search();
  const plan = await state.embedder.plan(1, 8);
  $('plan-kernels').textContent = plan.kernels;
  state.ready = true;
  await chatMain();
}

// ---------------------------------------------------------------- chat

function chatStatus(text, kind = '') {
  $('chat-status').textContent = text;
  $('chat-status').className = `badge ${kind}`;
}

function addMessage(role, text) {
  const div = document.createElement('div');
  div.className = `msg ${role}`;
  div.innerHTML = `<span class="who">${role === 'user' ? 'you' : escape(state.chat.generator?.info.name || 'model')}</span><span class="text"></span>`;
  div.querySelector('.text').textContent = text;
  $('chat-log').append(div);
  $('chat-log').scrollTop = $('chat-log').scrollHeight;
  return div;
}

function setChatEnabled(on) {
  $('chat-input').disabled = !on;
  $('chat-reset').disabled = !on;
  $('chat-send').disabled = !state.chat.generator;
}

async function chatMain() {
  if (LLM === 'none') { chatStatus('no model (?llm=none)'); return; }
  $('llm-name').textContent = decodeURIComponent(LLM.split('/').pop());
  chatStatus('loading the model…', 'busy');
  const c = state.chat;
  try {
    c.generator = await state.ml.loadGenerator(LLM, {onProgress: onLlmProgress});
  } catch (e) {
    chatStatus(`${e.name}: ${e.message}`, 'error');
    state.chatError = e.message;
    return;
  }
  const i = c.generator.info, t = c.generator.timings;
  $('llm-name').textContent = i.name || $('llm-name').textContent;
  $('chat-note').textContent = `${i.architecture}, ${i.layers} layers, dim ${i.dim}, ${i.vocabSize} tokens, ` +
    `context ${i.contextSize}, KV cache ${i.kvF16 ? 'f16' : 'f32'}, ${mb(i.gpuBytes)} on the GPU, chat template ` +
    `${i.chatFormat || 'none'}; file ${(t.fileMs / 1000).toFixed(1)} s, weights to GPU ${(t.loadMs / 1000).toFixed(1)} s.`;
  chatStatus('ready');
  setChatEnabled(true);
  $('chat-send').onclick = () => send();
  $('chat-input').onkeydown = (e) => { if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); send(); } };
  $('chat-reset').onclick = async () => {
    c.messages = [];
    $('chat-log').innerHTML = '';
    await c.generator.reset();
  };
  if (params.get('max_tokens')) $('chat-max-tokens').value = params.get('max_tokens');
  if (params.get('temp')) $('chat-temp').value = params.get('temp');
  if (params.get('chat')) {
    $('chat-input').value = params.get('chat');
    await send();
    state.chatDone = true;
  }
}

// Sends the input as the next user message and streams the answer; while
// it runs the button stops it.
async function send() {
  const c = state.chat;
  if (c.busy) { c.abort?.abort(); return; }
  const text = $('chat-input').value.trim();
  if (!text || !c.generator) return;
  $('chat-input').value = '';
  c.messages.push({role: 'user', content: text});
  addMessage('user', text);
  const div = addMessage('assistant', '');
  div.classList.add('generating');
  c.busy = true;
  c.abort = new AbortController();
  $('chat-send').textContent = 'Stop';
  $('chat-input').disabled = $('chat-reset').disabled = true;
  chatStatus('generating…', 'busy');
  const maxTokens = Math.max(1, Math.floor(Number($('chat-max-tokens').value) || 64));
  const temperature = Math.max(0, Number($('chat-temp').value) || 0);
  // Per-kernel timing (one pass per dispatch) is for the search's table;
  // it would slow every decode step.
  const profiling = state.ml.gpu.profile;
  state.ml.setProfiling(false);
  const t0 = performance.now();
  let answer = '', first = null;
  try {
    for await (const piece of c.generator.generate(c.messages, {chat: true, maxTokens, temperature,
                                                                 signal: c.abort.signal, onProgress: onLlmProgress})) {
      if (first === null) {
        first = performance.now() - t0;
        $('chat-ttft').textContent = `${(first / 1000).toFixed(1)} s`;
      }
      answer += piece;
      div.querySelector('.text').textContent = answer;
      $('chat-log').scrollTop = $('chat-log').scrollHeight;
    }
    const r = c.generator.lastRun;
    c.messages.push({role: 'assistant', content: answer});
    $('chat-tps').textContent = r.decodeTokensPerSecond.toFixed(2);
    $('chat-prefill-tps').textContent = r.prefillTokensPerSecond.toFixed(2);
    $('chat-tokens').textContent = `${r.generatedTokens} (prompt ${r.promptTokens}, ${r.cachedTokens} cached)`;
    c.turns++;
    chatStatus(`ready (${{length: 'length limit', eog: 'end of answer', context: 'context full',
                           cancelled: 'stopped', stop: 'stop text'}[r.stop] || r.stop})`);
  } catch (e) {
    c.messages.pop();
    chatStatus(`${e.name}: ${e.message}`, 'error');
    state.chatError = e.message;
  } finally {
    state.ml.setProfiling(profiling);
    div.classList.remove('generating');
    c.busy = false;
    c.abort = null;
    $('chat-send').textContent = 'Send';
    setChatEnabled(true);
  }
}

async function fetchSize(url) {
  const r = await fetch(url, {method: 'HEAD'});
  return Number(r.headers.get('content-length')) || 0;
}

main().catch((e) => { status(`${e.name}: ${e.message}`, true); state.error = e.message; });
