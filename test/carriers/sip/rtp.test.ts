import { describe, expect, it } from 'vitest';
import { buildRtp, parseRtp, parseTelephoneEvent } from '../../../src/carriers/sip/rtp.js';

describe('RTP (RFC 3550) and telephone events (RFC 4733)', () => {
  it('round-trips a header, and skips CSRCs, extensions and padding to find the payload', () => {
    const packet = buildRtp(8, 65535, 0xfffffff0, 0xca110000, new Uint8Array([1, 2, 3]), true);
    expect({ ...parseRtp(packet), payload: [...(parseRtp(packet)?.payload ?? [])] }).toEqual({
      marker: true,
      payloadType: 8,
      sequence: 65535,
      timestamp: 0xfffffff0,
      ssrc: 0xca110000,
      payload: [1, 2, 3],
    });
    // V=2, P=1, X=1, CC=1: one CSRC, a one-word extension, two bytes of padding.
    const fancy = Buffer.from([
      0xb1, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 9, 9, 9, 9, 0xbe, 0xde, 0, 1, 7, 7, 7, 7, 0xaa, 0xbb, 0, 2,
    ]);
    expect([...(parseRtp(fancy)?.payload ?? [])]).toEqual([0xaa, 0xbb]);
  });

  it('refuses what is not RTP version 2 or is cut short', () => {
    expect(parseRtp(new Uint8Array(11))).toBeUndefined();
    expect(parseRtp(Buffer.from([0x40, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]))).toBeUndefined();
    expect(parseRtp(Buffer.from([0x8f, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]))).toBeUndefined(); // 15 CSRCs promised
  });

  it('reads keys, the end bit and the duration; non-key events have no digit', () => {
    expect(parseTelephoneEvent(new Uint8Array([1, 0x8a, 0x08, 0xc0]))).toEqual({
      digit: '1',
      end: true,
      duration: 2240,
    });
    expect(parseTelephoneEvent(new Uint8Array([11, 0x0a, 0, 160]))?.digit).toBe('#');
    expect(parseTelephoneEvent(new Uint8Array([15, 0x0a, 0, 160]))?.digit).toBe('D');
    expect(parseTelephoneEvent(new Uint8Array([16, 0x0a, 0, 160]))?.digit).toBeUndefined(); // flash
  });
});
