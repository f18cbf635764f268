// The JS half of wgml's web GPU layer (src/gpu/gpu_web.c): the "wgml_gpu"
// import module over navigator.gpu. WebGPU objects live in tables here; C
// holds their indices (0 means none). The imports that wait for a promise
// are WebAssembly.Suspending: C waits for them synchronously (JSPI).
//
// Statuses are wgml_status values; a failed waiting import leaves its
// message for `message`. Sizes and offsets arrive as doubles.

export const STATUS = {OK: 0, INVALID_ARGUMENT: 1, BAD_FILE: 2, UNSUPPORTED: 3, OUT_OF_MEMORY: 4,
                       DEVICE_LOST: 5, GPU: 6};
const STATUS_NAMES = ['ok', 'invalid argument', 'bad file', 'unsupported', 'out of memory',
                      'device lost', 'GPU error'];
export const statusName = (s) => STATUS_NAMES[s] ?? `status ${s}`;

// Indices shared with gpu_web.c (LIM_*, FEAT_*).
const LIMITS = ['maxBufferSize', 'maxStorageBufferBindingSize', 'maxUniformBufferBindingSize',
                'maxStorageBuffersPerShaderStage', 'maxComputeWorkgroupStorageSize',
                'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX',
                'maxComputeWorkgroupSizeY', 'maxComputeWorkgroupSizeZ',
                'maxComputeWorkgroupsPerDimension', 'minStorageBufferOffsetAlignment',
                'minUniformBufferOffsetAlignment'];
const LIM_SUBGROUP_MIN = 12, LIM_SUBGROUP_MAX = 13, LIM_VENDOR_ID = 14, LIM_DEVICE_ID = 15;
const FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'];
const FEAT_IS_FALLBACK = 3;
const SCOPES = ['out-of-memory', 'validation', 'internal'];   // pushed in this order
const MAX_PROFILED = 2048;   // dispatches timed per run in profiling mode

class Table {
  constructor() { this.items = [null]; this.free = []; }
  add(v) {
    if (this.free.length) { const h = this.free.pop(); this.items[h] = v; return h; }
    this.items.push(v);
    return this.items.length - 1;
  }
  get(h) { return this.items[h]; }
  remove(h) {
    const v = this.items[h];
    if (h > 0 && v != null) { this.items[h] = null; this.free.push(h); }
    return v;
  }
  get size() { return this.items.length - 1 - this.free.length; }
}

export class GpuImports {
  constructor({onCompile} = {}) {
    this.memory = null;
    this.adapter = null;
    this.device = null;
    this.buffers = new Table();
    this.pipelines = new Table();   // {pipeline, layout, label}
    this.groups = new Table();
    this.live = new Set();          // GPUBuffers created and not destroyed, ours included
    this.msg = '';
    this.lost = null;
    this.uncaptured = null;
    this.destroying = false;
    this.onCompile = onCompile;     // ({loaded, total}) as kernels finish compiling
    this.profile = false;           // one timed pass per dispatch (when timestamps exist)
    this.lastProfile = null;        // [{label, ns}] of the last profiled run
    this.run = null;                // the run being recorded
    this.staging = null;
    // Where time goes on the JS side: waits (each a JSPI suspension), compiles, uploads.
    this.stats = {scopePops: 0, scopePopMs: 0, pipelines: 0, compileMs: 0, writes: 0, writeBytes: 0,
                  reads: 0, readMs: 0, submits: 0, dispatches: 0};
  }

  // ------------------------------------------------------------ helpers

  bytes() { return new Uint8Array(this.memory.buffer); }
  view() { return new DataView(this.memory.buffer); }
  str(ptr, len) { return new TextDecoder().decode(this.bytes().subarray(ptr, ptr + len)); }
  copyOut(text, dst, cap) {
    const b = new TextEncoder().encode(text).subarray(0, cap);
    this.bytes().set(b, dst);
    return b.length;
  }
  fail(status, message) { this.msg = message; return status; }
  get liveBuffers() { return this.live.size; }
  createBuffer(desc) {
    const b = this.device.createBuffer(desc);
    this.live.add(b);
    return b;
  }
  destroyBuffer(b) {
    if (!b) return;
    b.destroy();
    this.live.delete(b);
  }
  // Pops the scopes pushed by pushScopes; the first error (out-of-memory first).
  async popScopes() {
    const errors = [], t0 = performance.now();
    for (let i = SCOPES.length - 1; i >= 0; i--) errors[i] = await this.device.popErrorScope();
    this.stats.scopePops++;
    this.stats.scopePopMs += performance.now() - t0;
    for (let i = 0; i < SCOPES.length; i++) {
      const e = errors[i];
      if (!e) continue;
      return this.fail(e instanceof GPUOutOfMemoryError ? STATUS.OUT_OF_MEMORY : STATUS.GPU, e.message);
    }
    return STATUS.OK;
  }
  pushScopes() { for (const s of SCOPES) this.device.pushErrorScope(s); }

  // ------------------------------------------------------------ device

  async requestDevice(flags) {
    if (!globalThis.navigator?.gpu)
      return this.fail(STATUS.UNSUPPORTED, 'this browser has no WebGPU (navigator.gpu is missing)');
    const powerPreference = flags & 1 ? 'low-power' : flags & 2 ? 'high-performance' : undefined;
    const adapter = await navigator.gpu.requestAdapter(powerPreference ? {powerPreference} : {});
    if (!adapter) return this.fail(STATUS.UNSUPPORTED, 'no WebGPU adapter found');
    const want = [];
    if (!(flags & 4) && adapter.features.has('shader-f16')) want.push('shader-f16');
    if (!(flags & 8) && adapter.features.has('subgroups')) want.push('subgroups');
    if (!(flags & 16) && adapter.features.has('timestamp-query')) want.push('timestamp-query');
    // Every adapter limit, as the native layer asks for.
    const requiredLimits = {};
    for (const k in adapter.limits) if (typeof adapter.limits[k] === 'number') requiredLimits[k] = adapter.limits[k];
    let device;
    try {
      device = await adapter.requestDevice({label: 'wgml', requiredFeatures: want, requiredLimits});
    } catch (e) {
      return this.fail(STATUS.GPU, `device request failed: ${e.message}`);
    }
    this.adapter = adapter;
    this.device = device;
    device.lost.then((info) => {
      if (!this.destroying) this.lost = `reason ${info.reason}: ${info.message}`;
    });
    device.onuncapturederror = (e) => { this.uncaptured = e.error.message; };
    if (device.features.has('timestamp-query')) {
      this.tsQueries = device.createQuerySet({type: 'timestamp', count: 2 * MAX_PROFILED, label: 'wgml.timestamps'});
      this.tsResolve = this.createBuffer({size: 16 * MAX_PROFILED, label: 'wgml.timestamps.resolve',
                                          usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC});
      this.tsReadback = this.createBuffer({size: 16 * MAX_PROFILED, label: 'wgml.timestamps.readback',
                                           usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST});
    }
    return STATUS.OK;
  }

  destroyDevice() {
    if (!this.device) return;
    this.destroying = true;
    this.destroyBuffer(this.staging);
    this.destroyBuffer(this.tsResolve);
    this.destroyBuffer(this.tsReadback);
    this.tsQueries?.destroy();
    this.staging = this.tsResolve = this.tsReadback = this.tsQueries = null;
    // Whatever C did not free (it frees everything it made) goes too.
    for (let h = 1; h < this.buffers.items.length; h++)
      if (this.buffers.items[h]) this.destroyBuffer(this.buffers.remove(h));
    this.device.destroy();
    this.device = null;
  }

  // ------------------------------------------------------------ pipelines

  async createPipelines(n, kernelsPtr, outPtr, failedPtr) {
    const t0 = performance.now();
    try {
      return await this.createPipelinesTimed(n, kernelsPtr, outPtr, failedPtr);
    } finally {
      this.stats.pipelines += n;
      this.stats.compileMs += performance.now() - t0;
    }
  }

  async createPipelinesTimed(n, kernelsPtr, outPtr, failedPtr) {
    const dv = this.view();
    const ks = [];
    for (let i = 0; i < n; i++) {
      const p = kernelsPtr + 32 * i;
      const u = (o) => dv.getUint32(p + o, true);
      const constants = {};
      for (let c = 0; c < u(28); c++) {
        const cp = u(24) + 16 * c;
        constants[this.str(dv.getUint32(cp, true), dv.getUint32(cp + 4, true))] = dv.getFloat64(cp + 8, true);
      }
      ks.push({code: this.str(u(0), u(4)), entryPoint: this.str(u(8), u(12)),
               label: this.str(u(16), u(20)), constants});
    }
    const setFailed = (i) => this.view().setUint32(failedPtr, i, true);
    // Modules first: their compilation messages carry line:column.
    this.pushScopes();
    const modules = ks.map((k) => this.device.createShaderModule({code: k.code, label: k.label}));
    const infos = await Promise.all(modules.map((m) => m.getCompilationInfo()));
    const scoped = await this.popScopes();
    for (let i = 0; i < n; i++) {
      const errs = infos[i].messages.filter((m) => m.type === 'error');
      if (errs.length) {
        setFailed(i);
        return this.fail(STATUS.GPU, infos[i].messages.map(
          (m) => `${m.lineNum}:${m.linePos}: ${m.type}: ${m.message}`).join('\n'));
      }
    }
    if (scoped) { setFailed(0); return scoped; }
    let done = 0;
    const results = await Promise.allSettled(ks.map((k, i) =>
      this.device.createComputePipelineAsync({label: k.label, layout: 'auto',
        compute: {module: modules[i], entryPoint: k.entryPoint, constants: k.constants}})
        .then((p) => { this.onCompile?.({loaded: ++done, total: n}); return p; })));
    const bad = results.findIndex((r) => r.status === 'rejected');
    if (bad >= 0) {
      setFailed(bad);
      return this.fail(STATUS.GPU, results[bad].reason?.message ?? String(results[bad].reason));
    }
    const dv2 = this.view();
    results.forEach((r, i) => {
      const h = this.pipelines.add({pipeline: r.value, layout: r.value.getBindGroupLayout(0), label: ks[i].label});
      dv2.setUint32(outPtr + 4 * i, h, true);
    });
    return STATUS.OK;
  }

  // ------------------------------------------------------------ runs

  beginRun(timed) {
    this.pushScopes();
    const encoder = this.device.createCommandEncoder();
    const profiled = this.profile && !!this.tsQueries;
    const run = {encoder, pass: null, timed: !!timed && !!this.tsQueries, profiled, labels: [], cmd: null};
    if (!profiled) {
      run.pass = encoder.beginComputePass(run.timed ? {timestampWrites: {querySet: this.tsQueries,
        beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1}} : {});
    }
    this.run = run;
  }

  dispatch(p, bg, x, y, z) {
    const run = this.run, pl = this.pipelines.get(p);
    this.stats.dispatches++;
    if (run.profiled && run.labels.length < MAX_PROFILED) {
      // One pass per dispatch, timed at both ends: per-kernel GPU time.
      const i = run.labels.length;
      run.labels.push(pl.label);
      const pass = run.encoder.beginComputePass({timestampWrites: {querySet: this.tsQueries,
        beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1}});
      pass.setPipeline(pl.pipeline);
      pass.setBindGroup(0, this.groups.get(bg));
      pass.dispatchWorkgroups(x, y, z);
      pass.end();
      return;
    }
    if (!run.pass) run.pass = run.encoder.beginComputePass();   // past MAX_PROFILED
    run.pass.setPipeline(pl.pipeline);
    run.pass.setBindGroup(0, this.groups.get(bg));
    run.pass.dispatchWorkgroups(x, y, z);
  }

  async finishRun() {
    const run = this.run;
    if (run.pass) run.pass.end();
    const nq = run.profiled ? 2 * run.labels.length : run.timed ? 2 : 0;
    if (nq) {
      run.encoder.resolveQuerySet(this.tsQueries, 0, nq, this.tsResolve, 0);
      if (this.tsReadback.mapState === 'unmapped')
        run.encoder.copyBufferToBuffer(this.tsResolve, 0, this.tsReadback, 0, 8 * nq);
      else run.profiled = run.timed = false;   // a read of an earlier run is still going on
    }
    run.cmd = run.encoder.finish();
    run.popped = true;
    return this.popScopes();
  }

  submitRun() {
    const run = this.run;
    this.run = null;
    this.device.queue.submit([run.cmd]);
    this.stats.submits++;
    if (run.profiled && run.labels.length) {
      // Read in the background: the next waiting call or the caller awaits it.
      const labels = run.labels;
      this.profileRead = this.tsReadback.mapAsync(GPUMapMode.READ, 0, 16 * labels.length).then(() => {
        const t = new BigUint64Array(this.tsReadback.getMappedRange(0, 16 * labels.length).slice(0));
        this.tsReadback.unmap();
        this.lastProfile = labels.map((label, i) => ({label, ns: t[2 * i + 1] >= t[2 * i] ? Number(t[2 * i + 1] - t[2 * i]) : 0}));
      }, () => {});
    } else if (run.timed) {
      this.timedRead = true;
    }
  }

  discardRun() {
    if (!this.run) return;
    const run = this.run;
    this.run = null;
    if (run.popped) return;   // finished (and validated) but not submitted
    try { run.pass?.end(); } catch {}
    this.popScopes().catch(() => {});   // the run's scopes; nobody waits for them
  }

  async readTimestamps(nsPtr) {
    let ns = -1;
    if (this.timedRead) {
      this.timedRead = false;
      await this.tsReadback.mapAsync(GPUMapMode.READ, 0, 16);
      const t = new BigUint64Array(this.tsReadback.getMappedRange(0, 16).slice(0));
      this.tsReadback.unmap();
      if (t[1] >= t[0]) ns = Number(t[1] - t[0]);
    } else if (this.profileRead) {
      await this.profileRead;
      ns = this.lastProfile.reduce((s, k) => s + k.ns, 0);
    }
    this.view().setFloat64(nsPtr, ns, true);
    return STATUS.OK;
  }

  async readBuffer(h, offset, dst, size) {
    const t0 = performance.now();
    try {
      return await this.readBufferTimed(h, offset, dst, size);
    } finally {
      this.stats.reads++;
      this.stats.readMs += performance.now() - t0;
    }
  }

  async readBufferTimed(h, offset, dst, size) {
    if (!this.staging || this.staging.size < size) {
      this.destroyBuffer(this.staging);
      let cap = 256;
      while (cap < size) cap *= 2;
      this.staging = this.createBuffer({size: cap, label: 'wgml.staging',
                                        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST});
    }
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(this.buffers.get(h), offset, this.staging, 0, size);
    this.device.queue.submit([enc.finish()]);
    try {
      await this.staging.mapAsync(GPUMapMode.READ, 0, size);
    } catch (e) {
      return this.fail(STATUS.GPU, `mapping a buffer for reading failed: ${e.message}`);
    }
    // After the wait: memory may have been replaced by a grow before it.
    this.bytes().set(new Uint8Array(this.staging.getMappedRange(0, size)), dst);
    this.staging.unmap();
    return STATUS.OK;
  }

  // ------------------------------------------------------------ the import object

  imports() {
    const S = (f) => new WebAssembly.Suspending(f);
    return {
      device_request: S((flags) => this.requestDevice(flags)),
      device_string: (which, dst, cap) => {
        const info = this.adapter.info;
        const v = [info.vendor, info.architecture, info.device, info.description][which] ?? '';
        return this.copyOut(v, dst, cap);
      },
      device_limit: (which) => {
        const info = this.adapter.info;
        if (which < LIMITS.length) return Number(this.device.limits[LIMITS[which]]);
        if (which === LIM_SUBGROUP_MIN) return info.subgroupMinSize ?? 0;
        if (which === LIM_SUBGROUP_MAX) return info.subgroupMaxSize ?? 0;
        return 0;   // vendor and device ids: the browser does not expose them
      },
      device_feature: (which) => {
        if (which === FEAT_IS_FALLBACK) return this.adapter.info.isFallbackAdapter ? 1 : 0;
        return this.device.features.has(FEATURES[which]) ? 1 : 0;
      },
      device_lost: (dst, cap) => (this.lost === null ? 0 : (this.copyOut(this.lost, dst, cap), 1)),
      uncaptured_error: (dst, cap) => {
        if (this.uncaptured === null) return 0;
        this.copyOut(this.uncaptured, dst, cap);
        this.uncaptured = null;
        return 1;
      },
      device_destroy: () => this.destroyDevice(),
      message: (dst, cap) => this.copyOut(this.msg, dst, cap),
      scopes_push: () => this.pushScopes(),
      scopes_pop: S(() => this.popScopes()),
      buffer_create: (size, kind, label, len) => {
        const usage = kind === 1 ? GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST
          : GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
        try {
          return this.buffers.add(this.createBuffer({size, usage, label: this.str(label, len)}));
        } catch (e) {
          this.msg = e.message;
          return 0;
        }
      },
      buffer_destroy: (h) => this.destroyBuffer(this.buffers.remove(h)),
      buffer_write: (h, offset, src, size) => {
        this.stats.writes++;
        this.stats.writeBytes += size;
        this.device.queue.writeBuffer(this.buffers.get(h), offset, this.memory.buffer, src, size);
      },
      buffer_read: S((h, offset, dst, size) => this.readBuffer(h, offset, dst, size)),
      pipelines_create: S((n, ks, out, failed) => this.createPipelines(n, ks, out, failed)),
      pipeline_release: (h) => { this.pipelines.remove(h); },
      bind_group_create: (p, n, entriesPtr) => {
        const dv = this.view(), pl = this.pipelines.get(p);
        const entries = [];
        for (let i = 0; i < n; i++) {
          const e = entriesPtr + 24 * i;
          entries.push({binding: dv.getUint32(e, true), resource: {
            buffer: this.buffers.get(dv.getUint32(e + 4, true)),
            offset: dv.getFloat64(e + 8, true), size: dv.getFloat64(e + 16, true)}});
        }
        return this.groups.add(this.device.createBindGroup({layout: pl.layout, entries}));
      },
      bind_group_release: (h) => { this.groups.remove(h); },
      encoder_begin: (timed) => this.beginRun(timed),
      encoder_dispatch: (p, bg, x, y, z) => this.dispatch(p, bg, x, y, z),
      encoder_finish: S(() => this.finishRun()),
      encoder_discard: () => this.discardRun(),
      queue_submit: () => this.submitRun(),
      timestamps_read: S((ns) => this.readTimestamps(ns)),
      queue_wait: S(async () => {
        await this.device.queue.onSubmittedWorkDone();
        return STATUS.OK;
      }),
    };
  }
}
