/** A leg's speaker started or stopped talking, as the VAD judged it, on the call clock. */
export interface SpeechEdge {
  readonly leg: string;
  readonly type: 'start' | 'end';
  readonly atMs: number;
}

export type SpeechListener = (edge: SpeechEdge) => void;

/**
 * Speech starts and ends of a call's legs, for whoever must react while someone talks (the voice
 * agent's turn taking and barge-in). Listeners are called synchronously and must not throw.
 */
export class SpeechActivity {
  readonly #listeners = new Set<SpeechListener>();

  subscribe(listener: SpeechListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  emit(edge: SpeechEdge): void {
    for (const listener of this.#listeners) listener(edge);
  }
}
