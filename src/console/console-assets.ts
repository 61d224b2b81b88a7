import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where `npm run build` puts the console's bundle. This file sits two levels below the package
 * root both as source (src/console/) and built (dist/console/), so one relative path serves both.
 */
export const CONSOLE_BUNDLE_DIR = fileURLToPath(new URL('../../dist/console-web/', import.meta.url));

const TYPES: Readonly<Record<string, string>> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.map': 'application/json; charset=utf-8',
};

export interface ConsoleAsset {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

/** The bundle, read once at start (a few hundred KB): served from memory, never from a path a request names. */
export class ConsoleAssets {
  readonly #files = new Map<string, ConsoleAsset>();

  private constructor() {}

  /** The bundle in `dir`, or undefined when it has not been built (the console then says how to build it). */
  static load(dir: string): ConsoleAssets | undefined {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return undefined;
    }
    if (!names.includes('app.js')) return undefined;
    const assets = new ConsoleAssets();
    for (const name of names) {
      const type = TYPES[extname(name)];
      if (!type) continue;
      const body = readFileSync(join(dir, name));
      const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
      assets.#files.set(name, { body, type, etag });
    }
    return assets;
  }

  get(name: string): ConsoleAsset | undefined {
    return this.#files.get(name);
  }

  /** `name` with its content hash, so a new build is never served from a stale cache. */
  url(name: string): string {
    const asset = this.#files.get(name);
    return `/console/assets/${name}${asset ? `?v=${asset.etag.slice(1, 9)}` : ''}`;
  }
}
