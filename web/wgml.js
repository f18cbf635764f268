// wgml in the browser: the C core compiled to wasm (web/build.sh), running on
// navigator.gpu. See web/README.md and wgml.d.ts.
//
//   import * as wgml from './wgml.js';
//   const ml = await wgml.create();
//   const e = await ml.loadEmbedder('models/all-MiniLM-L6-v2/', {onProgress});
//   const [a, b] = await e.embed(['hello world', 'bonjour le monde']);
//   const g = await ml.loadGenerator('models/SmolLM2.gguf', {onProgress});
//   for await (const piece of g.generate('Hello!', {chat: true, maxTokens: 64})) show(piece);
//   await ml.dispose();
//
// The C core is synchronous; WebGPU waits on promises. JS Promise Integration
// joins them: the imports that wait are WebAssembly.Suspending and every
// export that may reach one is called through WebAssembly.promising. Calls
// into one instance are queued, one at a time.
import {GpuImports, STATUS, statusName} from './lib/gpu.js';
import {WasiFiles} from './lib/wasi.js';
import {modelFiles, modelFile, clearModelCache} from './lib/model_files.js';

export {clearModelCache};

const DEFAULT_WASM = new URL('./dist/wgml.wasm', import.meta.url);
const PRECISION = {auto: 0, f32: 1, f16: 2};

export class WgmlError extends Error {
  constructor(status, message) {
    super(message);
    this.name = 'WgmlError';
    this.status = statusName(status);
  }
}

// Whether this browser can run wgml: WebGPU and JS Promise Integration.
export function supported() {
  const reasons = [];
  if (!globalThis.navigator?.gpu) reasons.push('no WebGPU (navigator.gpu)');
  if (typeof WebAssembly?.Suspending !== 'function' || typeof WebAssembly?.promising !== 'function')
    reasons.push('no JS Promise Integration (WebAssembly.Suspending)');
  return {ok: reasons.length === 0, reasons};
}

// Creates a context: one wasm instance and one GPU device.
//   options.wasm              URL or bytes of wgml.wasm (default: dist/ beside this file)
//   options.powerPreference   'low-power' | 'high-performance'
//   options.disableF16, disableSubgroups, disableTimestamps
export async function create(options = {}) {
  const s = supported();
  if (!s.ok) throw new WgmlError(STATUS.UNSUPPORTED, `wgml cannot run here: ${s.reasons.join('; ')}`);
  const t0 = performance.now();
  const w = new Wgml();
  await w._init(options);
  w.timings.createMs = performance.now() - t0;
  return w;
}

let modelCounter = 0;

export class Wgml {
  constructor() {
    this.gpu = null;
    this.files = null;
    this.exports = null;
    this.ctx = 0;
    this.queue = Promise.resolve();
    this.embedders = new Set();
    this.generators = new Set();
    this.runs = new Map();  // generation number -> its text sink (the `text` import)
    this.nextRun = 1;
    this.timings = {};
    this.progress = null;   // the onProgress of the load under way
    this.capabilities = {embed: true, generate: true};
  }

  async _init(options) {
    this.gpu = new GpuImports({onCompile: (p) => this.progress?.({phase: 'compile', ...p})});
    this.files = new WasiFiles({onRead: (path, n) => this._onRead(path, n)});
    const src = options.wasm ?? DEFAULT_WASM;
    // Generated text comes back through `text` while wgml_llm_generate runs:
    // a plain (not suspending) import; the pieces queue up in the run's sink
    // and its async iterator hands them out whenever the C side waits.
    const text = (run, ptr, len) => {
      const sink = this.runs.get(run);
      return sink ? (sink.push(this._cstr(ptr, len)) ? 1 : 0) : 0;
    };
    const imports = {wgml_gpu: this.gpu.imports(), wasi_snapshot_preview1: this.files.imports(),
                     wgml_web: {text}};
    const t0 = performance.now();
    let instance;
    if (src instanceof ArrayBuffer || ArrayBuffer.isView(src)) {
      instance = (await WebAssembly.instantiate(src, imports)).instance;
    } else {
      const resp = await fetch(src);
      if (!resp.ok) throw new WgmlError(STATUS.BAD_FILE, `${src}: HTTP ${resp.status}`);
      instance = (await WebAssembly.instantiateStreaming(resp, imports)).instance;
    }
    this.timings.wasmMs = performance.now() - t0;
    const x = instance.exports;
    this.gpu.memory = this.files.memory = x.memory;
    x._initialize();
    // Exports that may wait on the GPU or on a file go through promising.
    const P = (f) => WebAssembly.promising(f);
    this.exports = {
      raw: x,
      ctxCreate: P(x.wgml_web_ctx_create),
      embedderLoad: P(x.wgml_web_embedder_load),
      embed: P(x.wgml_embed),
      planJson: P(x.wgml_web_plan_json),
      embedderFree: P(x.wgml_embedder_free),
      ctxFree: P(x.wgml_ctx_free),
      trim: P(x.wgml_web_trim),
      wgslCheck: P(x.wgml_web_wgsl_check),
      llmLoad: P(x.wgml_web_llm_load),
      llmGenerate: P(x.wgml_web_llm_generate),
      llmFree: P(x.wgml_llm_free),
    };
    const flags = (options.powerPreference === 'low-power' ? 1 : 0) |
                  (options.powerPreference === 'high-performance' ? 2 : 0) |
                  (options.disableF16 ? 4 : 0) | (options.disableSubgroups ? 8 : 0) |
                  (options.disableTimestamps ? 16 : 0);
    await this._call(async () => {
      const err = x.malloc(1024);
      try {
        this.ctx = await this.exports.ctxCreate(flags, err, 1024);
        if (!this.ctx) throw new WgmlError(STATUS.GPU, this._cstr(err) || 'wgml_ctx_create failed');
      } finally { x.free(err); }
      const buf = x.malloc(4096);
      const n = x.wgml_web_info_json(this.ctx, buf, 4096);
      this.deviceInfo = JSON.parse(this._cstr(buf, n));
      x.free(buf);
    });
    const a = this.gpu.adapter, d = this.gpu.device;
    this.adapterInfo = {vendor: a.info.vendor, architecture: a.info.architecture, device: a.info.device,
                        description: a.info.description, isFallbackAdapter: !!a.info.isFallbackAdapter,
                        subgroupMinSize: a.info.subgroupMinSize, subgroupMaxSize: a.info.subgroupMaxSize};
    this.adapterFeatures = [...a.features].sort();
    this.features = [...d.features].sort();
    this.limits = {};
    for (const k in d.limits) if (typeof d.limits[k] === 'number') this.limits[k] = d.limits[k];
  }

  // One call into the instance at a time: C state is not reentrant, and a
  // suspended call must finish before the next begins.
  _call(fn) {
    const r = this.queue.then(() => {
      if (!this.exports) throw new WgmlError(STATUS.INVALID_ARGUMENT, 'this wgml context was disposed');
      return fn();
    });
    this.queue = r.catch(() => {});
    return r;
  }

  _cstr(ptr, len) {
    const mem = new Uint8Array(this.exports.raw.memory.buffer);
    if (len === undefined) { len = 0; while (mem[ptr + len]) len++; }
    return new TextDecoder().decode(mem.subarray(ptr, ptr + len));
  }

  _strdup(s) {
    const b = new TextEncoder().encode(s);
    const p = this.exports.raw.malloc(b.length + 1);
    const mem = new Uint8Array(this.exports.raw.memory.buffer);
    mem.set(b, p);
    mem[p + b.length] = 0;
    return p;
  }

  _lastError() { return this._cstr(this.exports.raw.wgml_ctx_last_error(this.ctx)); }

  _onRead(path, n) {
    if (!this.progress || !this.loading || path !== this.loading.path) return;
    this.loading.read += n;
    this.progress({phase: 'upload', file: this.loading.file, loaded: this.loading.read,
                   total: this.loading.size});
  }

  // Counters of the JS side since create(): file reads, GPU waits, compiles,
  // uploads, submits (see lib/gpu.js and lib/wasi.js).
  stats() { return {gpu: {...this.gpu.stats}, files: {...this.files.stats}}; }

  // GPU buffers alive now, wgml's own staging and timestamp buffers included.
  liveBuffers() { return this.gpu.liveBuffers; }
  // Their labels (the context's own: wgml.timestamps.*, wgml.staging,
  // wgml.uniform_arena, wgml.group_params).
  liveBufferLabels() { return [...this.gpu.live].map((b) => b.label).sort(); }

  // Per-kernel GPU times of later runs (one timed pass per dispatch) where
  // the device has timestamp-query; see lastProfile().
  setProfiling(on) { this.gpu.profile = !!on; }
  async lastProfile() {
    await this.gpu.profileRead;
    return this.gpu.lastProfile;
  }

  // Loads a sentence-embedding model (BERT family, sentence-transformers
  // layout). source: a URL of the model directory, a {name: bytes|Blob} map,
  // or a list of Files. options: onProgress, precision ('auto'|'f32'|'f16'),
  // maxBatch, maxTokens, cache (Cache API for URL sources; default true).
  async loadEmbedder(source, options = {}) {
    const {onProgress, precision = 'auto', maxBatch = 0, maxTokens = 0, cache = true} = options;
    if (!(precision in PRECISION)) throw new WgmlError(STATUS.INVALID_ARGUMENT, `unknown precision '${precision}'`);
    const t0 = performance.now();
    const files = await modelFiles(source, {onProgress, cache});
    const tFiles = performance.now();
    const dir = `models/${++modelCounter}`;
    for (const [name, data] of Object.entries(files)) this.files.put(`${dir}/${name}`, data);
    const size = files['model.safetensors']?.size ?? files['model.safetensors']?.byteLength ?? 0;
    return this._call(async () => {
      const x = this.exports.raw;
      const path = this._strdup(`/${dir}`);
      this.progress = onProgress;
      this.loading = {path: `${dir}/model.safetensors`, file: 'model.safetensors', read: 0, size};
      let e;
      try {
        e = await this.exports.embedderLoad(this.ctx, path, PRECISION[precision], maxBatch, maxTokens);
      } finally {
        x.free(path);
        this.progress = null;
        this.loading = null;
      }
      // Tensors the model does not use (a pooler head) are never read: the
      // weights are all on the GPU now.
      if (e) onProgress?.({phase: 'upload', file: 'model.safetensors', loaded: size, total: size});
      // The weights are on the GPU now; the files are not needed any more.
      this.files.remove(dir);
      if (!e) throw new WgmlError(STATUS.BAD_FILE, this._lastError());
      const emb = new Embedder(this, e, x.wgml_embedder_dim(e));
      emb.timings = {filesMs: tFiles - t0, loadMs: performance.now() - tFiles};
      this.embedders.add(emb);
      return emb;
    });
  }

  // Whether a WGSL compute kernel (entry point `main`) compiles on this
  // device: {ok, status, message}, the message with the compiler's
  // line:column lines.
  async checkWgsl(source) {
    return this._call(async () => {
      const p = this._strdup(source);
      try {
        const st = await this.exports.wgslCheck(this.ctx, p);
        return {ok: st === 0, status: statusName(st), message: st ? this._lastError() : ''};
      } finally { this.exports.raw.free(p); }
    });
  }

  // Loads a Llama-family decoder (Llama 2/3, SmolLM2, Qwen2) from one GGUF
  // file with its tokenizer and chat template. source: a URL (fetched once,
  // then served from the Cache API), an ArrayBuffer, a typed array, a Blob or
  // a File. The file is never copied whole into wasm memory: the loader reads
  // it through the WASI file table in windows of a Blob, one tensor at a time
  // on its way to the GPU. options: onProgress, contextSize (KV cache tokens;
  // default min(the model's, 4096)), precision ('auto': f16 KV cache where the
  // device has shader-f16; 'f32'; 'f16'), cache.
  async loadGenerator(source, options = {}) {
    const {onProgress, precision = 'auto', contextSize = 0, cache = true} = options;
    if (!(precision in PRECISION)) throw new WgmlError(STATUS.INVALID_ARGUMENT, `unknown precision '${precision}'`);
    if (!Number.isInteger(contextSize) || contextSize < 0 || contextSize > 0xffffffff)
      throw new WgmlError(STATUS.INVALID_ARGUMENT, `contextSize must be a non-negative integer (got ${contextSize})`);
    const t0 = performance.now();
    const {name, data} = await modelFile(source, {onProgress, cache, defaultName: 'model.gguf'});
    const tFile = performance.now();
    const dir = `models/${++modelCounter}`;
    const file = `${dir}/${name.replace(/[^\w.-]/g, '_') || 'model.gguf'}`;
    this.files.put(file, data);
    const size = data.size ?? data.byteLength ?? 0;
    return this._call(async () => {
      const x = this.exports.raw;
      const path = this._strdup(`/${file}`);
      this.progress = onProgress;
      this.loading = {path: file, file: name, read: 0, size};
      let h;
      try {
        h = await this.exports.llmLoad(this.ctx, path, contextSize, PRECISION[precision]);
      } finally {
        x.free(path);
        this.progress = null;
        this.loading = null;
        // The weights are on the GPU now (or the load failed): the file is
        // not read again.
        this.files.remove(dir);
      }
      if (!h) throw new WgmlError(STATUS.BAD_FILE, this._lastError());
      onProgress?.({phase: 'upload', file: name, loaded: size, total: size});
      const buf = x.malloc(4096);
      let info;
      try {
        info = JSON.parse(this._cstr(buf, x.wgml_web_llm_info_json(h, buf, 4096)));
      } finally { x.free(buf); }
      const g = new Generator(this, h, info);
      g.timings = {fileMs: tFile - t0, loadMs: performance.now() - tFile};
      this.generators.add(g);
      return g;
    });
  }

  // Frees every embedder, the GPU buffers and the device. The context cannot
  // be used afterwards.
  async dispose() {
    if (!this.exports) return;
    for (const sink of this.runs.values()) sink.cancel();
    await this._call(async () => {
      for (const e of this.embedders) {
        await this.exports.embedderFree(e.handle);
        e.handle = 0;
      }
      this.embedders.clear();
      for (const g of this.generators) {
        await this.exports.llmFree(g.handle);
        g.handle = 0;
      }
      this.generators.clear();
      await this.exports.ctxFree(this.ctx);
      this.ctx = 0;
    });
    this.exports = null;
  }
}

export class Embedder {
  constructor(owner, handle, dim) {
    this.owner = owner;
    this.handle = handle;
    this.dim = dim;
    this.lastRun = null;
  }

  // One Float32Array of `dim` values per text (L2-normalised where the model
  // says so). Texts are batched by length inside wgml.
  async embed(texts, {onProgress} = {}) {
    if (typeof texts === 'string') texts = [texts];
    if (!Array.isArray(texts) || texts.some((t) => typeof t !== 'string'))
      throw new WgmlError(STATUS.INVALID_ARGUMENT, 'embed takes a string or an array of strings');
    const o = this.owner;
    return o._call(async () => {
      if (!this.handle) throw new WgmlError(STATUS.INVALID_ARGUMENT, 'this embedder was disposed');
      const x = o.exports.raw, n = texts.length;
      if (n === 0) return [];
      const enc = new TextEncoder();
      const bytes = texts.map((t) => enc.encode(t));
      const total = bytes.reduce((s, b) => s + b.length, 0);
      const textBuf = x.malloc(Math.max(1, total)), ptrs = x.malloc(4 * n), lens = x.malloc(4 * n);
      const out = x.malloc(4 * n * this.dim);
      o.progress = onProgress;
      try {
        let mem = new Uint8Array(x.memory.buffer), dv = new DataView(x.memory.buffer), at = textBuf;
        bytes.forEach((b, i) => {
          mem.set(b, at);
          dv.setUint32(ptrs + 4 * i, at, true);
          dv.setUint32(lens + 4 * i, b.length, true);
          at += b.length;
        });
        const t0 = performance.now();
        const st = await o.exports.embed(this.handle, ptrs, lens, n, out);
        const ms = performance.now() - t0;
        if (st) throw new WgmlError(st, o._lastError());
        this.lastRun = {texts: n, ms, textsPerSecond: n / (ms / 1000)};
        const all = new Float32Array(x.memory.buffer, out, n * this.dim);
        return Array.from({length: n}, (_, i) => all.slice(i * this.dim, (i + 1) * this.dim));
      } finally {
        o.progress = null;
        x.free(textBuf); x.free(ptrs); x.free(lens); x.free(out);
      }
    });
  }

  // The encoder plan for a batch shape (compiled if needed): kernel count,
  // planned and naive intermediate memory, FLOPs and bytes per run.
  async plan(batch, seq) {
    const o = this.owner;
    return o._call(async () => {
      const x = o.exports.raw, buf = x.malloc(1024);
      try {
        const n = await o.exports.planJson(this.handle, batch, seq, buf, 1024);
        if (!n) throw new WgmlError(STATUS.INVALID_ARGUMENT, o._lastError());
        return JSON.parse(o._cstr(buf, n));
      } finally { x.free(buf); }
    });
  }

  async dispose() {
    const o = this.owner;
    if (!this.handle || !o.exports) return;
    await o._call(async () => {
      await o.exports.embedderFree(this.handle);
      await o.exports.trim(o.ctx);   // its weights' buffers go back to the device
      this.handle = 0;
      o.embedders.delete(this);
    });
  }
}

// Sampling defaults, as `wgml generate` has them.
const GENERATE_DEFAULTS = {maxTokens: 256, temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05,
                           repeatPenalty: 1, repeatLastN: 64};

// The text of one generation on its way from C to the iterator: pieces
// queue up here; stop sequences are cut out (text that may be the start of
// one is held back until it is not).
class TextSink {
  constructor(stops, onCancel) {
    this.stops = stops;
    this.onCancel = onCancel;
    this.pending = '';      // held back: may be the start of a stop sequence
    this.queue = [];        // pieces not yet handed out
    this.text = '';         // everything handed out
    this.stopped = false;   // a stop sequence came
    this.cancelled = false;
    this.wake = null;
  }

  // A piece from C; false stops the generation.
  push(piece) {
    if (this.cancelled || this.stopped) return false;
    this.pending += piece;
    let cut = -1;
    for (const s of this.stops) {
      const i = this.pending.indexOf(s);
      if (i >= 0 && (cut < 0 || i < cut)) cut = i;
    }
    if (cut >= 0) {
      this._emit(this.pending.slice(0, cut));
      this.pending = '';
      this.stopped = true;
      return false;
    }
    let hold = 0;
    for (const s of this.stops)
      for (let k = Math.min(s.length - 1, this.pending.length); k > hold; k--)
        if (this.pending.endsWith(s.slice(0, k))) { hold = k; break; }
    this._emit(this.pending.slice(0, this.pending.length - hold));
    this.pending = this.pending.slice(this.pending.length - hold);
    return true;
  }

  // The end: what was held back was no stop sequence after all.
  finish() {
    if (!this.stopped && !this.cancelled) this._emit(this.pending);
    this.pending = '';
    this._wake();
  }

  cancel() {
    if (this.cancelled) return;
    this.cancelled = true;
    this.onCancel?.();
    this._wake();
  }

  _emit(t) {
    if (!t) return;
    this.queue.push(t);
    this.text += t;
    this._wake();
  }

  _wake() {
    const w = this.wake;
    this.wake = null;
    w?.();
  }
}

function checkNumber(name, v, lo, hi, integer) {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi || (integer && !Number.isInteger(v)))
    throw new WgmlError(STATUS.INVALID_ARGUMENT, `${name} must be ${integer ? 'an integer' : 'a number'} ` +
                        `in [${lo}, ${hi}] (got ${v})`);
  return v;
}

export class Generator {
  constructor(owner, handle, info) {
    this.owner = owner;
    this.handle = handle;
    this.info = {name: info.name, architecture: info.architecture, chatFormat: info.chat_format,
                 vocabSize: info.n_vocab, contextSize: info.n_ctx, trainedContextSize: info.n_ctx_train,
                 layers: info.n_layers, dim: info.dim, kvF16: info.kv_f16, gpuBytes: info.gpu_bytes,
                 loadSeconds: info.load_seconds};
    this.lastRun = null;
    this.running = null;   // the sink of the generation under way
  }

  // The prompt text for a conversation in the model's chat template (ending
  // with the assistant's turn opened). messages: [{role, content}], roles
  // 'system', 'user', 'assistant'.
  async chatPrompt(messages) {
    const o = this.owner;
    return o._call(() => this._chatPrompt(messages));
  }

  // Inside a queued call.
  _chatPrompt(messages) {
    const o = this.owner;
    if (!this.handle) throw new WgmlError(STATUS.INVALID_ARGUMENT, 'this generator was disposed');
    if (!Array.isArray(messages) || messages.some((m) => typeof m?.role !== 'string' || typeof m?.content !== 'string'))
      throw new WgmlError(STATUS.INVALID_ARGUMENT, 'messages must be an array of {role, content} strings');
    const x = o.exports.raw, ptrs = [];
    const arr = x.malloc(8 * Math.max(1, messages.length)), status = x.malloc(4);
    try {
      for (const m of messages) ptrs.push(o._strdup(m.role), o._strdup(m.content));
      const dv = new DataView(x.memory.buffer);
      ptrs.forEach((p, i) => dv.setUint32(arr + 4 * i, p, true));
      const t = x.wgml_web_llm_chat_prompt(this.handle, arr, messages.length, status);
      if (!t) {
        const st = new DataView(x.memory.buffer).getInt32(status, true);
        throw new WgmlError(st || STATUS.INVALID_ARGUMENT, o._lastError() || 'chat template failed');
      }
      const text = o._cstr(t);
      x.free(t);
      return text;
    } finally {
      for (const p of ptrs) x.free(p);
      x.free(arr);
      x.free(status);
    }
  }

  // Generates text: an async iterator of pieces (valid UTF-8 text, a token's
  // worth or less; a character split across tokens comes whole). Options:
  // maxTokens (256; 0: until the model ends or the context is full),
  // temperature (0.8; 0: greedy), topK (40; 0: off), topP (0.95; 1: off),
  // minP (0.05; 0: off), repeatPenalty (1: off), repeatLastN (64), seed
  // (default random; the same seed, prompt and cache give the same text),
  // stop (a string or strings that end the text, not included), chat (the
  // prompt, a string or [{role, content}] messages, in the model's chat
  // template), system (with chat and a string prompt: a system message
  // first), ignoreEos, signal (an AbortSignal: the iterator ends),
  // onProgress (kernel compiles: a model's first runs compile its
  // pipelines). Breaking
  // out of the loop stops the generation too. The KV cache is kept: a prompt
  // that starts with the previous one and its answer prefills only the rest.
  // lastRun holds the statistics afterwards.
  async *generate(prompt, options = {}) {
    const o = this.owner;
    const opt = {...GENERATE_DEFAULTS};
    for (const [k, v] of Object.entries(options ?? {})) if (v !== undefined) opt[k] = v;
    const chat = !!opt.chat;
    if (chat ? typeof prompt !== 'string' && !Array.isArray(prompt) : typeof prompt !== 'string')
      throw new WgmlError(STATUS.INVALID_ARGUMENT, chat ? 'the prompt is a string or an array of {role, content} messages'
                                                      : 'the prompt is a string (or messages with chat: true)');
    checkNumber('maxTokens', opt.maxTokens, 0, 0x3fffffff, true);
    checkNumber('temperature', opt.temperature, 0, 100, false);
    checkNumber('topK', opt.topK, 0, 1 << 24, true);
    checkNumber('topP', opt.topP, 0, 1, false);
    checkNumber('minP', opt.minP, 0, 1, false);
    checkNumber('repeatPenalty', opt.repeatPenalty, 0, 100, false);
    checkNumber('repeatLastN', opt.repeatLastN, 0, 0x3fffffff, true);
    let seed = opt.seed;
    if (seed === undefined) seed = crypto.getRandomValues(new Uint32Array(1))[0];
    if (typeof seed === 'number') checkNumber('seed', seed, 0, Number.MAX_SAFE_INTEGER, true);
    else if (typeof seed !== 'bigint' || seed < 0n || seed >= 1n << 64n)
      throw new WgmlError(STATUS.INVALID_ARGUMENT, 'seed must be a non-negative integer (number or bigint below 2^64)');
    const stops = opt.stop === undefined ? [] : [opt.stop].flat();
    if (stops.some((x) => typeof x !== 'string' || !x))
      throw new WgmlError(STATUS.INVALID_ARGUMENT, 'stop must be a non-empty string or an array of them');
    if (opt.signal?.aborted) return;

    const sink = new TextSink(stops, () => { if (this.handle) o.exports?.raw.wgml_llm_cancel(this.handle); });
    const onAbort = () => sink.cancel();
    opt.signal?.addEventListener('abort', onAbort);
    const run = o.nextRun++;
    let finished = false, error = null;
    const job = o._call(async () => {
      if (!this.handle) throw new WgmlError(STATUS.INVALID_ARGUMENT, 'this generator was disposed');
      if (sink.cancelled) return;
      let text = prompt;
      if (chat) {
        let msgs = typeof prompt === 'string' ? [{role: 'user', content: prompt}] : prompt;
        if (typeof prompt === 'string' && typeof opt.system === 'string')
          msgs = [{role: 'system', content: opt.system}, ...msgs];
        text = this._chatPrompt(msgs);
      }
      const x = o.exports.raw;
      const cap = opt.maxTokens || this.info.contextSize + 1;
      const p = o._strdup(text), ids = x.malloc(4 * cap), stats = x.malloc(1024);
      o.runs.set(run, sink);
      this.running = sink;
      o.progress = opt.onProgress;   // kernels compile on a model's first runs
      const t0 = performance.now();
      try {
        const st = await o.exports.llmGenerate(this.handle, p, run, opt.maxTokens, opt.temperature, opt.topK,
                                               opt.topP, opt.minP, opt.repeatPenalty, opt.repeatLastN,
                                               BigInt(seed), opt.ignoreEos ? 1 : 0, ids, cap, stats, 1024);
        if (st) throw new WgmlError(st, o._lastError());
        const s = JSON.parse(o._cstr(stats));
        sink.finish();
        this.lastRun = {
          prompt: text, text: sink.text,
          tokens: Array.from(new Int32Array(x.memory.buffer, ids, Math.min(cap, s.generated_tokens))),
          promptTokens: s.prompt_tokens, cachedTokens: s.cached_tokens, generatedTokens: s.generated_tokens,
          prefillSeconds: s.prefill_seconds, decodeSeconds: s.decode_seconds,
          prefillTokensPerSecond: s.prefill_tokens_per_s, decodeTokensPerSecond: s.decode_tokens_per_s,
          stop: sink.stopped ? 'stop' : s.stop, seed, ms: performance.now() - t0,
        };
      } finally {
        o.runs.delete(run);
        o.progress = null;
        if (this.running === sink) this.running = null;
        x.free(p); x.free(ids); x.free(stats);
      }
    });
    job.then(() => { finished = true; sink._wake(); }, (e) => { error = e; finished = true; sink._wake(); });
    try {
      for (;;) {
        if (sink.queue.length) { yield sink.queue.shift(); continue; }
        if (finished) break;
        await new Promise((r) => { sink.wake = r; });
      }
      if (error) throw error;
    } finally {
      opt.signal?.removeEventListener('abort', onAbort);
      if (!finished) {
        sink.cancel();
        await job.catch(() => {});
      }
    }
  }

  // Forgets the KV cache: the next prompt is prefilled whole.
  async reset() {
    const o = this.owner;
    await o._call(async () => {
      if (this.handle) o.exports.raw.wgml_llm_reset(this.handle);
    });
  }

  // Frees the model's GPU buffers (weights, KV cache, activations); a
  // generation under way is stopped first.
  async dispose() {
    const o = this.owner;
    if (!this.handle || !o.exports) return;
    this.running?.cancel();
    await o._call(async () => {
      if (!this.handle) return;
      await o.exports.llmFree(this.handle);
      await o.exports.trim(o.ctx);
      this.handle = 0;
      o.generators.delete(this);
    });
  }
}
