import { EndpointPool } from '../endpoint-pool.js';
import { probeModel } from '../model-probe.js';
import type { RealtimeLimits, StreamObserver } from '../realtime-options.js';
import type { SessionPolicy } from '../realtime-stream.js';
import type { EngineHealth, SpeechToText, SttStream, SttStreamOptions } from '../stt.js';
import type { MistralAudioFormat } from './mistral-protocol.js';
import { MistralStream } from './mistral-stream.js';
import { SessionSlots } from './session-slots.js';

export interface MistralEngineOptions {
  /** API origin, `https://api.mistral.ai` (or wss://; a test double's address in tests). */
  readonly baseUrl: string;
  readonly apiKey: string;
  readonly model: string;
  readonly audioFormat: MistralAudioFormat;
  readonly delayMs: number;
  readonly limits: RealtimeLimits;
  readonly observer: StreamObserver;
  /**
   * A session's age limit (MISTRAL_SESSION_MAX_MS): a leg's session is replaced between
   * utterances once older than this less one `maxUtteranceMs` (never before half of it), so an
   * utterance that starts on it ends before the limit. Unset: sessions last as long as the leg.
   */
  readonly sessionMaxMs?: number;
  /** The longest utterance (UTTERANCE_MAX_MS). */
  readonly maxUtteranceMs?: number;
  /** Sessions open at once, all legs together (MISTRAL_MAX_SESSIONS); 0 or unset: no cap. */
  readonly maxSessions?: number;
}

/** The session age past which the next utterance goes on a new session. */
export function rotationAgeMs(sessionMaxMs: number, maxUtteranceMs: number): number {
  return Math.max(sessionMaxMs - maxUtteranceMs, sessionMaxMs / 2);
}

/** Voxtral Realtime on Mistral's hosted API (`/v1/audio/transcriptions/realtime`). */
export class MistralEngine implements SpeechToText {
  readonly name = 'mistral';
  readonly #options: MistralEngineOptions;
  readonly #pool: EndpointPool;
  readonly #policy: SessionPolicy;

  constructor(options: MistralEngineOptions) {
    this.#options = options;
    this.#pool = new EndpointPool([options.baseUrl]);
    const { sessionMaxMs, maxUtteranceMs = 0, maxSessions = 0 } = options;
    // One cap for all legs: the slots are the engine's, shared by its streams.
    this.#policy = {
      ...(sessionMaxMs !== undefined ? { rotateAfterMs: rotationAgeMs(sessionMaxMs, maxUtteranceMs) } : {}),
      ...(maxSessions > 0 ? { gate: new SessionSlots(maxSessions) } : {}),
    };
  }

  stream(options: SttStreamOptions): SttStream {
    const { apiKey, audioFormat, delayMs, limits, observer } = this.#options;
    const stream = new MistralStream(options, {
      url: this.#url('/v1/audio/transcriptions/realtime', true),
      apiKey,
      audioFormat,
      delayMs,
      limits,
      observer,
      policy: this.#policy,
    });
    stream.start();
    return stream;
  }

  async probe(): Promise<EngineHealth> {
    const { model, apiKey, limits, baseUrl } = this.#options;
    const result = await probeModel(this.#url('/v1/models', false), model, apiKey, limits.connectTimeoutMs);
    if (result.state === 'up') this.#pool.markUp(baseUrl);
    else this.#pool.markDown(baseUrl, result.detail, result.state);
    const endpoints = this.#pool.health();
    return { engine: this.name, ready: result.state === 'up', endpoints };
  }

  async close(): Promise<void> {}

  #url(path: string, socket: boolean): string {
    const url = new URL(this.#options.baseUrl);
    const secure = url.protocol === 'https:' || url.protocol === 'wss:';
    url.protocol = socket ? (secure ? 'wss:' : 'ws:') : secure ? 'https:' : 'http:';
    url.pathname = `${url.pathname.replace(/\/+$/, '')}${path}`;
    if (socket) url.searchParams.set('model', this.#options.model);
    return url.toString();
  }
}
