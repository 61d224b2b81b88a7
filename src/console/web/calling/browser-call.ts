/**
 * A call from this page to voxline's `browser` ingress (docs/carriers/browser.md): a WebSocket
 * authenticated by the session cookie, a `start` message, then PCM16 little-endian at 16 kHz in,
 * and in agent mode the agent's audio (20 ms frames, paced by the server) and `clear` out.
 */

export const RATE = 16_000;
const FRAME_SAMPLES = RATE / 50;

export interface CallStartOptions {
  readonly mode: 'transcribe' | 'agent';
  readonly channels: 1 | 2;
  /** Shown in the console as the caller: "microphone", or the file's name. */
  readonly name: string;
}

export interface CallEvents {
  started(callSid: string): void;
  /** Agent audio, 16 kHz, as −1…1. */
  audio(samples: Float32Array): void;
  clear(): void;
  ended(reason: string): void;
}

export class BrowserCall {
  readonly #socket: WebSocket;
  readonly #events: CallEvents;
  /** Audio not yet a whole 20 ms frame (interleaved when stereo). */
  #pending: Int16Array;
  #pendingLength = 0;
  readonly #channels: number;
  #open = false;
  #ended = false;

  constructor(options: CallStartOptions, events: CallEvents) {
    this.#events = events;
    this.#channels = options.channels;
    this.#pending = new Int16Array(FRAME_SAMPLES * options.channels);
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    this.#socket = new WebSocket(`${scheme}//${location.host}/browser/call`);
    this.#socket.binaryType = 'arraybuffer';
    this.#socket.onopen = () =>
      this.#socket.send(JSON.stringify({ type: 'start', sampleRate: RATE, ...options }));
    this.#socket.onmessage = (message) => this.#message(message.data as ArrayBuffer | string);
    this.#socket.onclose = (close) => this.#end(close.reason || `closed (${close.code})`);
  }

  get live(): boolean {
    return this.#open && !this.#ended;
  }

  /** Samples as −1…1, interleaved when stereo; sent in 20 ms messages. */
  send(samples: Float32Array): void {
    if (!this.live) return;
    for (let i = 0; i < samples.length; i++) {
      const x = Math.max(-1, Math.min(1, samples[i]));
      this.#pending[this.#pendingLength++] = Math.min(32767, Math.round(x * 32768));
      if (this.#pendingLength === this.#pending.length) {
        // Int16Array is the platform's byte order: little-endian on every browser platform there is.
        this.#socket.send(this.#pending.buffer);
        this.#pending = new Int16Array(this.#pending.length);
        this.#pendingLength = 0;
      }
    }
  }

  hangUp(): void {
    if (this.#socket.readyState === WebSocket.OPEN) this.#socket.send(JSON.stringify({ type: 'hangup' }));
  }

  #message(data: ArrayBuffer | string): void {
    if (typeof data !== 'string') {
      const pcm = new Int16Array(data, 0, Math.floor(data.byteLength / 2));
      const samples = new Float32Array(pcm.length);
      for (let i = 0; i < pcm.length; i++) samples[i] = pcm[i] / 32768;
      this.#events.audio(samples);
      return;
    }
    const message = JSON.parse(data) as { type: string; callSid?: string; reason?: string; message?: string };
    switch (message.type) {
      case 'started':
        this.#open = true;
        this.#events.started(message.callSid ?? '');
        return;
      case 'clear':
        this.#events.clear();
        return;
      case 'ended':
        this.#end(message.reason ?? 'ended');
        return;
      case 'error':
        this.#end(message.message ?? 'refused');
    }
  }

  #end(reason: string): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#events.ended(reason);
    if (this.#socket.readyState === WebSocket.OPEN) this.#socket.close(1000);
  }

  get channels(): number {
    return this.#channels;
  }
}
