import { describe, expect, it } from 'vitest';
import { frameBytes, slinBytes, uuidBytes, WIRE_KIND, WireFrameReader } from './asterisk-audiosocket.js';

// The double's framing against the AudioSocket wire format itself (1 byte kind, 2 bytes
// big-endian length, payload), byte for byte: the double must not agree with voxline by sharing
// its code.
describe('AsteriskAudioSocket framing (golden bytes)', () => {
  it('a hangup is kind 0x00 with length 0', () => {
    expect([...frameBytes(WIRE_KIND.hangup)]).toEqual([0x00, 0x00, 0x00]);
  });

  it('an id is kind 0x01, length 16, the UUID bytes in the order its hex is written', () => {
    const bytes = frameBytes(WIRE_KIND.uuid, uuidBytes('0123abcd-4567-89ef-0123-456789abcdef'));
    expect(bytes.toString('hex')).toBe('010010' + '0123abcd456789ef0123456789abcdef');
  });

  it('a slin frame is kind 0x10, its byte length big-endian, samples as little-endian int16', () => {
    const bytes = frameBytes(WIRE_KIND.slin, slinBytes(Int16Array.from([1, -2, 0x1234, -32768])));
    expect([...bytes]).toEqual([0x10, 0x00, 0x08, 0x01, 0x00, 0xfe, 0xff, 0x34, 0x12, 0x00, 0x80]);
  });

  it('a 20 ms slin frame at 8 kHz says 320 bytes (0x01 0x40)', () => {
    expect([...frameBytes(WIRE_KIND.slin, slinBytes(new Int16Array(160))).subarray(0, 3)]).toEqual([
      0x10, 0x01, 0x40,
    ]);
  });

  it('dtmf is kind 0x03 with the digit as one byte; error is kind 0xff', () => {
    expect([...frameBytes(WIRE_KIND.dtmf, Buffer.from('#', 'latin1'))]).toEqual([0x03, 0x00, 0x01, 0x23]);
    expect([...frameBytes(WIRE_KIND.error, Uint8Array.of(0x04))]).toEqual([0xff, 0x00, 0x01, 0x04]);
  });

  it('the reader cuts a stream split anywhere into the frames that were written', () => {
    const stream = Buffer.concat([
      frameBytes(WIRE_KIND.uuid, uuidBytes('0123abcd-4567-89ef-0123-456789abcdef')),
      frameBytes(WIRE_KIND.slin, slinBytes(Int16Array.from([7, -7]))),
      frameBytes(WIRE_KIND.hangup),
    ]);
    for (let cut = 0; cut <= stream.length; cut++) {
      const reader = new WireFrameReader();
      const frames = [...reader.push(stream.subarray(0, cut)), ...reader.push(stream.subarray(cut))];
      expect(frames.map((f) => [f.kind, f.payload.toString('hex')])).toEqual([
        [0x01, '0123abcd456789ef0123456789abcdef'],
        [0x10, '0700f9ff'],
        [0x00, ''],
      ]);
    }
  });
});
