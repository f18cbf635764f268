// Headless Chromium for the tests and benchmarks: Debian's chromium (never a
// downloaded browser), driven by playwright-core, WebGPU on SwiftShader.
import {chromium} from 'playwright-core';
import fs from 'node:fs';

export function chromiumPath() {
  for (const p of [process.env.WGML_CHROMIUM, '/usr/lib/chromium/chromium', '/usr/bin/chromium'])
    if (p && fs.existsSync(p)) return p;
  throw new Error('no Chromium: install Debian\'s chromium (scripts/setup.sh) or set WGML_CHROMIUM');
}

// A browser with WebGPU on (SwiftShader: no GPU on these machines). JSPI is on
// by default in Chromium 137 and later.
export async function launch({userDataDir} = {}) {
  const args = ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader',
                '--use-webgpu-adapter=swiftshader', '--disable-vulkan-surface',
                '--enable-webgpu-developer-features', '--no-sandbox', '--disable-dev-shm-usage',
                '--headless=new'];
  const opts = {executablePath: chromiumPath(), args, headless: true};
  if (userDataDir) return chromium.launchPersistentContext(userDataDir, opts);
  return chromium.launch(opts);
}
