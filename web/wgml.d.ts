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
  /** What this build can do. */
  capabilities: {embed: true; generate: true};
  timings: {createMs: number; wasmMs: number};

  loadEmbedder(source: ModelSource, options?: EmbedderOptions): Promise<Embedder>;
  /**
   * A Llama-family decoder (Llama 2/3, SmolLM2, Qwen2) from one GGUF file,
   * with its tokenizer and chat template. A URL is fetched once, then served
   * from the Cache API; the file is read through Blob slices, never copied
   * whole into wasm memory.
   */
  loadGenerator(source: ModelFileSource, options?: GeneratorOptions): Promise<Generator>;

  /** Whether a WGSL compute kernel (entry `main`) compiles here; message: the compiler's line:column lines. */
  checkWgsl(source: string): Promise<{ok: boolean; status: string; message: string}>;
  /** GPU buffers alive now (wgml's staging and timestamp buffers included). */
  liveBuffers(): number;
  /** Their labels, sorted (the context's own: wgml.timestamps.*, wgml.staging, wgml.uniform_arena, ...). */
  liveBufferLabels(): string[];
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

/** One GGUF file: a URL, its bytes, a Blob or a File. */
export type ModelFileSource = string | URL | ArrayBuffer | ArrayBufferView | Blob | File;

export interface GeneratorOptions {
  /** download (URL sources), upload (the file read into GPU buffers). */
  onProgress?: (p: Progress) => void;
  /** KV cache length in tokens; default min(the model's, 4096). */
  contextSize?: number;
  /** 'auto' (default): f16 KV cache where the device has shader-f16; 'f32'; 'f16' (or 'unsupported'). */
  precision?: 'auto' | 'f32' | 'f16';
  /** Keep URL sources in the Cache API (default true). */
  cache?: boolean;
}

export interface ChatMessage { role: 'system' | 'user' | 'assistant'; content: string }

export interface GenerateOptions {
  /** Tokens to generate at most (default 256; 0: until the model ends or the context is full). */
  maxTokens?: number;
  /** 0.8 by default; 0 is greedy (the most likely token, ties to the lowest id). */
  temperature?: number;
  /** 40 by default; 0: off. */
  topK?: number;
  /** 0.95 by default; 1: off. */
  topP?: number;
  /** 0.05 by default; 0: off. */
  minP?: number;
  /** 1 (off) by default. */
  repeatPenalty?: number;
  /** Tokens the penalty looks back over (default 64). */
  repeatLastN?: number;
  /** Default random (reported in lastRun.seed): the same seed, prompt and cache give the same text. */
  seed?: number | bigint;
  /** Text that ends the generation (not included in it). */
  stop?: string | string[];
  /** The prompt (a string: one user message; or messages) in the model's chat template. */
  chat?: boolean;
  /** With chat and a string prompt: a system message first. */
  system?: string;
  /** Go on past end-of-generation tokens. */
  ignoreEos?: boolean;
  /** Aborting ends the iterator (lastRun.stop is 'cancelled'). */
  signal?: AbortSignal;
  /** Kernel compiles (a model's first runs compile its pipelines). */
  onProgress?: (p: Progress) => void;
}

export interface GenerateRun {
  /** The prompt text as tokenized (after the chat template). */
  prompt: string;
  text: string;
  /** Ids of the generated tokens (an end-of-generation token that stopped it excluded). */
  tokens: number[];
  promptTokens: number;
  /** Of them, reused from the KV cache (not prefilled). */
  cachedTokens: number;
  generatedTokens: number;
  prefillSeconds: number;
  decodeSeconds: number;
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
  stop: 'length' | 'eog' | 'context' | 'cancelled' | 'stop';
  seed: number | bigint;
  /** Wall time of the whole call. */
  ms: number;
}

export class Generator {
  readonly info: {name: string; architecture: string; chatFormat: '' | 'chatml' | 'llama3' | 'llama2';
                  vocabSize: number; contextSize: number; trainedContextSize: number; layers: number;
                  dim: number; kvF16: boolean; gpuBytes: number; loadSeconds: number};
  lastRun: GenerateRun | null;
  timings: {fileMs: number; loadMs: number};
  /**
   * Text pieces as they are generated (valid UTF-8: a character split across
   * tokens comes whole). Leaving the loop stops the generation. The KV cache
   * is kept between calls: a prompt that starts with the previous prompt and
   * its answer prefills only the rest.
   */
  generate(prompt: string | ChatMessage[], options?: GenerateOptions): AsyncGenerator<string, void, undefined>;
  /** The prompt text for a conversation in the model's chat template, the assistant's turn opened. */
  chatPrompt(messages: ChatMessage[]): Promise<string>;
  /** Forgets the KV cache. */
  reset(): Promise<void>;
  /** Frees its GPU buffers (a generation under way is stopped first). */
  dispose(): Promise<void>;
}
