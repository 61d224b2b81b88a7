/** The import-graph reading and cycle finding behind import-cycles.test.ts. */

export type Graph = ReadonlyMap<string, readonly string[]>;

/** Relative specifiers of every `import … from`, `import type … from`, `export … from`, `import '…'`. */
export function relativeSpecifiers(source: string): string[] {
  // Comments may quote imports; strings are left alone (a specifier is itself a string).
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const out: string[] = [];
  const pattern = /\b(?:import|export)\s+(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?['"](\.{1,2}\/[^'"]+)['"]/g;
  for (const m of code.matchAll(pattern)) out.push(m[1]);
  return out;
}

/** Every cycle a depth-first walk meets (each closing edge once), as paths that end where they start. */
export function findCycles(graph: Graph): string[][] {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  const visit = (node: string): void => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (!graph.has(next)) continue;
      const seen = state.get(next);
      if (seen === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (seen === undefined) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node);
  return cycles;
}
