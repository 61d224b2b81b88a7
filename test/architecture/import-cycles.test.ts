import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { findCycles, relativeSpecifiers } from './import-graph.js';

/*
 * The floor plan: no import cycles in src/, type-only imports included (a type cycle is still two
 * modules that cannot be understood, or moved, apart).
 */

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return tsFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

/** The import graph of src/: file → the src files it imports (relative specifiers, .js → .ts). */
function srcGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of tsFiles(SRC)) {
    const deps = relativeSpecifiers(readFileSync(file, 'utf8')).map((spec) =>
      resolve(dirname(file), spec.replace(/\.js$/, '.ts')),
    );
    graph.set(file, deps);
  }
  return graph;
}

describe('import graph of src/', () => {
  it('the cycle finder finds a cycle in a small graph, and none in a tree', () => {
    const cyclic = new Map([
      ['a', ['b']],
      ['b', ['c', 'd']],
      ['c', ['a']],
      ['d', []],
    ]);
    expect(findCycles(cyclic)).toEqual([['a', 'b', 'c', 'a']]);
    expect(
      findCycles(
        new Map([
          ['x', ['y']],
          ['y', ['z']],
          ['z', []],
        ]),
      ),
    ).toEqual([]);
    expect(findCycles(new Map([['self', ['self']]]))).toEqual([['self', 'self']]);
  });

  it('the parser reads value, type-only, re-export and side-effect imports, relative ones only', () => {
    const source = [
      "import { a } from './a.js';",
      "import type { B } from '../b.js';",
      "import {\n  type C,\n  d,\n} from './c.js';",
      "export { e } from './e.js';",
      "export type * from './f.js';",
      "import './g.js';",
      "import { h } from 'fastify';",
      "// import { z } from './commented.js';",
      "const later = await import('./dynamic.js');",
    ].join('\n');
    expect(relativeSpecifiers(source)).toEqual(['./a.js', '../b.js', './c.js', './e.js', './f.js', './g.js']);
  });

  it('has no cycles, type-only imports included', () => {
    const graph = srcGraph();
    // Not vacuous: the walk saw the tree and its edges.
    const edges = [...graph.values()].reduce((n, deps) => n + deps.filter((d) => graph.has(d)).length, 0);
    expect(graph.size).toBeGreaterThan(100);
    expect(edges).toBeGreaterThan(300);
    expect(graph.has(join(SRC, 'calls/call.ts'))).toBe(true);
    const cycles = findCycles(graph).map((cycle) => cycle.map((f) => relative(SRC, f)).join(' -> '));
    expect(cycles, `import cycles in src/:\n  ${cycles.join('\n  ')}`).toEqual([]);
  });
});
