// The demo page: it loads, searches, and shows what it promises; a screenshot
// goes to build/web-test/demo.png (web/screenshots/demo.png with
// --update-screenshots).
import fs from 'node:fs';
import path from 'node:path';

export const tests = [
  {
    name: 'demo.page',
    async run({page, server, root, updateScreenshots}) {
      await page.setViewportSize({width: 1280, height: 1000});
      await page.goto(`${server.url}/demo/`);
      await page.waitForFunction(() => window.demo && (window.demo.ready || window.demo.error),
                                 null, {timeout: 480000, polling: 500});
      const r = await page.evaluate(() => {
        const q = (s) => document.querySelector(s);
        const text = (s) => q(s)?.textContent ?? null;
        return {
          error: window.demo.error ?? null,
          adapter: text('#adapter-info'),
          features: [...document.querySelectorAll('#features span')].map((s) => s.textContent),
          limits: text('#limits'),
          bars: ['download', 'upload', 'compile'].map((id) => ({id, value: q(`#${id}`).value, max: q(`#${id}`).max})),
          results: [...document.querySelectorAll('#results li')].map((li) => li.textContent),
          scores: [...document.querySelectorAll('#results .score')].map((s) => Number(s.textContent)),
          corpus: window.demo.corpus.length,
          textsPerS: text('#texts-per-s'),
          firstResult: text('#first-result'),
          planKernels: text('#plan-kernels'),
          kernelRows: document.querySelectorAll('#kernels tbody tr').length,
          timestamps: window.demo.ml.deviceInfo.timestamp_query,
          chatStatus: text('#chat-status'),
          chatDisabled: q('#chat-input').disabled && q('#chat-send').disabled,
          status: text('#status'),
        };
      });
      const fail = (m) => { throw new Error(`${m}\n${JSON.stringify(r, null, 1)}`); };
      if (r.error) fail(`the demo failed: ${r.error}`);
      if (!/swiftshader|google|\S/i.test(r.adapter || '')) fail('no adapter information');
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
      if (!/not yet available/.test(r.chatStatus) || !r.chatDisabled) fail('the chat panel is not marked unavailable');
      const out = path.join(root, 'build/web-test');
      fs.mkdirSync(out, {recursive: true});
      await page.screenshot({path: path.join(out, 'demo.png'), fullPage: true});
      if (updateScreenshots) {
        fs.mkdirSync(path.join(root, 'web/screenshots'), {recursive: true});
        fs.copyFileSync(path.join(out, 'demo.png'), path.join(root, 'web/screenshots/demo.png'));
      }
      return {note: `top result "${r.results[0].replace(/^[-\d.]+/, '')}", ${r.textsPerS} texts/s, ` +
                    `first result at ${r.firstResult}, ${r.kernelRows - 1} kernel families timed`};
    },
  },
];
