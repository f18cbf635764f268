// Model files for the browser: a directory in the sentence-transformers
// layout, from a URL (fetched once, then kept in the Cache API), from a map
// of names to bytes or Blobs, or from a list of Files (an
// <input type=file webkitdirectory> selection); or one file (a GGUF model)
// from a URL, bytes, a Blob or a File.
//
// Over HTTP a directory cannot be listed, so a URL source fetches the files
// the loaders read: config.json, model.safetensors, tokenizer.json (else
// vocab.txt), and where present modules.json with each module's config.json,
// sentence_bert_config.json and tokenizer_config.json. Which files exist is
// kept in a manifest in the cache too, so a second load makes no request.
// A fetched file streams into the cache (disk) and is read back as a Blob:
// never one ArrayBuffer of the whole file.

const CACHE_NAME = 'wgml-models-v1';
const REQUIRED = ['config.json', 'model.safetensors'];
const OPTIONAL = ['modules.json', 'sentence_bert_config.json', 'tokenizer_config.json',
                  'tokenizer.json'];

// {name: Blob|Uint8Array} for any source; onProgress({phase: 'download', file,
// loaded, total, cached}).
export async function modelFiles(source, {onProgress, cache = true, fetchFn = fetch} = {}) {
  if (typeof source === 'string' || source instanceof URL) return fromUrl(String(source), {onProgress, cache, fetchFn});
  if (typeof FileList !== 'undefined' && source instanceof FileList) source = [...source];
  if (Array.isArray(source)) return fromFileList(source);
  if (source && typeof source === 'object') return fromMap(source);
  throw new TypeError('a model source is a URL, a {name: bytes} map or a list of Files');
}

function fromMap(map) {
  const files = {};
  for (const [name, v] of Object.entries(map)) {
    if (v instanceof Blob || v instanceof ArrayBuffer || ArrayBuffer.isView(v)) files[name] = v;
    else throw new TypeError(`model file ${name}: expected a Blob, File, ArrayBuffer or typed array`);
  }
  return files;
}

function fromFileList(list) {
  const files = {};
  for (const f of list) {
    if (!(f instanceof Blob)) throw new TypeError('a list source holds Files');
    // A directory selection names files "dir/sub/name": drop the top folder.
    const rel = f.webkitRelativePath || f.name;
    const parts = rel.split('/');
    files[parts.length > 1 ? parts.slice(1).join('/') : rel] = f;
  }
  return files;
}

async function fromUrl(base, {onProgress, cache, fetchFn}) {
  if (!base.endsWith('/')) base += '/';
  base = new URL(base, globalThis.location?.href).href;
  const store = cache && globalThis.caches ? await caches.open(CACHE_NAME) : null;
  const manifestUrl = base + '.wgml-manifest.json';
  let names = null;
  if (store) {
    const m = await store.match(manifestUrl);
    if (m) names = await m.json();
  }
  const files = {};
  const get = (name, required) => fetchCached(base + name, name, {store, required, onProgress, fetchFn});
  if (names) {
    for (const n of names) files[n] = await get(n, true);
    return files;
  }
  for (const n of REQUIRED) files[n] = await get(n, true);
  for (const n of OPTIONAL) {
    const b = await get(n, false);
    if (b) files[n] = b;
  }
  if (!files['tokenizer.json']) files['vocab.txt'] = await get('vocab.txt', true);
  if (files['modules.json']) {
    const mods = JSON.parse(await files['modules.json'].text());
    for (const m of Array.isArray(mods) ? mods : []) {
      if (typeof m?.path !== 'string' || !m.path || m.path.includes('..')) continue;
      const b = await get(`${m.path}/config.json`, false);
      if (b) files[`${m.path}/config.json`] = b;
    }
  }
  if (store) {
    await store.put(manifestUrl, new Response(JSON.stringify(Object.keys(files)),
                                              {headers: {'content-type': 'application/json'}}));
  }
  return files;
}

// Fetches url into the cache (or takes it from there) and returns it as a
// Blob; null for a 404 of a file that is not required.
async function fetchCached(url, name, {store, required, onProgress, fetchFn}) {
  const hit = store ? await store.match(url) : null;
  if (hit) {
    const blob = await hit.blob();
    onProgress?.({phase: 'download', file: name, loaded: blob.size, total: blob.size, cached: true});
    return blob;
  }
  const resp = await fetchFn(url);
  if (!resp.ok) {
    if (!required && resp.status === 404) return null;
    throw new Error(`${url}: HTTP ${resp.status}`);
  }
  const total = Number(resp.headers.get('content-length')) || 0;
  let loaded = 0;
  // Count bytes as they stream past; the body goes to the cache (disk), not
  // into one large ArrayBuffer here.
  const counter = new TransformStream({
    transform(chunk, ctl) {
      loaded += chunk.byteLength;
      onProgress?.({phase: 'download', file: name, loaded, total, cached: false});
      ctl.enqueue(chunk);
    },
  });
  const counted = new Response(resp.body.pipeThrough(counter), {headers: resp.headers});
  if (store) {
    await store.put(url, counted);
    return (await store.match(url)).blob();
  }
  return counted.blob();
}

// One model file: {name, data} with data a Blob or bytes. source: a URL
// (fetched once, then served from the Cache API), an ArrayBuffer, a typed
// array, a Blob or a File.
export async function modelFile(source, {onProgress, cache = true, fetchFn = fetch, defaultName = 'model'} = {}) {
  if (typeof source === 'string' || source instanceof URL) {
    const url = new URL(String(source), globalThis.location?.href).href;
    const name = decodeURIComponent(new URL(url).pathname.split('/').pop() || defaultName);
    const store = cache && globalThis.caches ? await caches.open(CACHE_NAME) : null;
    return {name, data: await fetchCached(url, name, {store, required: true, onProgress, fetchFn})};
  }
  if (source instanceof Blob) return {name: source.name || defaultName, data: source};
  if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) return {name: defaultName, data: source};
  throw new TypeError('a model file is a URL, an ArrayBuffer, a typed array, a Blob or a File');
}

// Removes a URL source's files from the cache (all models when base is omitted).
export async function clearModelCache(base) {
  if (!globalThis.caches) return;
  if (base === undefined) { await caches.delete(CACHE_NAME); return; }
  if (!base.endsWith('/')) base += '/';
  base = new URL(base, globalThis.location?.href).href;
  const store = await caches.open(CACHE_NAME);
  for (const req of await store.keys()) if (req.url.startsWith(base)) await store.delete(req);
}
