import { describe, expect, it } from 'vitest';
import {
  decodeBase64,
  encodeClear,
  encodeMark,
  encodeMedia,
  MAX_MEDIA_PAYLOAD_BYTES,
  parseTwilioMessage,
} from '../../../src/carriers/twilio/codec.js';

// Shapes copied from Twilio's "WebSocket messages" page (docs/protocols/telephony.md §1.2).
const TWILIO_START = {
  event: 'start',
  sequenceNumber: '1',
  start: {
    accountSid: 'ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX',
    streamSid: 'MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX',
    callSid: 'CAXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX',
    tracks: ['inbound'],
    mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
    customParameters: { FirstName: 'Jane', LastName: 'Doe', RemoteParty: 'Bob' },
  },
  streamSid: 'MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX',
};
const TWILIO_MEDIA = {
  event: 'media',
  sequenceNumber: '4',
  media: { track: 'inbound', chunk: '2', timestamp: '5', payload: 'no+JhoaJjpzS' },
  streamSid: 'MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX',
};

const parse = (value: unknown) => parseTwilioMessage(Buffer.from(JSON.stringify(value)));

describe('parseTwilioMessage', () => {
  it('accepts every message Twilio documents', () => {
    expect(parse({ event: 'connected', protocol: 'Call', version: '1.0.0' })).toMatchObject({
      event: 'connected',
    });
    expect(parse(TWILIO_START)).toEqual(TWILIO_START);
    expect(
      parse({
        event: 'dtmf',
        streamSid: 'MZ1',
        sequenceNumber: '5',
        dtmf: { track: 'inbound_track', digit: '1' },
      }),
    ).toMatchObject({ event: 'dtmf' });
    expect(
      parse({ event: 'mark', sequenceNumber: '4', streamSid: 'MZ1', mark: { name: 'my label' } }),
    ).toMatchObject({ mark: { name: 'my label' } });
    expect(
      parse({
        event: 'stop',
        sequenceNumber: '5',
        stop: { accountSid: 'AC1', callSid: 'CA1' },
        streamSid: 'MZ1',
      }),
    ).toMatchObject({ event: 'stop' });
  });

  it('turns media into numbers and decoded bytes', () => {
    expect(parse(TWILIO_MEDIA)).toEqual({
      event: 'media',
      sequenceNumber: 4,
      streamSid: TWILIO_MEDIA.streamSid,
      track: 'inbound',
      chunk: 2,
      timestampMs: 5,
      payload: Buffer.from('no+JhoaJjpzS', 'base64'),
    });
  });

  it('tolerates fields Twilio may add later', () => {
    expect(
      parse({ ...TWILIO_MEDIA, extra: true, media: { ...TWILIO_MEDIA.media, quality: 'good' } }),
    ).toMatchObject({ event: 'media' });
  });

  it.each([
    ['malformed_json', '{"event": "media",', /Expected|Unexpected|JSON/],
    ['malformed_json', '', /JSON|end/],
    ['unknown_event', JSON.stringify({ event: 'hangup' }), /"hangup"/],
    ['unknown_event', JSON.stringify([1, 2]), /undefined/],
    ['unknown_event', 'null', /undefined/],
    [
      'invalid_message',
      JSON.stringify({ ...TWILIO_MEDIA, media: { ...TWILIO_MEDIA.media, timestamp: 5 } }),
      /timestamp/,
    ],
    [
      'invalid_message',
      JSON.stringify({ ...TWILIO_MEDIA, media: { ...TWILIO_MEDIA.media, timestamp: '-5' } }),
      /timestamp/,
    ],
    [
      'invalid_message',
      JSON.stringify({ ...TWILIO_MEDIA, media: { ...TWILIO_MEDIA.media, track: 'both' } }),
      /track/,
    ],
    [
      'invalid_message',
      JSON.stringify({ ...TWILIO_START, start: { ...TWILIO_START.start, tracks: [] } }),
      /tracks/,
    ],
    [
      'invalid_message',
      JSON.stringify({
        event: 'dtmf',
        streamSid: 'MZ1',
        sequenceNumber: '5',
        dtmf: { track: 'inbound_track', digit: '11' },
      }),
      /digit/,
    ],
    [
      'bad_base64',
      JSON.stringify({ ...TWILIO_MEDIA, media: { ...TWILIO_MEDIA.media, payload: 'no+J hoa' } }),
      /8 characters/,
    ],
    [
      'bad_base64',
      JSON.stringify({ ...TWILIO_MEDIA, media: { ...TWILIO_MEDIA.media, payload: 'abc' } }),
      /3 characters/,
    ],
    [
      'bad_payload_size',
      JSON.stringify({
        ...TWILIO_MEDIA,
        media: {
          ...TWILIO_MEDIA.media,
          payload: Buffer.alloc(MAX_MEDIA_PAYLOAD_BYTES + 3).toString('base64'),
        },
      }),
      /8003 bytes/,
    ],
  ])('%s: %s', (reason, raw, detail) => {
    const result = parseTwilioMessage(raw);
    expect(result).toMatchObject({ event: 'malformed', reason });
    expect(result.event === 'malformed' && result.detail).toMatch(detail);
  });
});

describe('decodeBase64', () => {
  it('accepts canonical base64 with or without padding', () => {
    expect(decodeBase64('YWJj')).toEqual(Buffer.from('abc'));
    expect(decodeBase64('YWI=')).toEqual(Buffer.from('ab'));
    expect(decodeBase64('YQ==')).toEqual(Buffer.from('a'));
  });

  it('rejects what Node would silently truncate or skip', () => {
    for (const bad of ['ab!d', 'YW Jj', 'YWJ', 'a===', 'ab=d', 'YWJj\n'])
      expect(decodeBase64(bad), bad).toBeUndefined();
  });
});

describe('messages to Twilio', () => {
  it('are exactly the documented shapes', () => {
    expect(JSON.parse(encodeMedia('MZ1', Uint8Array.of(0xff, 0x7f)))).toEqual({
      event: 'media',
      streamSid: 'MZ1',
      media: { payload: '/38=' },
    });
    expect(JSON.parse(encodeMark('MZ1', 'utt-42'))).toEqual({
      event: 'mark',
      streamSid: 'MZ1',
      mark: { name: 'utt-42' },
    });
    expect(JSON.parse(encodeClear('MZ1'))).toEqual({ event: 'clear', streamSid: 'MZ1' });
  });

  it('encode a view without the rest of its buffer', () => {
    const backing = Uint8Array.of(1, 2, 3, 4);
    expect(JSON.parse(encodeMedia('MZ1', backing.subarray(1, 3))).media.payload).toBe(
      Buffer.from([2, 3]).toString('base64'),
    );
  });
});
