import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SileroVad } from '../../src/asr/vad/silero-vad.js';
import { AsrMetrics } from '../../src/observability/asr-metrics.js';
import { closeCodeLabel, endReasonLabel, trackLabel } from '../../src/observability/metrics.js';
import { scriptedStt } from '../doubles/scripted-stt.js';
import {
  eventually,
  type Gateway,
  mediaMessage,
  openMediaSocket,
  startGateway,
  startMessage,
} from '../helpers/gateway.js';

const SILENCE_20MS = new Uint8Array(160).fill(0xff);
const FRAMES = 8; // 160 ms per leg: enough for the VAD to examine a few windows

/** The caller's own names for the two legs of call `i` (Twilio custom parameters). */
const labelsOf = (i: number) => ({ inbound: `zq${i}in`, outbound: `zq${i}out` });

/**
 * One short two-leg call whose legs the caller names itself, ended by the caller closing the
 * socket with a close code of its choosing (another caller-chosen string on the way to /metrics).
 */
async function shortCall(gateway: Gateway, i: number): Promise<void> {
  const callSid = `CAcard${String(i).padStart(28, '0')}`;
  const raw = await openMediaSocket(gateway);
  const labels = labelsOf(i);
  raw.send(
    startMessage(callSid, {
      customParameters: { inboundLabel: labels.inbound, outboundLabel: labels.outbound },
    }),
  );
  let sequence = 1;
  for (let f = 0; f < FRAMES; f++) {
    for (const track of ['inbound', 'outbound'])
      raw.send(mediaMessage(callSid, ++sequence, track, f * 20, SILENCE_20MS));
  }
  await eventually(async () => expect((await gateway.call(callSid)).legs?.[0]?.framesReceived).toBe(FRAMES));
  raw.socket.close(4100 + i, 'bye');
  await raw.closed;
  await eventually(async () => expect((await gateway.call(callSid)).state).toBe('ended'));
}

async function voxlineLines(gateway: Gateway): Promise<string[]> {
  const { body } = await gateway.get('/metrics');
  return (body as string).split('\n').filter((line) => line.startsWith('voxline_'));
}

describe('metric label cardinality: nothing a caller chooses becomes a label value', () => {
  let gateway: Gateway;
  let vad: SileroVad;
  beforeAll(async () => {
    vad = await SileroVad.load();
    // A scripted engine so every leg is transcribed (and so VAD-metered), with no speech server.
    gateway = await startGateway({}, [], {
      engine: scriptedStt(() => ({ partial: 'hello', final: 'hello' })),
      vad,
    });
  });
  afterAll(async () => {
    await gateway.close();
    await vad.close();
  });

  it('keeps /metrics the same size after 10 and after 60 calls with unique leg labels and close codes', async () => {
    for (let i = 0; i < 10; i++) await shortCall(gateway, i);
    const after10 = await voxlineLines(gateway);
    for (let i = 10; i < 60; i++) await shortCall(gateway, i);
    const after60 = await voxlineLines(gateway);

    // Same series, only the values moved on.
    const series = (lines: string[]) => lines.map((l) => l.slice(0, l.lastIndexOf(' ')));
    expect(series(after60)).toEqual(series(after10));
    for (let i = 0; i < 60; i++) {
      const { inbound, outbound } = labelsOf(i);
      const leaked = after60.filter(
        (l) => l.includes(`"${inbound}"`) || l.includes(`"${outbound}"`) || l.includes(String(4100 + i)),
      );
      expect(leaked).toEqual([]);
    }
    // The per-leg numbers are still there, by track.
    expect(after60).toContain(`voxline_media_frames_total{track="inbound"} ${60 * FRAMES}`);
    expect(after60).toContain(`voxline_media_frames_total{track="outbound"} ${60 * FRAMES}`);
    expect(after60.some((l) => l.startsWith('voxline_vad_audio_seconds_total{track="inbound"}'))).toBe(true);
    expect(after60).toContain('voxline_calls_ended_total{reason="socket_closed_abnormal"} 60');
    expect(after60).toContain('voxline_media_sockets_closed_total{code="4xxx"} 60');
  });
});

describe('metric label values come from fixed sets', () => {
  it('labels speech engine audio by track, whatever the stream reports', async () => {
    const registry = new Registry();
    const metrics = new AsrMetrics(registry, 'vllm');
    const observer = metrics.observer();
    observer.audioSent('inbound', 1.5);
    observer.audioSent('some-callers-own-name', 2);
    observer.dropped('outbound', 40, 'engine_unavailable');
    metrics.vad('inbound', 3, 32);
    const text = await registry.metrics();
    expect(text).toContain('voxline_asr_audio_sent_seconds_total{engine="vllm",track="inbound"} 1.5');
    expect(text).toContain('voxline_asr_audio_sent_seconds_total{engine="vllm",track="other"} 2');
    expect(text).toContain(
      'voxline_asr_audio_dropped_ms_total{engine="vllm",track="outbound",reason="engine_unavailable"} 40',
    );
    expect(text).toContain('voxline_vad_audio_seconds_total{track="inbound"} 0.032');
    expect(text).not.toContain('some-callers-own-name');
  });

  it('maps tracks, end reasons and close codes onto small sets', () => {
    expect(['inbound', 'outbound', 'mixed', 'Caller'].map(trackLabel)).toEqual([
      'inbound',
      'outbound',
      'other',
      'other',
    ]);
    expect(
      [
        'stop',
        'bye',
        'idle_timeout',
        'agent_end_call',
        'protocol_error: unsupported media format audio/x-whatever/1/1',
        'protocol_error: Invalid WebSocket frame: invalid opcode 7',
        'socket_closed_4123',
        'peer_error_17',
        'a reason phrase from the far end',
      ].map(endReasonLabel),
    ).toEqual([
      'stop',
      'bye',
      'idle_timeout',
      'agent_end_call',
      'protocol_error',
      'protocol_error',
      'socket_closed_abnormal',
      'peer_error',
      'other',
    ]);
    expect(['1000', '1006', '1011', '4000', '3999', '4123', '999', 'x'].map(closeCodeLabel)).toEqual([
      '1000',
      '1006',
      '1011',
      '4000',
      '3xxx',
      '4xxx',
      'other',
      'other',
    ]);
  });
});
