// Types of web/wgml.js: wgml in the browser (wasm + WebGPU).

/** Why wgml cannot run here, if it cannot: WebGPU and JS Promise Integration are required. */
export function supported(): {ok: boolean; reasons: string[]};

export interface CreateOptions {
  /** URL or bytes of wgml.wasm; default: dist/wgml.wasm beside wgml.js. */
  wasm?: string | URL | ArrayBuffer | Uint8Array;
  powerPreference?: 'low-power' | 'high-performance';
  disableF16?: boolean;
  disableSubgroups?: boolean;
  disableTimestamps?: boolean;
}

/** One wasm instance and one GPU device. */
export function create(options?: CreateOptions): Promise<Wgml>;

/** Removes cached model files (all, or those under one model URL). */
export function clearModelCache(base?: string): Promise<void>;

export class WgmlError extends Error {
  name: 'WgmlError';
  /** 'invalid argument' | 'bad file' | 'unsupported' | 'out of memory' | 'device lost' | 'GPU error' */
  status: string;
}

/** What wgml itself sees of the device (from the C core). */
export interface DeviceInfo {
  implementation: 'browser';
  vendor: string; architecture: string; device: string; description: string;
  adapter_type: 'cpu' | 'unknown';
  shader_f16: boolean; subgroups: boolean; timestamp_query: boolean; packed_dot4: boolean;
  subgroup_min_size: number; subgroup_max_size: number;
  max_buffer_size: number; max_storage_buffer_binding_size: number;
  max_compute_workgroup_storage_size: number; max_compute_invocations_per_workgroup: number;
}

export type Progress =
  | {phase: 'download'; file: string; loaded: number; total: number; cached: boolean}
  | {phase: 'upload'; file: string; loaded: number; total: number}
  | {phase: 'compile'; loaded: number; total: number};

/**
 * A model directory in the sentence-transformers layout: a URL (fetched once,
 * then served from the Cache API), a map of file names (config.json,
 * model.safetensors, tokenizer.json, modules.json, 1_Pooling/config.json, ...)
 * to bytes or Blobs, or a list of Files (an <input webkitdirectory> selection).
 */
export type ModelSource = string | URL | Record<string, Blob | ArrayBuffer | ArrayBufferView> | File[] | FileList;

export interface EmbedderOptions {
  onProgress?: (p: Progress) => void;
  /** 'auto' (default): f16 Linear weights where the device has shader-f16. */
  precision?: 'auto' | 'f32' | 'f16';
  maxBatch?: number;
  maxTokens?: number;
  /** Keep URL sources in the Cache API (default true). */
  cache?: boolean;
}

export interface KernelTime { label: string; ns: number }

export class Wgml {
  adapterInfo: {vendor: string; architecture: string; device: string; description: string;
                isFallbackAdapter: boolean; subgroupMinSize?: number; subgroupMaxSize?: number};
  /** Features the adapter offers, and those the device was created with. */
  adapterFeatures: string[];
  features: string[];
  limits: Record<string, number>;
  deviceInfo: DeviceInfo;
  /** What this build can do: embeddings now; generation when it lands. */
  capabilities: {embed: true; generate: boolean};
  timings: {createMs: number; wasmMs: number};

  loadEmbedder(source: ModelSource, options?: EmbedderOptions): Promise<Embedder>;
  /**
   * Text generation (Llama-family decoders from GGUF or safetensors, BPE
   * tokenizers, GPU sampling). Not yet in the browser build: rejects with
   * WgmlError 'unsupported' while capabilities.generate is false.
   */
  loadGenerator(source: ModelSource, options?: {onProgress?: (p: Progress) => void}): Promise<Generator>;

  /** Whether a WGSL compute kernel (entry `main`) compiles here; message: the compiler's line:column lines. */
  checkWgsl(source: string): Promise<{ok: boolean; status: string; message: string}>;
  /** GPU buffers alive now (wgml's staging and timestamp buffers included). */
  liveBuffers(): number;
  /** Per-kernel GPU time of later runs (timestamp-query only). */
  setProfiling(on: boolean): void;
  lastProfile(): Promise<KernelTime[] | null>;
  /** JS-side counters: file reads, GPU waits, compiles, uploads, submits. */
  stats(): {gpu: Record<string, number>; files: Record<string, number>};
  /** Frees every model, GPU buffer and the device. */
  dispose(): Promise<void>;
}

export class Embedder {
  readonly dim: number;
  lastRun: {texts: number; ms: number; textsPerSecond: number} | null;
  timings: {filesMs: number; loadMs: number};
  /** One vector of `dim` floats per text. */
  embed(texts: string | string[], options?: {onProgress?: (p: Progress) => void}): Promise<Float32Array[]>;
  /** The encoder plan for a batch shape: kernels, intermediate memory, FLOPs, bytes. */
  plan(batch: number, seq: number): Promise<{kernels: number; planned_bytes: number; naive_bytes: number;
                                             flops: number; bytes: number}>;
  dispose(): Promise<void>;
}

/** The shape generate() will have (see Wgml.loadGenerator). */
export interface Generator {
  generate(prompt: string, options?: {maxTokens?: number; temperature?: number; topK?: number;
                                      topP?: number; seed?: number; signal?: AbortSignal;
                                      onToken?: (text: string) => void}): AsyncIterable<string>;
  dispose(): Promise<void>;
}
