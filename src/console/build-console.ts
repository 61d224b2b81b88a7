import { mkdir, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { CONSOLE_BUNDLE_DIR } from './console-assets.js';

/**
 * Bundles the console (src/console/web) for the browser: app.js with preact, app.css, and
 * worklets.js (AudioWorklet processors load as a module of their own). Run by `npm run build`;
 * tests build into a directory of their own. No CDN: everything the page loads is in the bundle.
 */
export async function buildConsole(outDir: string = CONSOLE_BUNDLE_DIR): Promise<void> {
  const web = (file: string) => fileURLToPath(new URL(`web/${file}`, import.meta.url));
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  await build({
    entryPoints: { app: web('main.tsx'), worklets: web('calling/worklets.ts') },
    outdir: outDir,
    bundle: true,
    format: 'esm',
    target: ['chrome111', 'firefox113', 'safari16.4'],
    minify: true,
    sourcemap: 'linked',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    legalComments: 'linked',
    logLevel: 'warning',
  });
  await build({
    entryPoints: { app: web('styles.css') },
    outdir: outDir,
    bundle: true,
    minify: true,
    logLevel: 'warning',
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = process.argv[2] ?? CONSOLE_BUNDLE_DIR;
  await buildConsole(out);
}
