import { describe, expect, it } from 'vitest';
import {
  addressUri,
  displayName,
  parseSipMessage,
  parseVia,
  SipParseError,
  serialize,
  splitList,
  uriUser,
} from '../../../src/carriers/sip/sip-message.js';

const INVITE = [
  'INVITE sip:+15551230000@voxline.example;user=phone SIP/2.0',
  'v: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-1;rport',
  'Via: SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bK-0, SIP/2.0/UDP [2001:db8::1]:5070;branch=z9hG4bK-00',
  'f: "Bob, Jr." <sip:bob@example.com>;tag=abc',
  't: <sip:+15551230000@voxline.example>',
  'i: 1-2941@198.51.100.7',
  'CSeq: 1 INVITE',
  'Record-Route: <sip:sbc1.example;lr>,',
  ' <sip:sbc2.example;lr>',
  'l: 5',
  '',
  'v=0\r\nextra bytes beyond Content-Length',
].join('\r\n');

describe('SIP messages (RFC 3261 §7)', () => {
  it('reads compact headers, folded lines, lists and a body cut to Content-Length', () => {
    const m = parseSipMessage(Buffer.from(INVITE));
    expect(m.kind).toBe('request');
    if (m.kind !== 'request') return;
    expect(m.method).toBe('INVITE');
    expect(m.headers.all('via')).toHaveLength(3);
    expect(m.headers.get('call-id')).toBe('1-2941@198.51.100.7');
    expect(m.headers.all('record-route')).toEqual(['<sip:sbc1.example;lr>', '<sip:sbc2.example;lr>']);
    expect(m.body.toString()).toBe('v=0\r\n');
    expect(displayName(m.headers.get('from') as string)).toBe('Bob, Jr.');
    expect(splitList('"a, b" <sip:x>, <sip:y;p=1,2>')).toEqual(['"a, b" <sip:x>', '<sip:y;p=1,2>']);
    expect(uriUser(m.uri)).toBe('+15551230000');
    expect(addressUri('"Bob" <sip:bob@h;transport=tcp>;tag=1')).toBe('sip:bob@h;transport=tcp');
    const v6 = parseVia(m.headers.all('via')[2]);
    expect([v6.transport, v6.host, v6.port, v6.params.get('branch')]).toEqual([
      'UDP',
      '2001:db8::1',
      5070,
      'z9hG4bK-00',
    ]);
  });

  it('refuses what it cannot trust, with a reason', () => {
    const bad = (text: string) => () => parseSipMessage(Buffer.from(text));
    expect(bad('INVITE sip:x SIP/2.0\r\nVia: x\r\n')).toThrow(/no blank line/);
    expect(bad('INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\n')).toThrow(/missing from header/);
    expect(bad(INVITE.replace('CSeq: 1 INVITE', 'CSeq: 1 BYE'))).toThrow(/CSeq method BYE ≠ INVITE/);
    expect(bad(INVITE.replace('l: 5', 'l: 500'))).toThrow(/body shorter than Content-Length 500/);
    expect(bad(INVITE.replace('i: 1-2941', 'bad header line 1-2941'))).toThrow(SipParseError);
  });

  it('writes canonical header names and the Content-Length it counts', () => {
    const m = parseSipMessage(Buffer.from(INVITE));
    const text = serialize(m).toString();
    expect(text).toMatch(/^INVITE sip:\+15551230000@voxline\.example;user=phone SIP\/2\.0\r\nVia: /);
    expect(text).toContain('\r\nCall-ID: 1-2941@198.51.100.7\r\n');
    expect(text).toContain('\r\nCSeq: 1 INVITE\r\n');
    expect(text.endsWith('Content-Length: 5\r\n\r\nv=0\r\n')).toBe(true);
    expect(parseSipMessage(serialize(m)).headers.all('via')).toHaveLength(3);
  });
});
