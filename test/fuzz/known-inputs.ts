import {
  applySipEdits,
  renderSip,
  type SipEdit,
  type SipInput,
  type SipTemplate,
  sipTemplate,
} from './arbitraries.js';

/** A template with edits, Content-Length computed. */
export function mutated(template: SipTemplate, edits: SipEdit[]): SipInput {
  return {
    template,
    text: renderSip(applySipEdits(sipTemplate(template), edits), { kind: 'auto' }),
    edits: [],
  };
}

/**
 * The inputs that once ended the process or leaked sockets (the lead's hardening list), by name,
 * and whether voxline answers them with a final response (ACKs, responses and messages without a
 * usable Via are dropped).
 */
export const KNOWN: [string, SipInput, boolean][] = [
  ['an ACK whose Via does not parse', mutated('ack', [{ op: 'set', name: 'Via', value: 'garbage' }]), false],
  [
    'a CANCEL whose Via does not parse',
    mutated('cancel', [{ op: 'set', name: 'Via', value: 'SIP/2.0/UDP' }]),
    false,
  ],
  ['an INVITE whose Via does not parse', mutated('invite', [{ op: 'set', name: 'Via', value: '!!' }]), false],
  [
    'a response whose CSeq does not parse',
    mutated('response-bye', [{ op: 'set', name: 'CSeq', value: 'not-a-cseq' }]),
    false,
  ],
  [
    'a response with a CSeq of a number only',
    mutated('response-ringing', [{ op: 'set', name: 'CSeq', value: '1' }]),
    false,
  ],
  [
    'an INVITE offering SDP port 70000',
    mutated('invite', [{ op: 'sdp', edits: [{ op: 'port', value: '70000' }] }]),
    true,
  ],
  [
    'an INVITE to sip:%zz@127.0.0.1 (bad %-escape in the user)',
    mutated('invite', [{ op: 'uri', uri: 'sip:%zz@127.0.0.1' }]),
    true,
  ],
  [
    'an INVITE whose rtpmap names the codec with digits (a=rtpmap:0 0/8000)',
    mutated('invite', [{ op: 'sdp', edits: [{ op: 'rtpmap', pt: '0', codec: '0', rate: '8000' }] }]),
    true,
  ],
  [
    'a SIPREC INVITE whose metadata is garbage XML',
    mutated('siprec', [
      { op: 'xml', edits: [{ op: 'insert', at: 0.5, text: '<a><b></a>&bogus;<' }] },
      { op: 'xml', edits: [{ op: 'nest', tag: 'nameID', inner: '<aor>x</aor><aor>y</aor>' }] },
    ]),
    true,
  ],
];
