import { describe, expect, it } from 'vitest';
import { Headers } from '../../../src/carriers/sip/sip-message.js';
import {
  assignLegs,
  isSiprecInvite,
  parseMetadata,
  splitMultipart,
} from '../../../src/carriers/sip/siprec.js';

/*
 * Metadata in the three shapes SRCs send (RFC 7865; the pre-RFC draft used by Acme/Oracle and
 * AudioCodes; Sonus/Ribbon's prefixed form with callData), written for these tests after the
 * structure of public vendor captures (docs/protocols/sip-carriers.md §2.3).
 */
const RFC = `<?xml version="1.0"?>
<recording xmlns="urn:ietf:params:xml:ns:recording:1"><datamode>complete</datamode>
 <participant participant_id="pa"><nameID aor="sip:alice@carrier.example"><name>Alice</name></nameID></participant>
 <participant participant_id="pb"><nameID aor="sip:bob@pbx.example"><name>Bob</name></nameID></participant>
 <stream stream_id="s1"><label>10</label></stream><stream stream_id="s2"><label>20</label></stream>
 <participantstreamassoc participant_id="pa"><send>s2</send><recv>s1</recv></participantstreamassoc>
 <participantstreamassoc participant_id="pb"><send>s1</send><recv>s2</recv></participantstreamassoc>
</recording>`;

const DRAFT = `<?xml version='1.0' encoding='UTF-8'?>
<recording xmlns='urn:ietf:params:xml:ns:recording'><datamode>complete</datamode>
 <participant id="X1" session="S"><nameID aor="sip:7001@10.1.1.1"><name>7001</name></nameID><send>st-b</send>
  <extensiondata xmlns:apkt="http://acmepacket.com/siprec/extensiondata"><apkt:callingParty>false</apkt:callingParty></extensiondata></participant>
 <participant id="X2" session="S"><nameID aor="sip:+15550001111@10.1.1.2"><name>Customer</name></nameID><send>st-a</send>
  <extensiondata xmlns:apkt="http://acmepacket.com/siprec/extensiondata"><apkt:callingParty>true</apkt:callingParty></extensiondata></participant>
 <stream id="st-a" session="S"><label>900</label><mode>separate</mode></stream>
 <stream id="st-b" session="S"><label>901</label><mode>separate</mode></stream>
</recording>`;

const PREFIXED = `<?xml version="1.0" encoding="UTF-8"?>
<tns:recording xmlns:tns='urn:ietf:params:xml:ns:recording'><tns:datamode>complete</tns:datamode>
 <tns:group group_id="G"><callData xmlns='urn:ietf:params:xml:ns:callData'>
  <fromhdr>"Desk 12" &lt;sip:5550012@192.0.2.50&gt;;tag=x1</fromhdr><tohdr>&lt;sip:5559999@192.0.2.60&gt;</tohdr></callData></tns:group>
 <tns:participant participant_id="A"><tns:nameID aor="5550012@192.0.2.50"><tns:name>Desk 12</tns:name></tns:nameID></tns:participant>
 <tns:participant participant_id="B"><tns:nameID aor="5559999@192.0.2.60"><tns:name> </tns:name></tns:nameID></tns:participant>
 <tns:stream stream_id="m1"><tns:label>1</tns:label></tns:stream><tns:stream stream_id="m2"><tns:label>2</tns:label></tns:stream>
 <tns:participantstreamassoc participant_id="A"><tns:send>m2</tns:send></tns:participantstreamassoc>
 <tns:participantstreamassoc participant_id="B"><tns:send>m1</tns:send></tns:participantstreamassoc>
</tns:recording>`;

describe('SIPREC (RFC 7865/7866) for a recording server', () => {
  it('recognises an SRC’s INVITE: Require siprec and +sip.src in the Contact', () => {
    const h = Headers.from([
      ['require', 'siprec'],
      ['contact', '<sip:src@198.51.100.7;transport=tcp>;+sip.src'],
    ]);
    expect(isSiprecInvite(h)).toBe(true);
    expect(isSiprecInvite(Headers.from([['contact', '<sip:src@h>;+sip.src']]))).toBe(false);
  });

  it('splits multipart bodies whatever the boundary quoting and part order, and ignores extra parts', () => {
    const body =
      '--"b"\r\nContent-Type: application/gtd\r\n\r\nIAM,\r\n--"b"\r\nContent-Type: application/rs-metadata\r\nContent-Disposition: recording-session\r\n\r\n<recording/>\r\n--"b"\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n\r\n--"b"--\r\n'.replaceAll(
        '"b"',
        'b',
      );
    const parts = splitMultipart('multipart/mixed; boundary="b"', body);
    expect(parts?.map((p) => [p.contentType, p.disposition])).toEqual([
      ['application/gtd', undefined],
      ['application/rs-metadata', 'recording-session'],
      ['application/sdp', undefined],
    ]);
    expect(splitMultipart('multipart/mixed', body)).toBeUndefined();
  });

  it('RFC 7865: who sends which stream comes from participantstreamassoc; the caller, failing other signs, is the configured label', () => {
    const meta = parseMetadata(RFC);
    const a = assignLegs(['10', '20'], meta, '20');
    expect([...a.roles]).toEqual([
      ['10', 'agent'],
      ['20', 'caller'],
    ]);
    expect(a.method).toBe('configured_label');
    expect(a.senders.get('20')).toMatchObject({ name: 'Alice', aor: 'sip:alice@carrier.example' });
    expect(a.senders.get('10')).toMatchObject({ name: 'Bob' });
  });

  it('the draft schema (Acme/Oracle): <send> inside the participant, and the callingParty extension decides', () => {
    const a = assignLegs(['900', '901'], parseMetadata(DRAFT), '901');
    expect(a.method).toBe('calling_party');
    expect(a.roles.get('900')).toBe('caller');
    expect(a.senders.get('900')).toMatchObject({ name: 'Customer', calling: true });
  });

  it('prefixed (Sonus/Ribbon): namespaces stripped, the original From in callData picks the caller', () => {
    const a = assignLegs(['1', '2'], parseMetadata(PREFIXED), '1');
    expect(a.method).toBe('original_from');
    expect([...a.roles]).toEqual([
      ['1', 'agent'],
      ['2', 'caller'],
    ]);
  });

  it('no association (OpenSIPS), no metadata (Cisco NBR) or labels that do not match the SDP: the configured label', () => {
    const noAssoc = RFC.replace(/<participantstreamassoc[\s\S]*?<\/participantstreamassoc>/g, '');
    expect(assignLegs(['10', '20'], parseMetadata(noAssoc), '10')).toMatchObject({
      method: 'configured_label',
    });
    expect(assignLegs(['10', '20'], parseMetadata(noAssoc), '10').senders.size).toBe(0);
    expect([...assignLegs(['a_leg', 'b_leg'], undefined, '1').roles]).toEqual([
      ['a_leg', 'caller'],
      ['b_leg', 'agent'],
    ]);
    expect(assignLegs(['a_leg', 'b_leg'], parseMetadata(RFC), 'b_leg').roles.get('b_leg')).toBe('caller');
  });
});
