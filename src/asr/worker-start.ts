import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Starts the worker thread whose entry is `entry` (a path without its extension, relative to
 * `from`, the caller's `import.meta.url`). Compiled (dist/), it runs `entry.js`; from the
 * TypeScript sources (tests, `npm run dev`, `npx tsx`) it registers tsx first, which is a
 * development dependency only, and runs `entry.ts`.
 */
export function startWorker(from: string, entry: string, options: WorkerOptions = {}): Worker {
  if (!from.endsWith('.ts')) return new Worker(new URL(`${entry}.js`, from), options);
  const tsx = tsxEsmApi(from);
  const source = new URL(`${entry}.ts`, from).href;
  const boot = `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(source)}); })`;
  return new Worker(boot, { ...options, eval: true });
}

/** tsx's ESM registration entry, from its package exports (require.resolve would give the CJS one). */
function tsxEsmApi(from: string): string {
  const manifest = createRequire(from).resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as {
    exports: Record<string, { import: { default: string } }>;
  };
  return pathToFileURL(join(dirname(manifest), pkg.exports['./esm/api'].import.default)).href;
}
