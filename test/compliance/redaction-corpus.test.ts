import { describe, expect, it } from 'vitest';
import { loadCorpus, measureCorpus } from './corpus.js';

/*
 * The redaction corpus (test/fixtures/redaction/corpus.json): each positive is played through the
 * redactor as an engine streams it (a partial per word, then the final), and nothing that went out,
 * partial, final or word, may hold any of its secrets; each negative must come out unchanged.
 * bench/redaction.ts prints the same figures for the README, with the held-out corpus beside.
 */
describe('the redaction corpus', () => {
  it('no card number, CVV, expiry, SSN, IBAN, email, phone number or PIN survives, in any of the seven languages', async () => {
    const rates = await measureCorpus(loadCorpus('corpus'));
    expect(rates.positives).toBeGreaterThan(40);
    expect(rates.leaked).toEqual([]);
  });

  it('sentences with ordinary numbers stay as they were, but for the two known false redactions', async () => {
    const rates = await measureCorpus(loadCorpus('corpus'));
    expect(rates.negatives).toBeGreaterThan(30);
    // Any 7–15 digit run is a phone number when phones are redacted, and "at … dot com" an address.
    expect(rates.changed).toEqual([
      'my order number is 4827 1190 → my order number is [PHONE]',
      'look at example dot com → [EMAIL]',
    ]);
  });

  it('on the held-out corpus (written blind to the code): at most the 9 known leaks, no false redaction', async () => {
    const rates = await measureCorpus(loadCorpus('heldout'));
    expect(rates.positives).toBeGreaterThan(100);
    // The known misses: spelled-out IBANs and addresses, hundreds ("quatre cent douze"), "ate" for 8.
    expect(rates.leaked.length).toBeLessThanOrEqual(9);
    expect(rates.changed).toEqual([]);
  });
});
