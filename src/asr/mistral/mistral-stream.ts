import WebSocket from 'ws';
import type { AudioFrame } from '../../audio/frame.js';
import type { RealtimeLimits, StreamObserver } from '../realtime-options.js';
import { RealtimeStream, type SessionPolicy } from '../realtime-stream.js';
import type { SttStreamOptions } from '../stt.js';
import type { WordTimer } from '../word-timing.js';
import {
  type MistralAudioFormat,
  mistralErrorBody,
  mistralLimitError,
  mistralMessages,
  parseMistralEvent,
} from './mistral-protocol.js';

export interface MistralStreamSettings {
  /** Full realtime URL, model query included. */
  readonly url: string;
  readonly apiKey: string;
  readonly audioFormat: MistralAudioFormat;
  readonly delayMs: number;
  readonly limits: RealtimeLimits;
  readonly observer: StreamObserver;
  /** Session renewal before the age limit and the cap on open sessions (the engine's, shared). */
  readonly policy?: SessionPolicy;
}

/** Of an HTTP refusal's body, only this much is read (for the reason it gives). */
const REFUSAL_BODY_MAX = 2_048;

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
    super(options, settings.limits, settings.observer, settings.policy);
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
          const code = event.error.code;
          const kind = mistralLimitError(code, detail) ?? 'retry_utterance';
          const reason = code === undefined ? detail : `${detail}, code ${code}`;
          const message =
            kind === 'refused'
              ? `Mistral refused the session (${reason}): too many sessions or requests on this API key`
              : kind === 'session_ended'
                ? `Mistral ended the session (${reason}): opening a new one`
                : `Mistral: ${detail} (code ${code ?? '?'})`;
          this.failed({ kind, message });
          break;
        }
        default:
          break; // language and segment events carry nothing voxline uses
      }
    });
    ws.on('unexpected-response', (_request, response) => {
      const status = response.statusCode;
      if (status !== 429) {
        this.log.warn({ status }, 'Mistral refused the realtime connection');
        ws.terminate();
        return;
      }
      // Too many sessions or requests: the body says which; read a little of it, then back off.
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        if (body.length < REFUSAL_BODY_MAX) body += chunk.slice(0, REFUSAL_BODY_MAX - body.length);
      });
      const refused = () => {
        if (!this.isCurrent(ws)) return;
        const reason = mistralErrorBody(body);
        this.failed({
          kind: 'refused',
          message: `Mistral refused the session (HTTP 429${reason ? `: ${reason}` : ''}): too many sessions or requests on this API key`,
          retryAfter: response.headers['retry-after'],
        });
      };
      response.on('end', refused);
      response.on('error', refused);
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
