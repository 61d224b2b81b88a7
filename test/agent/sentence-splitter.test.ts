import { describe, expect, it } from 'vitest';
import { SentenceSplitter } from '../../src/agent/sentence-splitter.js';

describe('SentenceSplitter', () => {
  it('gives each sentence as soon as the text after it starts, however the tokens fall', () => {
    const splitter = new SentenceSplitter();
    const out: string[] = [];
    for (const token of ['Sure', '! Your order', ' ships today', '. It', ' should arrive', ' Friday', '.']) {
      out.push(...splitter.push(token));
    }
    expect(out).toEqual(['Sure!', 'Your order ships today.']);
    expect(splitter.flush()).toBe('It should arrive Friday.');
    expect(splitter.flush()).toBeUndefined();
  });

  it('does not end a sentence at an abbreviation or inside a number', () => {
    const splitter = new SentenceSplitter();
    expect(splitter.push('Dr. Smith charges 3.5 dollars, e.g. for a call. Next')).toEqual([
      'Dr. Smith charges 3.5 dollars, e.g. for a call.',
    ]);
  });

  it('removes markdown that would be read out, and cuts very long sentences at a comma', () => {
    const splitter = new SentenceSplitter();
    expect(splitter.push('**Great** question!\n- first item\n')).toEqual(['Great question!', 'first item']);
    const long = `${'word, '.repeat(60)}end`;
    const [first] = new SentenceSplitter().push(long);
    expect(first.length).toBeLessThanOrEqual(221);
    expect(first.endsWith(',')).toBe(true);
  });
});
