// The demo page: it loads, searches, chats, and shows what it promises; a
// screenshot after the chat turn goes to build/web-test/<shot>.
//
// In the test suite (run.mjs) the chat model is the small wgml synth model
// of generate.mjs (SmolLM2 takes minutes per answer on SwiftShader); the
// committed screenshot web/screenshots/demo.png is made with SmolLM2 itself
// by demo_real.mjs (--update-screenshots), which also writes what it
// checked to web/screenshots/demo.json; `demo.screenshot` checks both files.
import fs from 'node:fs';
import path from 'node:path';
import {prepare, GEN_MODEL_URL} from './generate.mjs';

// What the page shows, read from the DOM.
function readPage() {
  const q = (s) => document.querySelector(s);
  const text = (s) => q(s)?.textContent ?? null;
  const bar = (id) => ({id, value: q(`#${id}`).value, max: q(`#${id}`).max});
  return {
    error: window.demo.error ?? null,
    adapter: text('#adapter-info'),
    features: [...document.querySelectorAll('#features span')].map((s) => s.textContent),
    limits: text('#limits'),
    bars: ['download', 'upload', 'compile'].map(bar),
    results: [...document.querySelectorAll('#results li')].map((li) => li.textContent),
    scores: [...document.querySelectorAll('#results .score')].map((s) => Number(s.textContent)),
    corpus: window.demo.corpus.length,
    textsPerS: text('#texts-per-s'),
    firstResult: text('#first-result'),
    planKernels: text('#plan-kernels'),
    kernelRows: document.querySelectorAll('#kernels tbody tr').length,
    timestamps: window.demo.ml.deviceInfo.timestamp_query,
    status: text('#status'),
    chat: {
      error: window.demo.chatError ?? null,
      status: text('#chat-status'),
      model: text('#llm-name'),
      note: text('#chat-note'),
      bars: ['llm-download', 'llm-upload', 'llm-compile'].map(bar),
      messages: [...document.querySelectorAll('#chat-log .msg')].map((m) => ({
        role: m.classList.contains('user') ? 'user' : 'assistant', text: m.querySelector('.text').textContent})),
      tokensPerS: text('#chat-tps'),
      prefillPerS: text('#chat-prefill-tps'),
      tokens: text('#chat-tokens'),
      firstToken: text('#chat-ttft'),
      sendLabel: text('#chat-send'),
      inputEnabled: !q('#chat-input').disabled,
    },
  };
}

function checkSearch(r) {
  const fail = (m) => { throw new Error(`${m}\n${JSON.stringify(r, null, 1)}`); };
  if (r.error) fail(`the demo failed: ${r.error}`);
  if (!/\S/.test(r.adapter || '')) fail('no adapter information');
  if (!r.features.length) fail('no features listed');
  if (!/maxBufferSize/.test(r.limits)) fail('no limits listed');
  for (const b of r.bars) if (!(b.max > 0 && b.value === b.max)) fail(`progress bar ${b.id} is not full`);
  if (r.results.length !== r.corpus || r.corpus < 2) fail(`${r.results.length} results for ${r.corpus} sentences`);
  for (let i = 1; i < r.scores.length; i++) if (r.scores[i] > r.scores[i - 1]) fail('results are not sorted by score');
  if (!(r.scores[0] <= 1.0005 && r.scores.at(-1) >= -1.0005)) fail('scores outside [-1, 1]');
  if (!(Number(r.textsPerS) > 0)) fail('no texts/s');
  if (!/s$/.test(r.firstResult)) fail('no time to first result');
  if (!(Number(r.planKernels) > 0)) fail('no plan kernel count');
  if (r.timestamps && r.kernelRows < 2) fail('timestamps exist but no per-kernel times are shown');
}

// The chat panel after one turn: the user's message, an answer, tokens/s.
export function checkChat(c, userText) {
  const fail = (m) => { throw new Error(`${m}\n${JSON.stringify(c, null, 1)}`); };
  if (c.error) fail(`the chat failed: ${c.error}`);
  if (!/^ready/.test(c.status)) fail(`chat status "${c.status}"`);
  if (!/\S/.test(c.model || '') || !/layers/.test(c.note || '')) fail('no model information');
  for (const b of c.bars) if (!(b.max > 0 && b.value === b.max)) fail(`progress bar ${b.id} is not full`);
  const [u, a] = c.messages;
  if (c.messages.length !== 2 || u.role !== 'user' || a.role !== 'assistant') fail('not one user message and one answer');
  if (u.text !== userText) fail(`the user's message is "${u.text}", sent "${userText}"`);
  if (!/\S/.test(a.text)) fail('an empty answer');
  if (!(Number(c.tokensPerS) > 0) || !(Number(c.prefillPerS) > 0)) fail('no tokens/s');
  if (!(parseInt(c.tokens, 10) > 0)) fail('no token count');
  if (!/^\d+(\.\d+)? s$/.test(c.firstToken)) fail('no time to the first token');
  if (c.sendLabel !== 'Send' || !c.inputEnabled) fail('the chat is not ready for the next message');
}

// The PNG's width and height from its IHDR chunk.
export function pngSize(file) {
  const b = fs.readFileSync(file);
  if (b.length < 24 || b.toString('latin1', 1, 4) !== 'PNG' || b.toString('latin1', 12, 16) !== 'IHDR')
    throw new Error(`${file} is not a PNG`);
  return {width: b.readUInt32BE(16), height: b.readUInt32BE(20)};
}

// The demo tests. llm: the chat model's URL (null: the page's default,
// SmolLM2); model(ctx): a {skipped} object when the chat cannot run;
// shot: the screenshot's name; timeoutMs for each wait; committable: whether
// --update-screenshots copies the screenshot to web/screenshots/.
export function demoTests({name = 'demo', llm = null, model = () => null, chat = 'What is the capital of France?',
                           maxTokens = 8, timeoutMs = 480000, shot = 'demo.png', committable = false} = {}) {
  let chatSkip = null;
  return [
    {
      name: `${name}.page`,
      async run(ctx) {
        const {page, server} = ctx;
        chatSkip = model(ctx);
        const q = new URLSearchParams(chatSkip ? {llm: 'none'} : {chat, max_tokens: String(maxTokens), temp: '0'});
        if (llm && !chatSkip) q.set('llm', llm);
        await page.setViewportSize({width: 1280, height: 1000});
        await page.goto(`${server.url}/demo/?${q}`);
        await page.waitForFunction(() => window.demo && (window.demo.ready || window.demo.error),
                                   null, {timeout: timeoutMs, polling: 500});
        const r = await page.evaluate(readPage);
        checkSearch(r);
        return {note: `top result "${r.results[0].replace(/^[-\d.]+/, '')}", ${r.textsPerS} texts/s, ` +
                      `first result at ${r.firstResult}, ${r.kernelRows - 1} kernel families timed`};
      },
    },
    {
      name: `${name}.chat`,
      async run({page, root, updateScreenshots}) {
        if (chatSkip) return chatSkip;
        await page.waitForFunction(() => window.demo.chatDone || window.demo.chatError || window.demo.error,
                                   null, {timeout: timeoutMs, polling: 500});
        const r = await page.evaluate(readPage);
        checkSearch(r);
        checkChat(r.chat, chat);
        const out = path.join(root, 'build/web-test');
        fs.mkdirSync(out, {recursive: true});
        await page.screenshot({path: path.join(out, shot), fullPage: true});
        if (updateScreenshots && committable) {
          const dir = path.join(root, 'web/screenshots');
          fs.mkdirSync(dir, {recursive: true});
          fs.copyFileSync(path.join(out, shot), path.join(dir, shot));
          fs.writeFileSync(path.join(dir, shot.replace(/\.png$/, '.json')), JSON.stringify({
            note: `what ${name}.chat read from the page when it took ${shot} (web/test/demo.mjs)`,
            chatSent: chat, png: pngSize(path.join(out, shot)), page: r}, null, 1) + '\n');
        }
        const a = r.chat.messages[1].text;
        return {note: `${r.chat.model}: "${a.length > 60 ? a.slice(0, 57) + '...' : a}" at ${r.chat.tokensPerS} tokens/s ` +
                      `(${r.chat.tokens}), first token after ${r.chat.firstToken}`};
      },
    },
  ];
}

// In the test suite: the synth model, and the committed screenshot checked.
export const tests = [
  ...demoTests({llm: GEN_MODEL_URL, maxTokens: 8, chat: 'Hello!',
                model: ({root, state}) => { const g = prepare(root, state); return g.skipped ? g : null; }}),
  {
    name: 'demo.screenshot',
    async run({root}) {
      // web/screenshots/demo.png, made by demo_real.mjs with SmolLM2: the
      // page it shows passed the same checks (recorded in demo.json).
      const dir = path.join(root, 'web/screenshots');
      const facts = JSON.parse(fs.readFileSync(path.join(dir, 'demo.json'), 'utf8'));
      const size = pngSize(path.join(dir, 'demo.png'));
      if (size.width !== facts.png.width || size.height !== facts.png.height)
        throw new Error(`demo.png is ${size.width}x${size.height}, demo.json says ${JSON.stringify(facts.png)}`);
      if (size.width < 1000 || size.height < 800) throw new Error(`demo.png is only ${size.width}x${size.height}`);
      checkSearch(facts.page);
      checkChat(facts.page.chat, facts.chatSent);
      if (!/smollm2/i.test(facts.page.chat.model)) throw new Error(`the screenshot's chat model is ${facts.page.chat.model}`);
      return {note: `${size.width}x${size.height}, ${facts.page.chat.model} answered "${facts.page.chat.messages[1].text}" ` +
                    `at ${facts.page.chat.tokensPerS} tokens/s`};
    },
  },
];
