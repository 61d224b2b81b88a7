import { describe, expect, it } from 'vitest';
import { answerDirection, readOffer, writeAnswer } from '../../../src/carriers/sip/sdp.js';

const offer = (m: string, extra = '') =>
  `v=0\r\no=x 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n${m}${extra}`;

describe('SDP offer/answer (RFC 3264)', () => {
  it('takes the first codec in the offerer’s order it supports, and the 8 kHz telephone-event', () => {
    const o = readOffer(
      offer(
        'm=audio 40000 RTP/AVP 9 8 0 101 96\r\na=rtpmap:9 G722/8000\r\na=rtpmap:101 telephone-event/8000\r\na=rtpmap:96 telephone-event/16000\r\n',
      ),
    );
    expect(o.streams[0]).toMatchObject({
      codec: { name: 'pcma', pt: 8 },
      dtmfPt: 101,
      address: '198.51.100.7',
      port: 40000,
    });
  });

  it('G.722 (static 9 or G722/8000): taken when offered alone, G.711 first when both are, unless G.722 is preferred', () => {
    const alone = readOffer(offer('m=audio 40000 RTP/AVP 9 101\r\na=rtpmap:101 telephone-event/8000\r\n'));
    expect(alone.streams[0].codec).toEqual({ name: 'g722', pt: 9 });
    const both = offer('m=audio 40000 RTP/AVP 9 0 8\r\na=rtpmap:9 G722/8000\r\n');
    expect(readOffer(both).streams[0].codec).toEqual({ name: 'pcmu', pt: 0 });
    expect(readOffer(both, { preferG722: true }).streams[0].codec).toEqual({ name: 'g722', pt: 9 });
    // Only the RFC 3551 clock rate: a G722/16000 map would put the timestamps at another rate.
    expect(readOffer(offer('m=audio 40000 RTP/AVP 9\r\na=rtpmap:9 G722/16000\r\n')).streams[0].codec).toBe(
      undefined,
    );
    const answer = writeAnswer({ address: '192.0.2.10', sessionId: 1, version: 1 }, [
      { stream: alone.streams[0], port: 30000, direction: 'sendrecv' },
    ]);
    expect(answer).toContain('m=audio 30000 RTP/AVP 9 101\r\na=rtpmap:9 G722/8000\r\n');
  });

  it('an all-digit encoding name (a=rtpmap:0 0/8000) is just an unknown codec, not a TypeError', () => {
    const o = readOffer(offer('m=audio 40000 RTP/AVP 0 8\r\na=rtpmap:0 0/8000\r\n'));
    expect(o.streams[0].codec).toEqual({ name: 'pcma', pt: 8 });
  });

  it('refuses numbers voxline would act on when they are out of range, naming the field', () => {
    expect(() => readOffer(offer('m=audio 70000 RTP/AVP 0\r\n'))).toThrow(/port 70000 is not 0–65535/);
    expect(() => readOffer(offer('m=audio 4000 RTP/AVP 0 128\r\n'))).toThrow(/payload type "128"/);
    expect(() => readOffer(offer('m=audio 4000 RTP/AVP 0\r\na=ptime:0\r\n'))).toThrow(/ptime 0/);
    expect(() => readOffer(offer('m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/0\r\n'))).toThrow(/rate 0/);
  });

  it('answers with the same m-lines in order: the chosen codec on ours, port 0 keeping the formats on the rest', () => {
    const o = readOffer(
      offer(
        'm=audio 40000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\nm=video 40002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n',
      ),
    );
    const answer = writeAnswer({ address: '192.0.2.10', sessionId: 42, version: 1 }, [
      { stream: o.streams[0], port: 30000, direction: 'sendrecv' },
      { stream: o.streams[1], port: undefined, direction: 'inactive' },
    ]);
    expect(answer).toContain('o=voxline 42 1 IN IP4 192.0.2.10\r\n');
    expect(answer).toContain('m=audio 30000 RTP/AVP 0 101\r\n');
    expect(answer).toContain('a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n');
    expect(answer).toContain('a=ptime:20\r\na=sendrecv\r\n');
    expect(answer).toContain('m=video 0 RTP/AVP 96\r\n');
  });

  it('mirrors directions (hold: sendonly → recvonly), and a recorder never offers to send', () => {
    expect(answerDirection('sendrecv', false)).toBe('sendrecv');
    expect(answerDirection('sendonly', false)).toBe('recvonly');
    expect(answerDirection('inactive', false)).toBe('inactive');
    expect(answerDirection('recvonly', false)).toBe('sendonly');
    expect(answerDirection('sendrecv', true)).toBe('recvonly');
    expect(answerDirection('recvonly', true)).toBe('inactive');
  });

  it('reads SIPREC labels and stream-level connection lines; refuses an SDP with no m= line', () => {
    const o = readOffer(
      offer(
        'm=audio 30600 RTP/AVP 0\r\nc=IN IP4 203.0.113.5\r\na=label:1\r\na=sendonly\r\nm=audio 30602 RTP/AVP 0\r\na=label:2\r\na=sendonly\r\n',
      ),
    );
    expect(o.streams.map((s) => [s.label, s.direction, s.address])).toEqual([
      ['1', 'sendonly', '203.0.113.5'],
      ['2', 'sendonly', '198.51.100.7'],
    ]);
    expect(() => readOffer('v=0\r\ns=-\r\n')).toThrow(/no m= line/);
  });
});
