// wgml in the browser: the C core compiled to wasm (web/build.sh), running on
// navigator.gpu. See web/README.md and wgml.d.ts.
//
//   import * as wgml from './wgml.js';
//   const ml = await wgml.create();
//   const e = await ml.loadEmbedder('models/all-MiniLM-L6-v2/', {onProgress});
//   const [a, b] = await e.embed(['hello world', 'bonjour le monde']);
//   await ml.dispose();
//
// The C core is synchronous; WebGPU waits on promises. JS Promise Integration
// joins them: the imports that wait are WebAssembly.Suspending and every
// export that may reach one is called through WebAssembly.promising. Calls
// into one instance are queued, one at a time.
import {GpuImports, STATUS, statusName} from './lib/gpu.js';
import {WasiFiles} from './lib/wasi.js';
import {modelFiles, clearModelCache} from './lib/model_files.js';

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
    this.timings = {};
    this.progress = null;   // the onProgress of the load under way
    // Generation lands later (the decoder is being built natively first);
    // loadGenerator and the demo's chat panel key off this.
    this.capabilities = {embed: true, generate: false};
  }

  async _init(options) {
    this.gpu = new GpuImports({onCompile: (p) => this.progress?.({phase: 'compile', ...p})});
    this.files = new WasiFiles({onRead: (path, n) => this._onRead(path, n)});
    const src = options.wasm ?? DEFAULT_WASM;
    const imports = {wgml_gpu: this.gpu.imports(), wasi_snapshot_preview1: this.files.imports()};
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
    if (!this.progress || !this.loading || !path.endsWith('model.safetensors')) return;
    this.loading.read += n;
    this.progress({phase: 'upload', file: 'model.safetensors', loaded: this.loading.read,
                   total: this.loading.size});
  }

  // Counters of the JS side since create(): file reads, GPU waits, compiles,
  // uploads, submits (see lib/gpu.js and lib/wasi.js).
  stats() { return {gpu: {...this.gpu.stats}, files: {...this.files.stats}}; }

  // GPU buffers alive now, wgml's own staging and timestamp buffers included.
  liveBuffers() { return this.gpu.liveBuffers; }

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
      this.loading = {read: 0, size};
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

  // Text generation: the API's place is here (see wgml.d.ts, Generator); the
  // browser build does not have it yet.
  async loadGenerator() {
    throw new WgmlError(STATUS.UNSUPPORTED, 'text generation is not yet available in the browser build of wgml');
  }

  // Frees every embedder, the GPU buffers and the device. The context cannot
  // be used afterwards.
  async dispose() {
    if (!this.exports) return;
    await this._call(async () => {
      for (const e of this.embedders) {
        await this.exports.embedderFree(e.handle);
        e.handle = 0;
      }
      this.embedders.clear();
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
