// Text generation in the browser against the native build. The model is a
// small random-weight Llama GGUF that the native `wgml synth` writes now
// (dim 64, 2 layers, a generated 512-token byte-level BPE vocabulary, Q4_1):
// the same loader, tokenizer, decoder kernels and GPU sampler as SmolLM2,
// at a size SwiftShader runs at ~10 tokens/s. SmolLM2 itself decodes at
// ~0.1 tokens/s there (its 49152-row output GEMV alone takes seconds), too
// slow for the test suite; web/test/demo_real.mjs runs it in the demo. The
// demo test (demo.mjs) chats with this model too.
//
// The reference is the native CLI run now on lavapipe (`wgml generate
// --json`, which prints the generated token ids), with --f32: SwiftShader has
// no shader-f16, so the browser's KV cache is f32, and the native run is
// asked for the same. Token ids are compared, not only text: a random model
// emits lone bytes that all print as U+FFFD.
import fs from 'node:fs';
import path from 'node:path';
import {nativeBinary, runNative} from './native.mjs';

const MODEL_FILE = 'build/web-test/gen-tiny.gguf';
export const GEN_MODEL_URL = '/test-data/gen-tiny.gguf';
const N = 16;
// Two plain prompts and one in the chat template (non-ASCII on purpose:
// JS -> UTF-8 -> C and back).
const CASES = [
  {prompt: 'The capital of France is'},
  {prompt: 'Once upon a time'},
  {prompt: 'Bonjour, ça va ? 你好 🙂', chat: true},
];
// A sampled run: the GPU sampler's Philox draw is the same function natively.
const SAMPLED = {prompt: 'The weather today', seed: 11, n: 12};

// Writes the model and runs the native generations; {skipped} without a native build.
export function prepare(root, state) {
  if (state.gen) return state.gen;
  const bin = nativeBinary(root);
  if (!bin) return (state.gen = {skipped: 'no native wgml build (build/dawn/wgml) to make the model and the reference'});
  const model = path.join(root, MODEL_FILE);
  fs.mkdirSync(path.dirname(model), {recursive: true});
  runNative(root, bin, ['synth', '-o', model, '--preset', 'tiny', '--type', 'q4_1', '--seed', '7', '--quiet']);
  const gen = (args) => JSON.parse(runNative(root, bin, ['generate', '-m', model, '--f32', '--json', ...args]));
  const greedy = CASES.map((c) => gen(['-p', c.prompt, '--temp', '0', '-n', String(N), '--ignore-eos',
                                       ...(c.chat ? ['--chat'] : [])]));
  const sampled = gen(['-p', SAMPLED.prompt, '-n', String(SAMPLED.n), '--ignore-eos', '--temp', '1', '--top-k', '0',
                       '--top-p', '1', '--min-p', '0', '--seed', String(SAMPLED.seed)]);
  const sampled2 = gen(['-p', SAMPLED.prompt, '-n', String(SAMPLED.n), '--ignore-eos', '--temp', '0.9', '--top-k', '40',
                        '--top-p', '0.9', '--min-p', '0.05', '--seed', String(SAMPLED.seed + 1)]);
  for (const g of [...greedy, sampled, sampled2])
    if (!Array.isArray(g.tokens) || g.tokens.length !== g.generated_tokens) throw new Error(`native output: ${JSON.stringify(g)}`);
  return (state.gen = {bin, greedy, sampled, sampled2, size: fs.statSync(model).size});
}

const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

export const tests = [
  {
    name: 'gen.native',
    async run({page, server, root, state}) {
      const ref = prepare(root, state);
      if (ref.skipped) return ref;
      await page.goto(`${server.url}/test/blank.html`);
      const before = server.count('/test-data/');
      const r = await page.evaluate(async ({url, cases, n}) => {
        const wgml = await import('/wgml.js');
        const ml = await wgml.create();
        const live0 = ml.liveBuffers();
        const phases = new Set();
        const t0 = performance.now();
        const g = await ml.loadGenerator(url, {precision: 'f32', onProgress: (p) => phases.add(p.phase)});
        const loadMs = performance.now() - t0;
        const out = [];
        const onProgress = (p) => phases.add(`${p.phase} (generate)`);
        for (const c of cases) {
          // Each prompt from an empty KV cache, as each native run starts.
          await g.reset();
          const pieces = [];
          for await (const piece of g.generate(c.prompt, {temperature: 0, maxTokens: n, ignoreEos: true, chat: !!c.chat,
                                                          onProgress}))
            pieces.push(piece);
          out.push({pieces, run: g.lastRun});
        }
        window.__ml = ml;
        window.__g = g;
        return {out, info: g.info, phases: [...phases], loadMs, live0, capabilities: ml.capabilities};
      }, {url: GEN_MODEL_URL, cases: CASES, n: N});
      state.genLive0 = r.live0;
      if (server.count('/test-data/') - before !== 1) throw new Error('the model was not fetched once');
      if (!r.capabilities.generate) throw new Error('capabilities.generate is false');
      for (const ph of ['download', 'upload', 'compile (generate)'])
        if (!r.phases.includes(ph)) throw new Error(`no '${ph}' progress (got ${r.phases})`);
      if (r.info.vocabSize !== 512 || r.info.layers !== 2 || r.info.kvF16) throw new Error(`info ${JSON.stringify(r.info)}`);
      let tps = [];
      CASES.forEach((c, i) => {
        const got = r.out[i].run, want = ref.greedy[i];
        const where = `"${c.prompt}"${c.chat ? ' (chat)' : ''}`;
        if (got.generatedTokens !== N || got.stop !== 'length') throw new Error(`${where}: ${got.generatedTokens} tokens, stop ${got.stop}`);
        if (got.promptTokens !== want.prompt_tokens)
          throw new Error(`${where}: ${got.promptTokens} prompt tokens, native ${want.prompt_tokens}`);
        if (!same(got.tokens, want.tokens))
          throw new Error(`${where}: tokens differ from the native build's\n  wasm:   ${got.tokens}\n  native: ${want.tokens}`);
        if (got.text !== want.text || r.out[i].pieces.join('') !== want.text)
          throw new Error(`${where}: text ${JSON.stringify(got.text)}, native ${JSON.stringify(want.text)}`);
        tps.push(got.decodeTokensPerSecond);
      });
      return {note: `${CASES.length} x ${N} greedy token ids equal ${path.relative(root, ref.bin)}'s; ` +
                    `model ${(ref.size / 1024).toFixed(0)} KiB loaded in ${(r.loadMs / 1000).toFixed(1)} s; ` +
                    `decode ${tps.map((t) => t.toFixed(1)).join(', ')} tokens/s`};
    },
  },
  {
    name: 'gen.options',
    async run({page, root, state}) {
      const ref = prepare(root, state);
      if (ref.skipped) return ref;
      const first = ref.greedy[0];
      // A stop sequence taken from the middle of the native text: the text
      // must end right before its first occurrence.
      const chars = [...first.text];
      let stop = null;
      for (let i = 3; i + 2 <= chars.length && !stop; i++) {
        const s = chars.slice(i, i + 2).join('');
        if (!s.includes('\ufffd')) stop = s;
      }
      if (!stop) throw new Error(`no stop string in ${JSON.stringify(first.text)}`);
      const r = await page.evaluate(async ({c0, sampled, stop, n}) => {
        const g = window.__g;
        const collect = async (prompt, opt) => {
          let text = '', pieces = 0;
          for await (const p of g.generate(prompt, opt)) { text += p; pieces++; }
          return {text, pieces, run: g.lastRun};
        };
        const greedy = {temperature: 0, ignoreEos: true};
        const out = {};
        // Runs compared with a native run start from an empty KV cache, as
        // the native run does: a reused prefix changes the last prompt
        // token's logits a little (it is then run alone, through the int8
        // GEMVs, instead of in the prefill's f32 GEMM), which can move a
        // sampled token.
        await g.reset();
        out.n5 = await collect(c0, {...greedy, maxTokens: 5});
        // The same prompt again: all but its last token from the KV cache.
        out.again = await collect(c0, {...greedy, maxTokens: n});
        await g.reset();
        out.stop = await collect(c0, {...greedy, maxTokens: n, stop: [stop, 'no such text']});
        await g.reset();
        out.s1 = await collect(sampled.prompt, {temperature: 1, topK: 0, topP: 1, minP: 0, seed: sampled.seed,
                                                maxTokens: sampled.n, ignoreEos: true});
        await g.reset();
        out.s2 = await collect(sampled.prompt, {temperature: 0.9, topK: 40, topP: 0.9, minP: 0.05, seed: sampled.seed + 1,
                                                maxTokens: sampled.n, ignoreEos: true});
        // Leaving the loop early stops the generation.
        let k = 0;
        for await (const p of g.generate(c0, {...greedy, maxTokens: 200})) if (++k === 2) break;
        out.broken = g.lastRun;
        const ac = new AbortController();
        let m = 0;
        for await (const p of g.generate(c0, {...greedy, maxTokens: 200, signal: ac.signal})) if (++m === 1) ac.abort();
        out.aborted = {pieces: m, run: g.lastRun};
        out.chatPrompt = await g.chatPrompt([{role: 'system', content: 'Be brief.'}, {role: 'user', content: 'Hi'},
                                             {role: 'assistant', content: 'Hello!'}, {role: 'user', content: 'Bye'}]);
        return out;
      }, {c0: CASES[0].prompt, sampled: SAMPLED, stop, n: N});
      const fail = (m) => { throw new Error(`${m}\n${JSON.stringify(r, null, 1).slice(0, 3000)}`); };
      if (r.n5.run.generatedTokens !== 5 || !same(r.n5.run.tokens, first.tokens.slice(0, 5))) fail('maxTokens 5');
      if (r.again.run.cachedTokens !== r.again.run.promptTokens - 1) fail('the repeated prompt did not reuse the KV cache');
      if (!same(r.again.run.tokens, first.tokens)) fail('the repeated prompt (KV cache reused) gave other tokens');
      const want = first.text.slice(0, first.text.indexOf(stop));
      if (r.stop.text !== want || r.stop.run.stop !== 'stop') fail(`stop ${JSON.stringify(stop)}: expected ${JSON.stringify(want)}`);
      for (const [k, nat] of [['s1', ref.sampled], ['s2', ref.sampled2]])
        if (!same(r[k].run.tokens, nat.tokens) || r[k].text !== nat.text)
          fail(`sampled (${k}) tokens ${r[k].run.tokens} differ from the native build's ${nat.tokens} under the same seed`);
      // Decode steps run in batches of 16 (wgml_generate_params.decode_batch) and
      // a batch's pieces come out together, before the loop's break or the
      // abort is seen: the generation stops at the end of that batch.
      const BATCH = 16;
      if (r.broken.stop !== 'cancelled' || r.broken.generatedTokens > 2 + BATCH) fail('breaking out of the loop did not stop it');
      if (r.aborted.run.stop !== 'cancelled' || r.aborted.run.generatedTokens > 1 + BATCH) fail('abort did not stop it');
      if (!/Be brief\.[\s\S]*Hi[\s\S]*Hello![\s\S]*Bye/.test(r.chatPrompt)) fail('chat prompt');
      return {note: `maxTokens, KV cache reuse (${r.again.run.cachedTokens} of ${r.again.run.promptTokens}), ` +
                    `stop ${JSON.stringify(stop)}, two sampled runs equal the native ones under their seeds, break, abort`};
    },
  },
  {
    name: 'gen.sources',
    async run({page, server, root, state}) {
      const ref = prepare(root, state);
      if (ref.skipped) return ref;
      const before = server.count('/test-data/');
      const r = await page.evaluate(async ({url, c0}) => {
        const ml = window.__ml;
        const firstTokens = async (source) => {
          const g = await ml.loadGenerator(source, {precision: 'f32'});
          for await (const p of g.generate(c0, {temperature: 0, maxTokens: 4, ignoreEos: true}));
          const t = g.lastRun.tokens;
          await g.dispose();
          return t;
        };
        const bytes = await (await fetch(url)).arrayBuffer();
        return {
          cached: await firstTokens(url),   // from the Cache API this time
          arrayBuffer: await firstTokens(bytes),
          uint8: await firstTokens(new Uint8Array(bytes)),
          blob: await firstTokens(new Blob([bytes])),
          file: await firstTokens(new File([bytes], 'model.gguf')),
        };
      }, {url: GEN_MODEL_URL, c0: CASES[0].prompt});
      const requests = server.count('/test-data/') - before;
      if (requests !== 1) throw new Error(`${requests} requests: the URL load did not come from the cache (1 is the test's own fetch)`);
      for (const [k, t] of Object.entries(r))
        if (!same(t, ref.greedy[0].tokens.slice(0, 4))) throw new Error(`${k}: tokens ${t}, native ${ref.greedy[0].tokens.slice(0, 4)}`);
      return {note: 'URL (from the cache), ArrayBuffer, Uint8Array, Blob, File: the native first tokens'};
    },
  },
  {
    // A file larger than wasm32's address space (and than an ArrayBuffer
    // needs to be): the synth model padded with zeros to 5 GiB, sparse on
    // disk, handed to the page as a File (Playwright gives Chromium the
    // path: the File is disk-backed). The loader must read only the windows
    // it needs.
    name: 'gen.large_file',
    async run({page, root, state}) {
      const ref = prepare(root, state);
      if (ref.skipped) return ref;
      const big = path.join(root, 'build/web-test/gen-tiny-5g.gguf');
      fs.copyFileSync(path.join(root, MODEL_FILE), big);
      fs.truncateSync(big, 5 * 2 ** 30);
      try {
        const st = fs.statSync(big);
        if (st.blocks * 512 > 64 * 2 ** 20) return {skipped: 'this file system does not keep the 5 GiB file sparse'};
        const want = JSON.parse(runNative(root, ref.bin, ['generate', '-m', big, '--f32', '--json', '-p', CASES[0].prompt,
                                                          '--temp', '0', '-n', '4', '--ignore-eos'])).tokens;
        await page.evaluate(() => {
          const input = document.createElement('input');
          input.type = 'file';
          input.id = 'gguf-file';
          document.body.append(input);
        });
        await page.setInputFiles('#gguf-file', big);
        const r = await page.evaluate(async (prompt) => {
          const ml = window.__ml, file = document.getElementById('gguf-file').files[0];
          const read0 = ml.stats().files.readBytes;
          const g = await ml.loadGenerator(file, {precision: 'f32'});
          for await (const p of g.generate(prompt, {temperature: 0, maxTokens: 4, ignoreEos: true}));
          const out = {size: file.size, tokens: g.lastRun.tokens, read: ml.stats().files.readBytes - read0};
          await g.dispose();
          document.getElementById('gguf-file').remove();
          return out;
        }, CASES[0].prompt);
        if (r.size !== 5 * 2 ** 30) throw new Error(`the File has ${r.size} bytes`);
        if (!same(r.tokens, want)) throw new Error(`tokens ${r.tokens}, native ${want}`);
        if (!(r.read < 64 * 2 ** 20)) throw new Error(`${r.read} bytes of the file were read`);
        return {note: `a 5 GiB File, of which the loader read ${(r.read / 2 ** 20).toFixed(1)} MiB: the native build's first tokens`};
      } finally {
        fs.rmSync(big, {force: true});
      }
    },
  },
  {
    name: 'gen.errors',
    async run({page, root, state}) {
      const ref = prepare(root, state);
      if (ref.skipped) return ref;
      const r = await page.evaluate(async ({url}) => {
        const ml = window.__ml, g = window.__g;
        const grab = async (f) => {
          try { await f(); return null; } catch (e) { return {name: e.name, status: e.status, message: e.message}; }
        };
        const drain = (prompt, opt) => grab(async () => { for await (const p of g.generate(prompt, opt)); });
        const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
        const small = await ml.loadGenerator(bytes, {contextSize: 8});
        const batch = async () => ({
          notGguf: await grab(() => ml.loadGenerator(new TextEncoder().encode('not a model at all'))),
          truncated: await grab(() => ml.loadGenerator(bytes.slice(0, 4000))),
          missing: await grab(() => ml.loadGenerator('/test-data/no-such-model.gguf', {cache: false})),
          badSource: await grab(() => ml.loadGenerator(42)),
          badPrecision: await grab(() => ml.loadGenerator(bytes, {precision: 'f8'})),
          badContext: await grab(() => ml.loadGenerator(bytes, {contextSize: -1})),
          temperature: await drain('x', {temperature: -1}),
          topP: await drain('x', {topP: 2}),
          stop: await drain('x', {stop: ''}),
          prompt: await drain(42),
          messages: await drain([{role: 'user'}], {chat: true}),
          seed: await drain('x', {seed: 1.5}),
          tooLong: await grab(async () => { for await (const p of small.generate('a b c d e f g h i j k l')); }),
        });
        // Failures leave nothing behind: a second round of them ends with
        // the same GPU buffers as the first (freed ones wait in wgml's pool).
        const out = await batch();
        out.liveFirst = ml.liveBufferLabels();
        await batch();
        out.liveSecond = ml.liveBufferLabels();
        // The generator still works after all that.
        for await (const p of g.generate('ok', {temperature: 0, maxTokens: 2}));
        out.after = g.lastRun.generatedTokens;
        await small.dispose();
        return out;
      }, {url: GEN_MODEL_URL});
      const expect = (k, name, status, re) => {
        const e = r[k];
        if (!e) throw new Error(`${k}: no error`);
        if (e.name !== name || (status && e.status !== status) || !re.test(e.message))
          throw new Error(`${k}: got ${e.name} (${e.status}): ${e.message}`);
      };
      expect('notGguf', 'WgmlError', 'bad file', /GGUF|magic/i);
      expect('truncated', 'WgmlError', 'bad file', /^\/models\/\d+\/model\.gguf: .*(cannot fit|truncated|remain)/);
      expect('missing', 'Error', null, /HTTP 404/);
      expect('badSource', 'TypeError', null, /model file/);
      expect('badPrecision', 'WgmlError', 'invalid argument', /precision/);
      expect('badContext', 'WgmlError', 'invalid argument', /contextSize/);
      expect('temperature', 'WgmlError', 'invalid argument', /temperature/);
      expect('topP', 'WgmlError', 'invalid argument', /topP/);
      expect('stop', 'WgmlError', 'invalid argument', /stop/);
      expect('prompt', 'WgmlError', 'invalid argument', /prompt/);
      expect('messages', 'WgmlError', 'invalid argument', /messages/);
      expect('seed', 'WgmlError', 'invalid argument', /seed/);
      expect('tooLong', 'WgmlError', 'invalid argument', /context holds 8/);
      if (r.liveSecond.join() !== r.liveFirst.join())
        throw new Error(`GPU buffers after one round of errors: ${r.liveFirst}; after two: ${r.liveSecond}`);
      if (r.after !== 2) throw new Error('the generator failed after the errors');
      return {note: `e.g. "${r.notGguf.message}"; "${r.tooLong.message}"`};
    },
  },
  {
    name: 'gen.dispose',
    async run({page, root, state}) {
      const ref = prepare(root, state);
      if (ref.skipped) return ref;
      const r = await page.evaluate(async () => {
        const ml = window.__ml, g = window.__g;
        const loaded = ml.liveBuffers();
        // Disposing while a generation runs stops it first.
        let pieces = 0, disposing = null;
        for await (const p of g.generate('Once upon a time', {temperature: 0, maxTokens: 200, ignoreEos: true}))
          if (++pieces === 1) disposing = g.dispose();
        await disposing;
        const after = ml.liveBuffers(), labels = ml.liveBufferLabels();
        let afterUse = null;
        try { for await (const p of g.generate('x')); } catch (e) { afterUse = `${e.name}: ${e.message}`; }
        // A second generator freed by the context's dispose.
        const g2 = await ml.loadGenerator(await (await fetch('/test-data/gen-tiny.gguf')).arrayBuffer());
        const withSecond = ml.liveBuffers();
        await ml.dispose();
        return {loaded, after, labels, afterUse, pieces, withSecond, end: ml.liveBuffers(), g2handle: g2.handle};
      });
      // What may stay: the context's own buffers (timestamps, the readback
      // staging buffer, the uniform arena), none of the model's.
      const own = /^wgml\.(timestamps\.resolve|timestamps\.readback|staging|uniform_arena|group_params)$/;
      const stray = r.labels.filter((l) => !own.test(l));
      if (stray.length || r.after > state.genLive0 + 3)
        throw new Error(`GPU buffers after Generator.dispose: ${r.labels} (${state.genLive0} before the load)`);
      if (!r.afterUse || !/disposed/.test(r.afterUse)) throw new Error(`generate after dispose: ${r.afterUse}`);
      if (!(r.withSecond > r.after) || r.end !== 0 || r.g2handle !== 0) throw new Error(`live buffers ${JSON.stringify(r)}`);
      return {note: `live GPU buffers ${r.loaded} -> ${r.after} (${r.labels.join(', ')}) after Generator.dispose ` +
                    `mid-generation; ${r.withSecond} -> 0 after Wgml.dispose`};
    },
  },
];
