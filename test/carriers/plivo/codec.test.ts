import { describe, expect, it } from 'vitest';
import {
  encodeCheckpoint,
  encodeClearAudio,
  encodePlayAudio,
  parsePlivoMessage,
} from '../../../src/carriers/plivo/codec.js';
import { readExtraHeaders } from '../../../src/carriers/plivo/media-session.js';
import { buildAnswerXml } from '../../../src/carriers/plivo/plivo-xml.js';
import { TrackClock } from '../../../src/carriers/plivo/track-clock.js';

describe('Plivo codec', () => {
  it("reads the docs' media example: sequenceNumber and chunk as numbers, timestamp as a string of Unix ms", () => {
    const parsed = parsePlivoMessage(
      JSON.stringify({
        event: 'media',
        sequenceNumber: 42,
        streamId: '87654321-4321-4321-4321-cba987654321',
        media: { track: 'inbound', timestamp: '1705312200000', chunk: 41, payload: '//uQxAAA' },
        extra_headers: 'userId=12345;sessionId=abc',
      }),
    );
    expect(parsed).toMatchObject({
      event: 'media',
      sequenceNumber: 42,
      track: 'inbound',
      timestampMs: 1705312200000,
    });
    expect(parsePlivoMessage('{"event":"playedStream","name":"cp-1"}')).toEqual({
      event: 'playedStream',
      name: 'cp-1',
    });
    expect(
      parsePlivoMessage('{"event":"media","media":{"track":"both","timestamp":"1","payload":"AA=="}}'),
    ).toMatchObject({
      event: 'malformed',
      reason: 'invalid_message',
    });
    expect(parsePlivoMessage('[1]')).toMatchObject({ event: 'malformed', reason: 'unknown_event' });
  });

  it('writes playAudio, checkpoint and clearAudio as the docs show them', () => {
    expect(JSON.parse(encodePlayAudio('s1', new Uint8Array([0xff, 0x7f])))).toEqual({
      event: 'playAudio',
      media: { contentType: 'audio/x-mulaw', sampleRate: 8000, payload: '/38=' },
      streamId: 's1',
    });
    expect(JSON.parse(encodeCheckpoint('s1', 'cp-1'))).toEqual({
      event: 'checkpoint',
      streamId: 's1',
      name: 'cp-1',
    });
    expect(JSON.parse(encodeClearAudio('s1'))).toEqual({ event: 'clearAudio', streamId: 's1' });
  });

  it('keeps only well-formed extraHeaders pairs', () => {
    expect(readExtraHeaders('userId=12345;sessionId=abc,bad=x-y,=1,__proto__=2')).toEqual({
      userId: '12345',
      sessionId: 'abc',
    });
    expect(readExtraHeaders(undefined)).toEqual({});
  });
});

describe('Plivo answer XML', () => {
  it('escapes the stream URL, and dials after a listen-only stream when a number is set', () => {
    const xml = buildAnswerXml({
      mode: 'transcribe',
      streamUrl: 'wss://v.example.com/plivo/media?call=a&token=b',
      statusCallbackUrl: 'https://v.example.com/plivo/status',
      streamTimeoutS: 3600,
      dial: '+14155550123',
    });
    expect(xml).toContain('>wss://v.example.com/plivo/media?call=a&#38;token=b</Stream>');
    expect(xml).toContain('keepCallAlive="false"');
    expect(xml).toContain('streamTimeout="3600"');
    expect(xml).toMatch(/<\/Stream><Dial><Number>\+14155550123<\/Number><\/Dial><\/Response>$/);
    const agent = buildAnswerXml({
      mode: 'agent',
      streamUrl: 'wss://x/plivo/media',
      statusCallbackUrl: 'https://x/plivo/status',
      streamTimeoutS: 60,
      dial: '+14155550123',
    });
    expect(agent).toContain('bidirectional="true" audioTrack="inbound" keepCallAlive="true"');
    expect(agent).not.toContain('<Dial>');
  });
});

describe('the Plivo track clock', () => {
  it('starts both tracks at the first stamp, snaps jitter, keeps a lost chunk as a gap', () => {
    const clock = new TrackClock();
    const t0 = 1_705_312_200_000;
    expect(clock.place('inbound', t0, 20)).toBe(0);
    expect(clock.place('outbound', t0 - 3, 20)).toBe(0); // a hair earlier: the other track's 0
    expect(clock.place('inbound', t0 + 23, 20)).toBe(20); // 3 ms late: right after the last
    expect(clock.place('inbound', t0 + 38, 20)).toBe(40); // 2 ms early
    expect(clock.place('inbound', t0 + 80, 20)).toBe(80); // one chunk lost: its 20 ms stay a gap
    expect(clock.place('inbound', t0 - 1000, 20)).toBeUndefined();
    expect(clock.place('inbound', t0 + 90_000_000, 20)).toBeUndefined();
  });
});
