import { EventEmitter } from 'node:events';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { RealtimeStream } from '../../src/asr/realtime-stream.js';
import type { AudioFrame } from '../../src/audio/frame.js';

/** A socket to a server that is down: it errors on the next turn of the event loop. */
class RefusedSocket extends EventEmitter {
  readonly OPEN = 1;
  readyState = 0;
  terminate(): void {}
  close(): void {}
}

/** The engine-independent stream, with a wire that can only fail, counting connection attempts. */
class DeadEngineStream extends RealtimeStream {
  protected readonly engine = 'test';
  protected readonly bytesPerMs = 32;
  attempts = 0;

  constructor() {
    super(
      {
        callSid: 'CA1',
        leg: 'caller',
        track: 'inbound',
        log: pino({ level: 'silent' }),
        onEvent: () => undefined,
      },
      {
        maxBufferMs: 60_000,
        connectTimeoutMs: 5_000,
        doneTimeoutMs: 5_000,
        backoffBaseMs: 100,
        backoffMaxMs: 5_000,
      },
      {
        latency: () => undefined,
        reconnect: () => undefined,
        audioSent: () => undefined,
        dropped: () => undefined,
      },
    );
  }

  protected openSocket(): WebSocket {
    this.attempts++;
    const socket = new RefusedSocket();
    setImmediate(() => this.socketLost(socket as unknown as WebSocket, 'ECONNREFUSED'));
    return socket as unknown as WebSocket;
  }
  protected sendBegin(): void {}
  protected sendAudio(): void {}
  protected sendEnd(): void {}
  protected timeText(): void {}
}

const frame = (i: number): AudioFrame => ({
  leg: 'caller',
  pcm: new Int16Array(320),
  mulaw: new Uint8Array(160),
  startMs: i * 20,
  durationMs: 20,
  filled: false,
});

describe('a realtime stream whose engine is down', () => {
  it('reconnects on its backoff only: frames arriving meanwhile queue, they do not each open a socket', async () => {
    const stream = new DeadEngineStream();
    for (let i = 0; i < 50; i++) {
      stream.pushFrame(frame(i));
      await new Promise((resolve) => setImmediate(resolve)); // the refused socket reports back
    }
    // The first frame connects; the failure schedules a retry (at least 50 ms away, far beyond
    // these 50 turns of the loop); no frame may jump ahead of it.
    expect(stream.attempts).toBe(1);
    expect(stream.stats.reconnects).toBe(1);
    stream.close();
  });
});
