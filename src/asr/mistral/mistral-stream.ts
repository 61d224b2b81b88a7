import WebSocket from 'ws';
import type { AudioFrame } from '../../audio/frame.js';
import type { RealtimeLimits, StreamObserver } from '../realtime-options.js';
import { RealtimeStream } from '../realtime-stream.js';
import type { SttStreamOptions } from '../stt.js';
import type { WordTimer } from '../word-timing.js';
import { type MistralAudioFormat, mistralMessages, parseMistralEvent } from './mistral-protocol.js';

export interface MistralStreamSettings {
  /** Full realtime URL, model query included. */
  readonly url: string;
  readonly apiKey: string;
  readonly audioFormat: MistralAudioFormat;
  readonly delayMs: number;
  readonly limits: RealtimeLimits;
  readonly observer: StreamObserver;
}

/**
 * One leg on Mistral's hosted realtime API: session.update (audio format and per-session delay),
 * appends, `input_audio.flush` at each utterance end (the server answers with `transcription.done`
 * and keeps the session), `input_audio.end` when the leg ends. The hosted API sends text deltas
 * without a step cadence, so word times come from when text arrives minus the delay.
 */
export class MistralStream extends RealtimeStream {
  protected readonly engine = 'mistral';
  protected readonly bytesPerMs: number;
  readonly #settings: MistralStreamSettings;

  constructor(options: SttStreamOptions, settings: MistralStreamSettings) {
    super(options, settings.limits, settings.observer);
    this.#settings = settings;
    this.bytesPerMs = settings.audioFormat === 'mulaw' ? 8 : 32;
  }

  protected openSocket(): WebSocket {
    const { url, apiKey, audioFormat, delayMs } = this.#settings;
    const ws = new WebSocket(url, {
      headers: { Authorization: `Bearer ${apiKey}` },
      perMessageDeflate: false,
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const event = isBinary ? undefined : parseMistralEvent(data.toString('utf8'));
      if (!event) {
        this.log.warn('unrecognised message from Mistral: ignored');
        return;
      }
      switch (event.type) {
        case 'session.created':
          // Settings are fixed from the first audio chunk, so they go before any.
          ws.send(mistralMessages.sessionUpdate(audioFormat, delayMs));
          break;
        case 'session.updated':
          this.ready();
          break;
        case 'transcription.text.delta':
          this.delta(event.text);
          break;
        case 'transcription.done':
          this.done(event.text);
          break;
        case 'error': {
          const detail =
            typeof event.error.message === 'string'
              ? event.error.message
              : JSON.stringify(event.error.message);
          this.failed({
            kind: 'retry_utterance',
            message: `Mistral: ${detail} (code ${event.error.code ?? '?'})`,
          });
          break;
        }
        default:
          break; // language and segment events carry nothing voxline uses
      }
    });
    ws.on('unexpected-response', (_request, response) => {
      this.log.warn({ status: response.statusCode }, 'Mistral refused the realtime connection');
      ws.terminate();
    });
    let socketError: string | undefined;
    ws.on('error', (err) => {
      // The close that follows reports the loss, with this reason (one line, not two).
      socketError = err.message;
      this.log.debug({ err: err.message }, 'Mistral socket error');
    });
    ws.on('close', (code) =>
      this.socketLost(ws, `Mistral socket closed (code ${code})${socketError ? `: ${socketError}` : ''}`),
    );
    return ws;
  }

  protected override onSocketClosed(ws: WebSocket, graceful: boolean): void {
    if (graceful && ws.readyState === ws.OPEN) ws.send(mistralMessages.end);
  }

  protected override encode(frame: AudioFrame): Buffer {
    if (this.#settings.audioFormat !== 'mulaw') return super.encode(frame);
    return Buffer.from(frame.mulaw.buffer, frame.mulaw.byteOffset, frame.mulaw.byteLength);
  }

  protected sendBegin(): void {
    // A Mistral session is one continuous stream: nothing marks an utterance's start.
  }

  protected sendAudio(ws: WebSocket, chunk: Buffer): void {
    ws.send(mistralMessages.append(chunk));
  }

  protected sendEnd(ws: WebSocket): void {
    ws.send(mistralMessages.flush);
  }

  protected timeText(timer: WordTimer, delta: string, sentUpToMs: number): void {
    timer.addText(delta, sentUpToMs - this.#settings.delayMs);
  }
}
