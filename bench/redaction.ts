/**
 * Redaction on the two corpora under test/fixtures/redaction/: corpus.json (written with the code)
 * and heldout.json (written blind to it). Each item is streamed through the redactor as an engine
 * streams it, a partial per word (300 ms apart) and then the final. Reports how many positives
 * leaked a secret anywhere (partials, finals, words), how many negatives were changed, and how
 * long each word of a negative was held back before it was shown.
 */
import { existsSync } from 'node:fs';
import { type CorpusRates, loadCorpus, measureCorpus } from '../test/compliance/corpus.js';

export async function benchRedaction(): Promise<{ name: string; rates: CorpusRates }[]> {
  const out: { name: string; rates: CorpusRates }[] = [];
  for (const name of ['corpus', 'heldout'] as const) {
    if (!existsSync(new URL(`../test/fixtures/redaction/${name}.json`, import.meta.url))) continue;
    out.push({ name, rates: await measureCorpus(loadCorpus(name)) });
  }
  return out;
}

const pct = (n: number, of: number) => `${n}/${of} (${((100 * n) / Math.max(1, of)).toFixed(1)} %)`;

export function redactionTable(results: { name: string; rates: CorpusRates }[]): string {
  const rows = results.map(
    ({ name, rates: r }) =>
      `| ${name}.json | ${pct(r.leaked.length, r.positives)} | ${pct(r.changed.length, r.negatives)} | ${r.delayP50Ms} / ${r.delayP95Ms} / ${r.delayMaxMs} ms |`,
  );
  return [
    '| corpus | positives that leaked (false negatives) | negatives changed (false positives) | words held back p50 / p95 / max |',
    '|---|---|---|---|',
    ...rows,
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const results = await benchRedaction();
  console.log(redactionTable(results));
  for (const { name, rates } of results) {
    for (const leak of rates.leaked) console.log(`  ${name} leaked: ${leak}`);
    for (const change of rates.changed) console.log(`  ${name} changed: ${change}`);
  }
}
