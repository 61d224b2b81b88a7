/** The parts of webvtt-parser (w3c/webvtt.js, untyped) that the export tests read. */
declare module 'webvtt-parser' {
  export interface VttNode {
    readonly type: 'text' | 'object' | 'timestamp';
    /** Tag name of an object node: `v`, `c`, `i`, … */
    readonly name?: string;
    /** Text of a text node; the annotation of a `<v>` (the voice). */
    readonly value?: string;
    readonly classes?: readonly string[];
    readonly children?: readonly VttNode[];
  }

  export interface VttCue {
    readonly id: string;
    /** Seconds. */
    readonly startTime: number;
    readonly endTime: number;
    readonly text: string;
    readonly tree: { readonly children: readonly VttNode[] };
  }

  export interface VttError {
    readonly message: string;
    readonly line: number;
    readonly col?: number;
  }

  export class WebVTTParser {
    /** `entities`: the named character references to know (html-entities.json for all of them). */
    constructor(entities?: Readonly<Record<string, string>>);
    /** Cue-text errors are reported unless `mode` is `metadata`. */
    parse(
      input: string,
      mode?: 'metadata' | 'chapters',
    ): { cues: VttCue[]; errors: VttError[]; styles: string[]; time: number };
  }
}
