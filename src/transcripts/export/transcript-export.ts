import type { ExportUtterance, TranscriptFormat } from './export-utterance.js';
import { toPlainText } from './plain-text.js';
import { toSrt } from './srt.js';
import { toWebVtt } from './webvtt.js';

/** Which transcript this is: what the call heard live, or the batch engine's after the recording. */
export interface TranscriptExportMeta {
  readonly callSid: string;
  readonly version: 'live' | 'refined';
}

export interface TranscriptExport {
  /** For the `Content-Type` header. */
  readonly contentType: string;
  readonly body: string;
}

/** A transcript's utterances in the format asked for (`?format=`), with its media type. */
export function exportTranscript(
  format: TranscriptFormat,
  utterances: readonly ExportUtterance[],
  meta: TranscriptExportMeta,
): TranscriptExport {
  switch (format) {
    case 'vtt':
      return {
        contentType: 'text/vtt; charset=utf-8',
        body: toWebVtt(utterances, { title: `${meta.callSid} (${meta.version})` }),
      };
    case 'srt':
      return { contentType: 'application/x-subrip; charset=utf-8', body: toSrt(utterances) };
    case 'txt':
      return { contentType: 'text/plain; charset=utf-8', body: toPlainText(utterances) };
    case 'json':
      return {
        contentType: 'application/json',
        body: JSON.stringify({ callSid: meta.callSid, version: meta.version, utterances }),
      };
  }
}
