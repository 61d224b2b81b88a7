/**
 * The top of a .cpuprofile (from PROFILE_DIR=dir on a bench server): self time by function and by
 * source file, as shares of the window, idle and GC named. `npx tsx bench/profile-summary.ts FILE [N]`
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

function shortUrl(url: string): string {
  const at = url.search(/\/(src|bench|node_modules)\//);
  return at >= 0 ? url.slice(at + 1) : url || '(native)';
}

export function summarize(profile: Profile, top = 25): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  let total = 0;
  for (const [i, id] of profile.samples.entries()) {
    const dt = profile.timeDeltas[i] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
    total += dt;
  }
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const frame = (byId.get(id) as ProfileNode).callFrame;
    const file = shortUrl(frame.url);
    const name = `${frame.functionName || '(anonymous)'} ${file}:${frame.lineNumber + 1}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + us);
    byFile.set(file, (byFile.get(file) ?? 0) + us);
  }
  const table = (title: string, rows: Map<string, number>) =>
    [
      `| ${title} | share of the window |`,
      '|---|---|',
      ...[...rows]
        .sort((a, b) => b[1] - a[1])
        .slice(0, top)
        .map(([k, us]) => `| ${k} | ${((100 * us) / total).toFixed(1)} % |`),
    ].join('\n');
  return `${(total / 1e6).toFixed(1)} s sampled\n\n${table('function (self)', byFunction)}\n\n${table('file (self)', byFile)}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [file, n] = process.argv.slice(2);
  if (!file) throw new Error('usage: npx tsx bench/profile-summary.ts FILE.cpuprofile [N]');
  console.log(summarize(JSON.parse(readFileSync(file, 'utf8')) as Profile, Number(n ?? 25)));
}
