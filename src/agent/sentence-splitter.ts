/** Words that end in a full stop without ending the sentence. */
const ABBREVIATIONS = new Set(['mr', 'mrs', 'ms', 'dr', 'st', 'vs', 'etc', 'e.g', 'i.e', 'no', 'jr', 'sr']);
/** Very long sentences are cut at a comma or space past this, so speech starts sooner. */
const MAX_SENTENCE_CHARS = 220;

/**
 * Cuts streamed LLM text into sentences for speech, so the first sentence is synthesized while the
 * model is still writing the rest. Markdown the model might emit (emphasis, headings, list marks)
 * is removed: it would be read out.
 */
export class SentenceSplitter {
  #buffer = '';

  /** Adds text; returns the sentences it completed. */
  push(text: string): string[] {
    this.#buffer += text;
    const sentences: string[] = [];
    for (;;) {
      const end = this.#sentenceEnd();
      if (end === undefined) break;
      const sentence = clean(this.#buffer.slice(0, end));
      this.#buffer = this.#buffer.slice(end);
      if (sentence) sentences.push(sentence);
    }
    return sentences;
  }

  /** The text left over once the stream has ended. */
  flush(): string | undefined {
    const rest = clean(this.#buffer);
    this.#buffer = '';
    return rest || undefined;
  }

  #sentenceEnd(): number | undefined {
    const text = this.#buffer;
    const pattern = /[.!?]+["')\]]*\s+|\n+/g;
    for (let match = pattern.exec(text); match; match = pattern.exec(text)) {
      const word = text.slice(0, match.index).split(/\s/).at(-1) ?? '';
      if (match[0].startsWith('.') && ABBREVIATIONS.has(word.toLowerCase())) continue;
      return match.index + match[0].length;
    }
    if (text.length > MAX_SENTENCE_CHARS) {
      const cut = Math.max(
        text.lastIndexOf(', ', MAX_SENTENCE_CHARS),
        text.lastIndexOf(' ', MAX_SENTENCE_CHARS),
      );
      return cut > 0 ? cut + 1 : MAX_SENTENCE_CHARS;
    }
    return undefined;
  }
}

function clean(text: string): string {
  return text
    .replace(/[*_`#>]+/g, '')
    .replace(/^\s*(?:[-•]|\d+[.)])\s+/gm, '')
    .replace(/\s+/g, ' ')
    .trim();
}
