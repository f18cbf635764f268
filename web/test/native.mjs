// The native build's `wgml` for the browser tests' references: run at test
// time on lavapipe (where setup.sh installed it), never the wasm build.
import fs from 'node:fs';
import path from 'node:path';
import {execFileSync} from 'node:child_process';

// The native CLI, or null when there is no native build.
export function nativeBinary(root) {
  const bin = process.env.WGML_NATIVE ||
    ['build/dawn/wgml', 'build/wgpu-native/wgml'].map((p) => path.join(root, p)).find((p) => fs.existsSync(p));
  return bin && fs.existsSync(bin) ? bin : null;
}

// Runs the native CLI with args; its standard output.
export function runNative(root, bin, args) {
  const lavapipe = path.join(root, '.deps/lavapipe/lvp_icd.json');
  const env = {...process.env};
  if (!env.VK_ICD_FILENAMES && fs.existsSync(lavapipe)) env.VK_ICD_FILENAMES = lavapipe;
  return execFileSync(bin, args, {env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
                                  maxBuffer: 64 << 20});
}
