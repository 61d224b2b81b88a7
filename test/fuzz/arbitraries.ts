import fc from 'fast-check';

/*
 * Input generators for the fuzz tests: random bytes and text, and mutations of valid messages
 * (SIP with SDP, SIPREC multipart with rs-metadata, RTP and RFC 4733, AudioSocket frames, Twilio
 * Media Streams JSON, HTTP requests). Pure: no I/O. Edge inputs carry placeholders ({callId},
 * {branch}, {tag}, {host}, {port}, {sid}) filled at send time, so that every input is a new
 * transaction or call however often fast-check replays it.
 */

// --- shared values -------------------------------------------------------------------------

/** Numbers and near-numbers that break naive parsing (ports, payload types, lengths, CSeq...). */
export const WEIRD_NUMBERS = [
  '0',
  '-1',
  '65535',
  '65536',
  '70000',
  '99999',
  '128',
  '255',
  '256',
  '2147483647',
  '2147483648',
  '4294967295',
  '4294967296',
  '9007199254740993',
  '18446744073709551616',
  '99999999999999999999999',
  '1e15',
  '1e309',
  '-0',
  '0x10',
  '1.5',
  'NaN',
  'Infinity',
  '00000000000000000001',
  '',
  ' ',
] as const;

/** Text that breaks decoders: bad %-escapes, controls, lone surrogates, separators. */
export const WEIRD_TEXT = [
  '%zz',
  '%',
  '%%',
  '%E0%A4%A',
  '%C0%AF',
  '%00',
  '%D8%00',
  '\u0000',
  '\u00ff\u00fe',
  '\ud800',
  '\udfff',
  'é',
  '\u202e',
  '<',
  '>',
  '<>',
  '"',
  '\\"',
  ';',
  ';;;=',
  ',',
  ':',
  '@',
  '[',
  '[::1',
  '\t',
  ' ',
  '\r',
  '\n',
  '\r\n',
  '\r\n ',
  '*',
  '..',
  '__proto__',
  'constructor',
  'toString',
] as const;

/** A text fragment that is often, but not always, one of the known troublemakers. */
export const weirdText: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...WEIRD_NUMBERS), weight: 3 },
  { arbitrary: fc.constantFrom(...WEIRD_TEXT), weight: 3 },
  { arbitrary: fc.string({ maxLength: 40 }), weight: 3 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 20 }), weight: 1 },
  { arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 20 }), weight: 1 },
  { arbitrary: fc.integer().map(String), weight: 1 },
  { arbitrary: fc.double().map(String), weight: 1 },
  { arbitrary: fc.constant('A'.repeat(5000)), weight: 1 },
);

/** A number-ish token: mostly the weird numbers, sometimes any integer. */
export const weirdNumber: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...WEIRD_NUMBERS), weight: 4 },
  { arbitrary: fc.integer({ min: -100_000, max: 200_000 }).map(String), weight: 2 },
  { arbitrary: fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String), weight: 1 },
);

/** Text edits applied to a rendered message. */
export type TextEdit =
  | { readonly op: 'truncate'; readonly at: number }
  | { readonly op: 'insert'; readonly at: number; readonly text: string }
  | { readonly op: 'bytes'; readonly at: number; readonly bytes: Uint8Array }
  | { readonly op: 'lf' }
  | { readonly op: 'cr' };

const textEdit: fc.Arbitrary<TextEdit> = fc.oneof(
  fc.record({ op: fc.constant('truncate' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }),
  fc.record({
    op: fc.constant('insert' as const),
    at: fc.double({ min: 0, max: 1, noNaN: true }),
    text: weirdText,
  }),
  fc.record({
    op: fc.constant('bytes' as const),
    at: fc.double({ min: 0, max: 1, noNaN: true }),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
  }),
  fc.record({ op: fc.constant('lf' as const) }),
  fc.record({ op: fc.constant('cr' as const) }),
);

/** Applies byte-level edits to a message (positions are fractions of its current length). */
export function applyTextEdits(message: Buffer, edits: readonly TextEdit[]): Buffer {
  let out = message;
  for (const edit of edits) {
    const at = 'at' in edit ? Math.floor(edit.at * out.length) : 0;
    switch (edit.op) {
      case 'truncate':
        out = out.subarray(0, at);
        break;
      case 'insert':
        out = Buffer.concat([out.subarray(0, at), Buffer.from(edit.text), out.subarray(at)]);
        break;
      case 'bytes':
        out = Buffer.concat([out.subarray(0, at), Buffer.from(edit.bytes), out.subarray(at)]);
        break;
      case 'lf':
        out = Buffer.from(out.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
        break;
      case 'cr':
        out = Buffer.from(out.toString('latin1').replace(/\r\n/g, '\r'), 'latin1');
        break;
    }
  }
  return out;
}

// --- SDP -----------------------------------------------------------------------------------

/** A valid offer: PCMU and telephone-event on one audio stream, as sip-peer.ts's invite() sends. */
export function sdpLines(port = '{mediaPort}', address = '{host}'): string[] {
  return [
    'v=0',
    `o=peer 1 1 IN IP4 ${address}`,
    's=-',
    `c=IN IP4 ${address}`,
    't=0 0',
    `m=audio ${port} RTP/AVP 0 101`,
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=fmtp:101 0-16',
    'a=ptime:20',
    'a=sendrecv',
  ];
}

/** Two labelled sendonly streams, as an SRC offers them (RFC 7866). */
export function siprecSdpLines(address = '{host}'): string[] {
  return [
    'v=0',
    `o=src 1 1 IN IP4 ${address}`,
    's=-',
    `c=IN IP4 ${address}`,
    't=0 0',
    'm=audio {mediaPort} RTP/AVP 0 101',
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=label:1',
    'a=sendonly',
    'm=audio {mediaPort2} RTP/AVP 8 101',
    'a=rtpmap:8 PCMA/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=label:2',
    'a=sendonly',
  ];
}

/** Edits to SDP lines: the fields voxline reads, given weird values; lines dropped or repeated. */
export type SdpEdit =
  | { readonly op: 'port'; readonly value: string }
  | { readonly op: 'formats'; readonly value: string }
  | { readonly op: 'rtpmap'; readonly pt: string; readonly codec: string; readonly rate: string }
  | { readonly op: 'ptime'; readonly value: string }
  | { readonly op: 'connection'; readonly value: string }
  | { readonly op: 'direction'; readonly value: string }
  | { readonly op: 'label'; readonly value: string }
  | { readonly op: 'drop'; readonly index: number }
  | { readonly op: 'repeat'; readonly index: number }
  | { readonly op: 'replace'; readonly index: number; readonly text: string }
  | { readonly op: 'add'; readonly text: string };

const codecName = fc.oneof(
  fc.constantFrom('PCMU', 'PCMA', 'pcmu', 'telephone-event', 'G729', 'opus', 'L16', ''),
  // sdp-transform reads an all-digit name as a number
  fc.constantFrom('0', '123', '8000', '1e3', '0x1'),
  weirdText,
);

export const sdpEdit: fc.Arbitrary<SdpEdit> = fc.oneof(
  fc.record({ op: fc.constant('port' as const), value: weirdNumber }),
  fc.record({
    op: fc.constant('formats' as const),
    value: fc.oneof(
      fc.array(weirdNumber, { maxLength: 4 }).map((v) => v.join(' ')),
      fc.constantFrom('0 128', '300', '-1 0', '0 101 99999', '', '0 0 0'),
    ),
  }),
  // One field of the rtpmap fuzzed at a time, the others valid, so each reaches the code that reads it.
  fc.oneof(
    fc.record({
      op: fc.constant('rtpmap' as const),
      pt: weirdNumber,
      codec: fc.constant('PCMU'),
      rate: fc.constant('8000'),
    }),
    fc.record({
      op: fc.constant('rtpmap' as const),
      pt: fc.constantFrom('0', '8', '101'),
      codec: codecName,
      rate: fc.constant('8000'),
    }),
    fc.record({
      op: fc.constant('rtpmap' as const),
      pt: fc.constantFrom('0', '101'),
      codec: fc.constantFrom('PCMU', 'telephone-event'),
      rate: weirdNumber,
    }),
    fc.record({ op: fc.constant('rtpmap' as const), pt: weirdNumber, codec: codecName, rate: weirdNumber }),
  ),
  fc.record({ op: fc.constant('ptime' as const), value: weirdNumber }),
  fc.record({
    op: fc.constant('connection' as const),
    value: fc.oneof(
      fc.constantFrom(
        'IN IP4 0.0.0.0',
        'IN IP6 ::1',
        'IN IP4 999.1.1.1',
        'IN IP4 host.example',
        'IN IP4',
        '',
      ),
      weirdText.map((t) => `IN IP4 ${t}`),
    ),
  }),
  fc.record({
    op: fc.constant('direction' as const),
    value: fc.constantFrom('sendonly', 'recvonly', 'inactive', 'sendrecv', 'bogus'),
  }),
  fc.record({ op: fc.constant('label' as const), value: weirdText }),
  fc.record({ op: fc.constant('drop' as const), index: fc.nat(20) }),
  fc.record({ op: fc.constant('repeat' as const), index: fc.nat(20) }),
  fc.record({ op: fc.constant('replace' as const), index: fc.nat(20), text: weirdText }),
  fc.record({
    op: fc.constant('add' as const),
    text: fc.oneof(
      fc.constantFrom('m=audio 0 RTP/AVP 0', 'm=video 9 RTP/AVP 96', 'm=audio', 'a=rtcp-mux', 'b=AS:64'),
      weirdText.map((t) => `a=${t}`),
      weirdText.map((t) => `m=audio ${t} RTP/AVP 0`),
    ),
  }),
);

export function applySdpEdits(lines: readonly string[], edits: readonly SdpEdit[]): string[] {
  const out = [...lines];
  const setLine = (test: RegExp, text: string) => {
    const i = out.findIndex((l) => test.test(l));
    if (i >= 0) out[i] = text;
    else out.push(text);
  };
  for (const edit of edits) {
    const pick = (index: number) => (out.length === 0 ? -1 : index % out.length);
    switch (edit.op) {
      case 'port': {
        const i = out.findIndex((l) => l.startsWith('m='));
        if (i >= 0) out[i] = out[i].replace(/^(m=\S+ )\S+/, `$1${edit.value}`);
        break;
      }
      case 'formats': {
        const i = out.findIndex((l) => l.startsWith('m='));
        if (i >= 0) out[i] = out[i].replace(/^(m=\S+ \S+ \S+).*$/, `$1 ${edit.value}`);
        break;
      }
      case 'rtpmap':
        setLine(/^a=rtpmap:/, `a=rtpmap:${edit.pt} ${edit.codec}/${edit.rate}`);
        break;
      case 'ptime':
        setLine(/^a=ptime:/, `a=ptime:${edit.value}`);
        break;
      case 'connection':
        setLine(/^c=/, `c=${edit.value}`);
        break;
      case 'direction':
        setLine(/^a=(send|recv|inactive)/, `a=${edit.value}`);
        break;
      case 'label':
        setLine(/^a=label:/, `a=label:${edit.value}`);
        break;
      case 'drop': {
        const i = pick(edit.index);
        if (i >= 0) out.splice(i, 1);
        break;
      }
      case 'repeat': {
        const i = pick(edit.index);
        if (i >= 0) out.splice(i, 0, out[i]);
        break;
      }
      case 'replace': {
        const i = pick(edit.index);
        if (i >= 0) out[i] = edit.text;
        break;
      }
      case 'add':
        out.push(edit.text);
        break;
    }
  }
  return out;
}

/** SDP text: a mutated valid offer (mostly), or noise. Placeholders already filled with loopback values. */
export const sdpText: fc.Arbitrary<string> = fc.oneof(
  {
    arbitrary: fc
      .tuple(fc.boolean(), fc.array(sdpEdit, { minLength: 0, maxLength: 4 }), fc.constantFrom('\r\n', '\n'))
      .map(([siprec, edits, eol]) =>
        fill(applySdpEdits(siprec ? siprecSdpLines() : sdpLines(), edits).join(eol), LOOPBACK).concat(eol),
      ),
    weight: 8,
  },
  { arbitrary: fc.string({ maxLength: 300 }), weight: 1 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 200 }), weight: 1 },
);

// --- SIPREC ------------------------------------------------------------------------------

/** RFC 7865 metadata with the association, the draft (Acme) extension and Sonus callData mixed in. */
export function metadataXml(): string {
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<recording xmlns="urn:ietf:params:xml:ns:recording:1">',
    '<datamode>complete</datamode>',
    '<group group_id="g1"><callData><fromhdr>"Caller" &lt;sip:+15550001111@192.0.2.1&gt;;tag=a</fromhdr></callData></group>',
    '<session session_id="s"><sipSessionID>abc</sipSessionID></session>',
    '<participant participant_id="p1"><nameID aor="sip:+15550001111@192.0.2.1"><name>Caller</name></nameID>',
    '<extensiondata><callingParty>true</callingParty></extensiondata></participant>',
    '<participant participant_id="p2"><nameID aor="sip:agent@192.0.2.2"><name>Agent</name></nameID></participant>',
    '<stream stream_id="st1" session_id="s"><label>1</label></stream>',
    '<stream stream_id="st2" session_id="s"><label>2</label></stream>',
    '<participantstreamassoc participant_id="p1"><send>st1</send><recv>st2</recv></participantstreamassoc>',
    '<participantstreamassoc participant_id="p2"><send>st2</send><recv>st1</recv></participantstreamassoc>',
    '</recording>',
  ].join('\n');
}

/** Edits to metadata XML: elements and attributes replaced, nested, repeated, cut, or garbage. */
export type XmlEdit =
  | { readonly op: 'text'; readonly tag: string; readonly value: string }
  | { readonly op: 'attr'; readonly name: string; readonly value: string }
  | { readonly op: 'nest'; readonly tag: string; readonly inner: string }
  | { readonly op: 'insert'; readonly at: number; readonly text: string }
  | { readonly op: 'cut'; readonly at: number };

const XML_TAGS = [
  'label',
  'send',
  'recv',
  'name',
  'aor',
  'callingParty',
  'fromhdr',
  'participant',
  'stream',
  'nameID',
  'participantstreamassoc',
  'callData',
  'extensiondata',
  'group',
  'session',
  'recording',
] as const;
const XML_ATTRS = ['participant_id', 'stream_id', 'id', 'aor', 'session_id', 'xmlns'] as const;

const xmlFragment: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '<a><b></a>',
    '<!DOCTYPE x [<!ENTITY e "&e;&e;">]><x>&e;</x>',
    '<![CDATA[<participant>]]>',
    '&amp;&lt;&#0;&#x110000;&bogus;',
    '<participant/>',
    '<participant participant_id="p1" participant_id="p2"/>',
    '<nameID aor="x"><aor>y</aor><aor>z</aor></nameID>',
    '<label><label>1</label></label>',
    '<send><x>st1</x></send>',
    '<stream stream_id="__proto__"><label>1</label></stream>',
    '<participant participant_id="constructor"><send>st1</send></participant>',
    '<callData><fromhdr><x/></fromhdr></callData>',
    '<extensiondata><callingParty><x/></callingParty></extensiondata>',
    '<?xml version="1.0"?>',
    '</recording>',
    '<',
    '>',
    '"',
  ),
  weirdText,
  fc.tuple(fc.constantFrom(...XML_TAGS), weirdText).map(([tag, text]) => `<${tag}>${text}</${tag}>`),
  fc
    .tuple(fc.constantFrom(...XML_TAGS), fc.constantFrom(...XML_ATTRS), weirdText)
    .map(([tag, attr, text]) => `<${tag} ${attr}="${text.replace(/"/g, '&quot;')}"/>`),
);

export const xmlEdit: fc.Arbitrary<XmlEdit> = fc.oneof(
  fc.record({ op: fc.constant('text' as const), tag: fc.constantFrom(...XML_TAGS), value: weirdText }),
  fc.record({ op: fc.constant('attr' as const), name: fc.constantFrom(...XML_ATTRS), value: weirdText }),
  fc.record({ op: fc.constant('nest' as const), tag: fc.constantFrom(...XML_TAGS), inner: xmlFragment }),
  fc.record({
    op: fc.constant('insert' as const),
    at: fc.double({ min: 0, max: 1, noNaN: true }),
    text: xmlFragment,
  }),
  fc.record({ op: fc.constant('cut' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }),
);

export function applyXmlEdits(xml: string, edits: readonly XmlEdit[]): string {
  let out = xml;
  for (const edit of edits) {
    switch (edit.op) {
      case 'text':
        out = out.replace(new RegExp(`(<${edit.tag}[^>]*>)[^<]*`), `$1${edit.value}`);
        break;
      case 'attr':
        out = out.replace(new RegExp(`${edit.name}="[^"]*"`), `${edit.name}="${edit.value}"`);
        break;
      case 'nest':
        out = out.replace(new RegExp(`(<${edit.tag}[^>]*>)`), `$1${edit.inner}`);
        break;
      case 'insert': {
        const at = Math.floor(edit.at * out.length);
        out = out.slice(0, at) + edit.text + out.slice(at);
        break;
      }
      case 'cut':
        out = out.slice(0, Math.floor(edit.at * out.length));
        break;
    }
  }
  return out;
}

/** rs-metadata XML: mutated valid metadata (mostly), random markup, or noise. */
export const metadataText: fc.Arbitrary<string> = fc.oneof(
  {
    arbitrary: fc.array(xmlEdit, { minLength: 0, maxLength: 4 }).map((e) => applyXmlEdits(metadataXml(), e)),
    weight: 8,
  },
  { arbitrary: fc.array(xmlFragment, { maxLength: 8 }).map((parts) => parts.join('')), weight: 2 },
  { arbitrary: fc.string({ maxLength: 300 }), weight: 1 },
);

/** A multipart/mixed body with the SDP and the metadata, as an SRC sends it; boundary and parts fuzzable. */
export function multipartBody(boundary: string, sdp: string, xml: string, eol = '\r\n'): string {
  return [
    `--${boundary}`,
    'Content-Type: application/sdp',
    '',
    sdp,
    `--${boundary}`,
    'Content-Type: application/rs-metadata+xml',
    'Content-Disposition: recording-session',
    '',
    xml,
    `--${boundary}--`,
    '',
  ].join(eol);
}

export interface MultipartInput {
  readonly contentType: string;
  readonly body: string;
}

const boundaryText = fc.oneof(
  fc.constantFrom('b1', 'boundary42', 'a"b', '', ' ', '--', '-', '(.*)', '$&', '\\', 'é'),
  weirdText,
);

/** Inputs for splitMultipart: valid multipart mutated (boundary, quoting, parts), or noise. */
export const multipartInput: fc.Arbitrary<MultipartInput> = fc.oneof(
  {
    arbitrary: fc
      .record({
        boundary: fc.oneof(fc.constant('b1'), boundaryText),
        declared: fc.option(boundaryText, { nil: undefined }),
        quoted: fc.boolean(),
        sdp: sdpText,
        xml: metadataText,
        eol: fc.constantFrom('\r\n', '\n'),
        edits: fc.array(textEdit, { maxLength: 2 }),
      })
      .map(({ boundary, declared, quoted, sdp, xml, eol, edits }) => {
        const name = declared ?? boundary;
        return {
          contentType: `multipart/mixed;boundary=${quoted ? `"${name}"` : name}`,
          body: applyTextEdits(Buffer.from(multipartBody(boundary, sdp, xml, eol)), edits).toString('utf8'),
        };
      }),
    weight: 8,
  },
  {
    arbitrary: fc.record({
      contentType: fc.oneof(fc.string(), fc.constant('multipart/mixed; boundary=')),
      body: fc.string({ maxLength: 400 }),
    }),
    weight: 2,
  },
);

// --- SIP messages --------------------------------------------------------------------------

/** A SIP message as lines, for mutation before it is rendered. */
export interface SipDraft {
  readonly start: string;
  readonly headers: readonly (readonly [string, string])[];
  readonly body: string;
}

export type SipTemplate =
  | 'invite'
  | 'siprec'
  | 'ack'
  | 'cancel'
  | 'bye'
  | 'options'
  | 'info'
  | 'update'
  | 'register'
  | 'response-bye'
  | 'response-ringing'
  | 'response-invite';

export const SIP_TEMPLATES: readonly SipTemplate[] = [
  'invite',
  'siprec',
  'ack',
  'cancel',
  'bye',
  'options',
  'info',
  'update',
  'register',
  'response-bye',
  'response-ringing',
  'response-invite',
];

function common(method: string, cseq: number): [string, string][] {
  return [
    ['Via', 'SIP/2.0/{transport} {host}:{port};branch=z9hG4bK{branch};rport'],
    ['Max-Forwards', '70'],
    ['From', '"Fuzz" <sip:+15550001111@{host}>;tag={tag}'],
    ['To', '<sip:voxline@127.0.0.1>'],
    ['Call-ID', '{callId}'],
    ['CSeq', `${cseq} ${method}`],
    ['Contact', '<sip:fuzz@{host}:{port}>'],
  ];
}

/** A valid message of each kind voxline handles (requests as a trunk sends them, and responses). */
export function sipTemplate(kind: SipTemplate): SipDraft {
  switch (kind) {
    case 'invite':
      return {
        start: 'INVITE sip:voxline@127.0.0.1 SIP/2.0',
        headers: [
          ...common('INVITE', 1),
          ['Supported', 'timer'],
          ['Session-Expires', '1800'],
          ['Content-Type', 'application/sdp'],
        ],
        body: `${sdpLines().join('\r\n')}\r\n`,
      };
    case 'siprec':
      return {
        start: 'INVITE sip:srs@127.0.0.1 SIP/2.0',
        headers: [
          ...common('INVITE', 1).map(([n, v]): [string, string] =>
            n === 'Contact' ? [n, '<sip:src@{host}:{port}>;+sip.src'] : [n, v],
          ),
          ['Require', 'siprec'],
          ['Content-Type', 'multipart/mixed;boundary=voxbound'],
        ],
        body: multipartBody('voxbound', `${siprecSdpLines().join('\r\n')}\r\n`, metadataXml()),
      };
    case 'ack':
      return {
        start: 'ACK sip:voxline@127.0.0.1 SIP/2.0',
        headers: common('ACK', 1).map(([n, v]): [string, string] =>
          n === 'To' ? [n, `${v};tag=ffff0000`] : [n, v],
        ),
        body: '',
      };
    case 'cancel':
      return { start: 'CANCEL sip:voxline@127.0.0.1 SIP/2.0', headers: common('CANCEL', 1), body: '' };
    case 'bye':
      return {
        start: 'BYE sip:voxline@127.0.0.1 SIP/2.0',
        headers: common('BYE', 2).map(([n, v]): [string, string] =>
          n === 'To' ? [n, `${v};tag=ffff0000`] : [n, v],
        ),
        body: '',
      };
    case 'options':
      return { start: 'OPTIONS sip:voxline@127.0.0.1 SIP/2.0', headers: common('OPTIONS', 7), body: '' };
    case 'info':
      return {
        start: 'INFO sip:voxline@127.0.0.1 SIP/2.0',
        headers: [
          ...common('INFO', 2).map(([n, v]): [string, string] =>
            n === 'To' ? [n, `${v};tag=ffff0000`] : [n, v],
          ),
          ['Content-Type', 'application/dtmf-relay'],
        ],
        body: 'Signal=7\r\nDuration=160\r\n',
      };
    case 'update':
      return {
        start: 'UPDATE sip:voxline@127.0.0.1 SIP/2.0',
        headers: [
          ...common('UPDATE', 2).map(([n, v]): [string, string] =>
            n === 'To' ? [n, `${v};tag=ffff0000`] : [n, v],
          ),
          ['Content-Type', 'application/sdp'],
        ],
        body: `${sdpLines().join('\r\n')}\r\n`,
      };
    case 'register':
      return { start: 'REGISTER sip:127.0.0.1 SIP/2.0', headers: common('REGISTER', 1), body: '' };
    case 'response-bye':
      return {
        start: 'SIP/2.0 200 OK',
        headers: [
          ['Via', 'SIP/2.0/{transport} 127.0.0.1:5060;branch=z9hG4bK-vx{branch}'],
          ['From', '<sip:voxline@127.0.0.1>;tag={tag}'],
          ['To', '<sip:+15550001111@{host}>;tag=peer'],
          ['Call-ID', '{callId}'],
          ['CSeq', '2 BYE'],
        ],
        body: '',
      };
    case 'response-ringing':
      return {
        start: 'SIP/2.0 180 Ringing',
        headers: [
          ['Via', 'SIP/2.0/{transport} 127.0.0.1:5060;branch=z9hG4bK-vx{branch}'],
          ['From', '<sip:voxline@127.0.0.1>;tag={tag}'],
          ['To', '<sip:+15550001111@{host}>'],
          ['Call-ID', '{callId}'],
          ['CSeq', '1 INVITE'],
        ],
        body: '',
      };
    case 'response-invite':
      return {
        start: 'SIP/2.0 200 OK',
        headers: [
          ['Via', 'SIP/2.0/{transport} 127.0.0.1:5060;branch=z9hG4bK-vx{branch}'],
          ['From', '<sip:voxline@127.0.0.1>;tag={tag}'],
          ['To', '<sip:+15550001111@{host}>;tag=peer'],
          ['Call-ID', '{callId}'],
          ['CSeq', '1 INVITE'],
          ['Content-Type', 'application/sdp'],
        ],
        body: `${sdpLines().join('\r\n')}\r\n`,
      };
  }
}

/** How Content-Length is written: right, left out, or a given (wrong) value. */
export type LengthMode =
  | { readonly kind: 'auto' }
  | { readonly kind: 'omit' }
  | { readonly kind: 'value'; readonly value: string };

export type SipEdit =
  | { readonly op: 'start'; readonly text: string }
  | { readonly op: 'method'; readonly method: string }
  | { readonly op: 'uri'; readonly uri: string }
  | { readonly op: 'set'; readonly name: string; readonly value: string }
  | { readonly op: 'value'; readonly index: number; readonly value: string }
  | { readonly op: 'drop'; readonly index: number }
  | { readonly op: 'repeat'; readonly index: number }
  | { readonly op: 'fold'; readonly index: number }
  | { readonly op: 'compact'; readonly index: number }
  | { readonly op: 'sdp'; readonly edits: readonly SdpEdit[] }
  | { readonly op: 'xml'; readonly edits: readonly XmlEdit[] }
  | { readonly op: 'body'; readonly text: string };

const HEADER_NAMES = [
  'Via',
  'v',
  'From',
  'f',
  'To',
  't',
  'Call-ID',
  'i',
  'CSeq',
  'Contact',
  'm',
  'Content-Type',
  'c',
  'Content-Length',
  'l',
  'Require',
  'Supported',
  'Session-Expires',
  'Record-Route',
  'Route',
  'Authorization',
  'Max-Forwards',
  'Content-Disposition',
  'Allow',
] as const;

const VIA_VALUES = [
  'garbage',
  'SIP/2.0/UDP',
  'SIP/2.0/UDP ',
  '!!',
  'SIP/2.0/UDP [::1',
  'SIP/2.0/UDP host:99999;branch=z9hG4bKx',
  'SIP/2.0/UDP host:abc;branch=z9hG4bKx',
  'SIP/2.0/UDP :5060',
  'SIP/2.0/TCP 127.0.0.1:5060;branch=;rport=x;received',
  'SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1, garbage',
  ', SIP/2.0/UDP 127.0.0.1',
  'SIP / 2.0 / UDP 127.0.0.1 ; branch = x',
] as const;

const CSEQ_VALUES = [
  'not-a-cseq',
  '1',
  'INVITE',
  '99999999999 INVITE',
  '4294967296 INVITE',
  '-1 INVITE',
  '1 BYE',
  '1 ACK',
  '1 invite',
  '1  INVITE extra',
  '',
] as const;

const URI_VALUES = [
  'sip:%zz@127.0.0.1',
  'sip:%@127.0.0.1',
  'sip:%E0%A4%A@127.0.0.1',
  'sip:%C0%AF@127.0.0.1',
  'sip:%00@127.0.0.1',
  'sip:+1555%20000@127.0.0.1;user=phone',
  'sips:x@[::1]:5061',
  'sip:@',
  'sip:',
  'tel:+15550001111',
  'urn:service:sos',
  '*',
  '<sip:a@b>',
] as const;

const headerValue = (name: string): fc.Arbitrary<string> => {
  const lower = name.toLowerCase();
  if (lower === 'via' || lower === 'v') return fc.oneof(fc.constantFrom(...VIA_VALUES), weirdText);
  if (lower === 'cseq')
    return fc.oneof(
      fc.constantFrom(...CSEQ_VALUES),
      weirdNumber.map((n) => `${n} INVITE`),
    );
  if (lower === 'content-length' || lower === 'l' || lower === 'max-forwards' || lower === 'session-expires')
    return weirdNumber;
  return weirdText;
};

export const sipEdit: fc.Arbitrary<SipEdit> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant('start' as const), text: weirdText }), weight: 1 },
  {
    arbitrary: fc.record({
      op: fc.constant('method' as const),
      method: fc.oneof(
        fc.constantFrom(
          'INVITE',
          'ACK',
          'CANCEL',
          'BYE',
          'OPTIONS',
          'INFO',
          'UPDATE',
          'PRACK',
          'invite',
          'X',
        ),
        weirdText,
      ),
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({
      op: fc.constant('uri' as const),
      uri: fc.oneof(
        fc.constantFrom(...URI_VALUES),
        weirdText.map((t) => `sip:${t}@127.0.0.1`),
      ),
    }),
    weight: 2,
  },
  {
    arbitrary: fc
      .constantFrom(...HEADER_NAMES)
      .chain((name) =>
        fc.record({ op: fc.constant('set' as const), name: fc.constant(name), value: headerValue(name) }),
      ),
    weight: 5,
  },
  {
    arbitrary: fc.record({ op: fc.constant('value' as const), index: fc.nat(20), value: weirdText }),
    weight: 2,
  },
  { arbitrary: fc.record({ op: fc.constant('drop' as const), index: fc.nat(20) }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('repeat' as const), index: fc.nat(20) }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('fold' as const), index: fc.nat(20) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('compact' as const), index: fc.nat(20) }), weight: 1 },
  {
    arbitrary: fc.record({
      op: fc.constant('sdp' as const),
      edits: fc.array(sdpEdit, { minLength: 1, maxLength: 3 }),
    }),
    weight: 5,
  },
  {
    arbitrary: fc.record({
      op: fc.constant('xml' as const),
      edits: fc.array(xmlEdit, { minLength: 1, maxLength: 3 }),
    }),
    weight: 3,
  },
  { arbitrary: fc.record({ op: fc.constant('body' as const), text: weirdText }), weight: 1 },
);

const COMPACT: Record<string, string> = {
  via: 'v',
  from: 'f',
  to: 't',
  'call-id': 'i',
  contact: 'm',
  'content-type': 'c',
  'content-length': 'l',
};

export function applySipEdits(draft: SipDraft, edits: readonly SipEdit[]): SipDraft {
  let { start, body } = draft;
  const headers = draft.headers.map(([n, v]): [string, string] => [n, v]);
  const pick = (index: number) => (headers.length === 0 ? -1 : index % headers.length);
  for (const edit of edits) {
    switch (edit.op) {
      case 'start':
        start = edit.text;
        break;
      case 'method':
        start = start.replace(/^\S+/, edit.method);
        break;
      case 'uri':
        start = start.startsWith('SIP/2.0') ? start : start.replace(/^(\S+) \S+/, `$1 ${edit.uri}`);
        break;
      case 'set': {
        const i = headers.findIndex(([n]) => n.toLowerCase() === edit.name.toLowerCase());
        if (i >= 0) headers[i] = [headers[i][0], edit.value];
        else headers.push([edit.name, edit.value]);
        break;
      }
      case 'value': {
        const i = pick(edit.index);
        if (i >= 0) headers[i] = [headers[i][0], edit.value];
        break;
      }
      case 'drop': {
        const i = pick(edit.index);
        if (i >= 0) headers.splice(i, 1);
        break;
      }
      case 'repeat': {
        const i = pick(edit.index);
        if (i >= 0) headers.splice(i, 0, headers[i]);
        break;
      }
      case 'fold': {
        const i = pick(edit.index);
        if (i >= 0) headers[i] = [headers[i][0], headers[i][1].replace(/;/, '\r\n ;')];
        break;
      }
      case 'compact': {
        const i = pick(edit.index);
        if (i >= 0) headers[i] = [COMPACT[headers[i][0].toLowerCase()] ?? headers[i][0], headers[i][1]];
        break;
      }
      case 'sdp': {
        const sdp = body.includes('--voxbound')
          ? (/Content-Type: application\/sdp\r\n\r\n([\s\S]*?)\r\n--voxbound/.exec(body)?.[1] ?? '')
          : body;
        if (!sdp.startsWith('v=')) break;
        const edited = `${applySdpEdits(sdp.replace(/\r\n$/, '').split('\r\n'), edit.edits).join('\r\n')}\r\n`;
        body = body.replace(sdp, () => edited);
        break;
      }
      case 'xml': {
        const xml = /<\?xml[\s\S]*?<\/recording>/.exec(body)?.[0];
        if (xml) body = body.replace(xml, () => applyXmlEdits(xml, edit.edits));
        break;
      }
      case 'body':
        body = edit.text;
        break;
    }
  }
  return { start, headers, body };
}

/** The draft as bytes: CRLF line ends, Content-Length per `length`. Placeholders are left in. */
export function renderSip(draft: SipDraft, length: LengthMode): string {
  const lines = [draft.start, ...draft.headers.map(([n, v]) => `${n}: ${v}`)];
  if (length.kind === 'value') lines.push(`Content-Length: ${length.value}`);
  if (length.kind === 'auto') lines.push(`Content-Length: {length}`);
  return `${lines.join('\r\n')}\r\n\r\n${draft.body}`;
}

/** One SIP input: a mutated template, or noise. `text` holds placeholders; `edits` apply to the bytes. */
export interface SipInput {
  readonly template: SipTemplate | 'noise';
  readonly text: string;
  readonly edits: readonly TextEdit[];
}

export const lengthMode: fc.Arbitrary<LengthMode> = fc.oneof(
  { arbitrary: fc.constant({ kind: 'auto' as const }), weight: 8 },
  { arbitrary: fc.constant({ kind: 'omit' as const }), weight: 1 },
  { arbitrary: weirdNumber.map((value) => ({ kind: 'value' as const, value })), weight: 2 },
);

export const sipInput: fc.Arbitrary<SipInput> = fc.oneof(
  {
    arbitrary: fc
      .record({
        template: fc.constantFrom(...SIP_TEMPLATES),
        edits: fc.array(sipEdit, { minLength: 0, maxLength: 4 }),
        length: lengthMode,
        bytes: fc.oneof(
          { arbitrary: fc.constant([] as TextEdit[]), weight: 4 },
          { arbitrary: fc.array(textEdit, { minLength: 1, maxLength: 2 }), weight: 1 },
        ),
      })
      .map(({ template, edits, length, bytes }) => ({
        template,
        text: renderSip(applySipEdits(sipTemplate(template), edits), length),
        edits: bytes,
      })),
    weight: 12,
  },
  {
    arbitrary: fc
      .string({ unit: 'binary-ascii', maxLength: 400 })
      .map((text) => ({ template: 'noise' as const, text, edits: [] })),
    weight: 1,
  },
  {
    arbitrary: fc.uint8Array({ maxLength: 600 }).map((bytes) => ({
      template: 'noise' as const,
      text: '',
      edits: [{ op: 'bytes' as const, at: 0, bytes }],
    })),
    weight: 1,
  },
);

/** Values for the placeholders of one input. */
export interface Fill {
  readonly host: string;
  readonly port: number;
  readonly transport: 'UDP' | 'TCP';
  readonly callId: string;
  readonly branch: string;
  readonly tag: string;
  readonly mediaPort: number;
  readonly mediaPort2: number;
}

export const LOOPBACK: Fill = {
  host: '127.0.0.1',
  port: 5060,
  transport: 'UDP',
  callId: 'fuzz@127.0.0.1',
  branch: '0',
  tag: '1',
  mediaPort: 49170,
  mediaPort2: 49172,
};

export function fill(text: string, f: Fill): string {
  return text.replace(
    /\{(host|port|transport|callId|branch|tag|mediaPort2|mediaPort)\}/g,
    (_, key: keyof Fill) => String(f[key]),
  );
}

/** The input as bytes on the wire: placeholders filled, Content-Length computed, then byte edits. */
export function sipBytes(input: SipInput, f: Fill): Buffer {
  let text = fill(input.text, f);
  const end = text.indexOf('\r\n\r\n');
  if (text.includes('{length}') && end >= 0) {
    text = text.replace('{length}', String(Buffer.byteLength(text.slice(end + 4))));
  }
  return applyTextEdits(Buffer.from(text), input.edits);
}

// --- RTP and RFC 4733 -----------------------------------------------------------------------

export interface RtpFields {
  readonly version: number;
  readonly padding: boolean;
  readonly extension: boolean;
  readonly csrcCount: number;
  readonly marker: boolean;
  readonly payloadType: number;
  readonly sequence: number;
  readonly timestamp: number;
  readonly ssrc: number;
  readonly extensionWords: number;
  readonly declaredExtensionWords: number;
  readonly payload: Uint8Array;
  readonly paddingCount: number;
}

/** Writes the header fields as given, lying where told (CSRC count, extension length, padding). */
export function rtpBytes(f: RtpFields): Buffer {
  const header = Buffer.alloc(12);
  header[0] =
    ((f.version & 3) << 6) | (f.padding ? 0x20 : 0) | (f.extension ? 0x10 : 0) | (f.csrcCount & 0x0f);
  header[1] = (f.marker ? 0x80 : 0) | (f.payloadType & 0x7f);
  header.writeUInt16BE(f.sequence & 0xffff, 2);
  header.writeUInt32BE(f.timestamp >>> 0, 4);
  header.writeUInt32BE(f.ssrc >>> 0, 8);
  const csrc = Buffer.alloc(4 * Math.min(f.csrcCount, 3));
  const ext = f.extension ? Buffer.alloc(4 + 4 * f.extensionWords) : Buffer.alloc(0);
  if (f.extension) ext.writeUInt16BE(f.declaredExtensionWords & 0xffff, 2);
  const pad = f.padding ? Buffer.alloc(Math.max(1, f.paddingCount & 0xff)) : Buffer.alloc(0);
  if (pad.length > 0) pad[pad.length - 1] = f.paddingCount & 0xff;
  return Buffer.concat([header, csrc, ext, Buffer.from(f.payload), pad]);
}

const telephoneEventPayload = fc
  .record({
    event: fc.oneof(fc.integer({ min: 0, max: 16 }), fc.integer({ min: 0, max: 255 })),
    end: fc.boolean(),
    volume: fc.integer({ min: 0, max: 63 }),
    duration: fc.integer({ min: 0, max: 0xffff }),
    extra: fc.uint8Array({ maxLength: 4 }),
    cut: fc.integer({ min: 0, max: 4 }),
  })
  .map(({ event, end, volume, duration, extra, cut }) => {
    const p = Buffer.from([event, (end ? 0x80 : 0) | volume, duration >> 8, duration & 0xff, ...extra]);
    return p.subarray(0, p.length - (cut === 4 ? 0 : cut)); // sometimes cut short
  });

/** RTP fields near what a peer sends (PCMU or telephone-event), with lies and extremes mixed in. */
export const rtpFields: fc.Arbitrary<RtpFields> = fc.record({
  version: fc.oneof(
    { arbitrary: fc.constant(2), weight: 8 },
    { arbitrary: fc.integer({ min: 0, max: 3 }), weight: 1 },
  ),
  padding: fc.oneof(
    { arbitrary: fc.constant(false), weight: 5 },
    { arbitrary: fc.constant(true), weight: 1 },
  ),
  extension: fc.oneof(
    { arbitrary: fc.constant(false), weight: 5 },
    { arbitrary: fc.constant(true), weight: 1 },
  ),
  csrcCount: fc.oneof(
    { arbitrary: fc.constant(0), weight: 5 },
    { arbitrary: fc.integer({ min: 0, max: 15 }), weight: 1 },
  ),
  marker: fc.boolean(),
  payloadType: fc.oneof(
    { arbitrary: fc.constantFrom(0, 101), weight: 6 },
    { arbitrary: fc.constantFrom(8, 13, 72, 76, 96, 127), weight: 1 },
    { arbitrary: fc.integer({ min: 0, max: 127 }), weight: 1 },
  ),
  sequence: fc.oneof(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 0xffff })),
  timestamp: fc.oneof(
    fc.integer({ min: 0, max: 8000 }),
    fc.constantFrom(0, 0x7fffffff, 0x80000000, 0xffffffff),
    fc.integer({ min: 0, max: 0xffffffff }),
  ),
  ssrc: fc.oneof(fc.constant(0x1234), fc.integer({ min: 0, max: 0xffffffff })),
  extensionWords: fc.integer({ min: 0, max: 3 }),
  declaredExtensionWords: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constant(0xffff)),
  payload: fc.oneof(
    { arbitrary: fc.uint8Array({ minLength: 160, maxLength: 160 }), weight: 3 },
    { arbitrary: telephoneEventPayload.map((p) => new Uint8Array(p)), weight: 3 },
    { arbitrary: fc.uint8Array({ maxLength: 1400 }), weight: 2 },
    { arbitrary: fc.constant(new Uint8Array(0)), weight: 1 },
  ),
  paddingCount: fc.integer({ min: 0, max: 255 }),
});

/** A datagram for an RTP port: a (possibly lying) RTP packet, RTCP-looking bytes, or noise. */
export const rtpDatagram: fc.Arbitrary<Uint8Array> = fc.oneof(
  { arbitrary: rtpFields.map((f) => new Uint8Array(rtpBytes(f))), weight: 8 },
  {
    arbitrary: fc
      .tuple(fc.integer({ min: 200, max: 204 }), fc.uint8Array({ minLength: 6, maxLength: 60 }))
      .map(([pt, rest]) => Uint8Array.from([0x80, pt, ...rest])),
    weight: 1,
  },
  { arbitrary: fc.uint8Array({ maxLength: 200 }), weight: 2 },
);

// --- AudioSocket ----------------------------------------------------------------------------

export type AudioSocketPiece =
  | { readonly kind: 'frame'; readonly type: number; readonly payload: Uint8Array }
  /** A header whose length says more than follows. */
  | { readonly kind: 'short'; readonly type: number; readonly declared: number; readonly payload: Uint8Array }
  | { readonly kind: 'raw'; readonly bytes: Uint8Array };

export interface AudioSocketInput {
  readonly uuid: 'valid' | 'short' | 'none';
  readonly uuidBytes: Uint8Array;
  readonly pieces: readonly AudioSocketPiece[];
  /** Where the byte stream is cut into writes (fractions of its length). */
  readonly cuts: readonly number[];
  readonly ending: 'end' | 'destroy';
}

const audioType = fc.oneof(
  { arbitrary: fc.constantFrom(0x10, 0x12, 0x16), weight: 4 },
  { arbitrary: fc.integer({ min: 0x10, max: 0x18 }), weight: 2 },
  { arbitrary: fc.constantFrom(0x00, 0x01, 0x03, 0xff), weight: 2 },
  { arbitrary: fc.integer({ min: 0, max: 255 }), weight: 1 },
);

const audioPayload = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 400 }).map((n) => new Uint8Array(2 * n).fill(0x11)), weight: 4 },
  { arbitrary: fc.uint8Array({ maxLength: 700 }), weight: 3 },
  {
    arbitrary: fc.constantFrom('0', '#', 'D', 'x', '', '12').map((d) => new Uint8Array(Buffer.from(d))),
    weight: 2,
  },
  { arbitrary: fc.constant(new Uint8Array(0xffff)), weight: 1 },
);

const audioSocketPiece: fc.Arbitrary<AudioSocketPiece> = fc.oneof(
  {
    arbitrary: fc.record({ kind: fc.constant('frame' as const), type: audioType, payload: audioPayload }),
    weight: 8,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('short' as const),
      type: audioType,
      declared: fc.integer({ min: 1, max: 0xffff }),
      payload: fc.uint8Array({ maxLength: 20 }),
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({ kind: fc.constant('raw' as const), bytes: fc.uint8Array({ maxLength: 64 }) }),
    weight: 1,
  },
);

export const audioSocketInput: fc.Arbitrary<AudioSocketInput> = fc.record({
  uuid: fc.oneof(
    { arbitrary: fc.constant('valid' as const), weight: 8 },
    { arbitrary: fc.constantFrom('short' as const, 'none' as const), weight: 1 },
  ),
  uuidBytes: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  pieces: fc.array(audioSocketPiece, { maxLength: 8 }),
  cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 4 }),
  ending: fc.oneof(
    { arbitrary: fc.constant('end' as const), weight: 4 },
    { arbitrary: fc.constant('destroy' as const), weight: 1 },
  ),
});

function frame(type: number, payload: Uint8Array, declared = payload.length): Buffer {
  const out = Buffer.alloc(3 + payload.length);
  out[0] = type;
  out.writeUInt16BE(declared & 0xffff, 1);
  out.set(payload, 3);
  return out;
}

/** The input's bytes as a list of writes. */
export function audioSocketWrites(input: AudioSocketInput): Buffer[] {
  const parts: Buffer[] = [];
  if (input.uuid === 'valid') parts.push(frame(0x01, input.uuidBytes));
  if (input.uuid === 'short') parts.push(frame(0x01, input.uuidBytes.subarray(0, 7)));
  for (const piece of input.pieces) {
    if (piece.kind === 'frame') parts.push(frame(piece.type, piece.payload));
    else if (piece.kind === 'short') parts.push(frame(piece.type, piece.payload, piece.declared));
    else parts.push(Buffer.from(piece.bytes));
  }
  const bytes = Buffer.concat(parts);
  const cuts = [...new Set(input.cuts.map((c) => Math.floor(c * bytes.length)))].sort((a, b) => a - b);
  const writes: Buffer[] = [];
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    if (cut > at) writes.push(bytes.subarray(at, cut));
    at = Math.max(at, cut);
  }
  return writes;
}

// --- Twilio Media Streams ---------------------------------------------------------------------

/** A valid stream for call `{sid}`: start, media, dtmf, mark, stop (JSON values, before mutation). */
export function twilioStream(frames = 3): Record<string, unknown>[] {
  const streamSid = 'MZ{sid}';
  const media = Array.from({ length: frames }, (_, i) => ({
    event: 'media',
    sequenceNumber: String(i + 2),
    streamSid,
    media: {
      track: 'inbound',
      chunk: String(i + 1),
      timestamp: String(i * 20),
      payload: Buffer.alloc(160, 0x55 + i).toString('base64'),
    },
  }));
  return [
    { event: 'connected', protocol: 'Call', version: '1.0.0' },
    {
      event: 'start',
      sequenceNumber: '1',
      streamSid,
      start: {
        accountSid: 'ACfuzz',
        streamSid,
        callSid: 'CA{sid}',
        tracks: ['inbound', 'outbound'],
        mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
        customParameters: { voxlineMode: 'transcribe', inboundLabel: 'caller', outboundLabel: 'agent' },
      },
    },
    ...media,
    {
      event: 'dtmf',
      sequenceNumber: String(frames + 2),
      streamSid,
      dtmf: { track: 'inbound_track', digit: '5' },
    },
    { event: 'mark', sequenceNumber: String(frames + 3), streamSid, mark: { name: 'm1' } },
    {
      event: 'stop',
      sequenceNumber: String(frames + 4),
      streamSid,
      stop: { accountSid: 'ACfuzz', callSid: 'CA{sid}' },
    },
  ];
}

/** JSON paths into the stream's messages that voxline reads. */
const TWILIO_PATHS = [
  ['event'],
  ['sequenceNumber'],
  ['streamSid'],
  ['start', 'callSid'],
  ['start', 'streamSid'],
  ['start', 'accountSid'],
  ['start', 'tracks'],
  ['start', 'mediaFormat'],
  ['start', 'mediaFormat', 'encoding'],
  ['start', 'mediaFormat', 'sampleRate'],
  ['start', 'mediaFormat', 'channels'],
  ['start', 'customParameters'],
  ['start', 'customParameters', 'voxlineMode'],
  ['start', 'customParameters', 'inboundLabel'],
  ['start', 'customParameters', 'outboundLabel'],
  ['media', 'track'],
  ['media', 'chunk'],
  ['media', 'timestamp'],
  ['media', 'payload'],
  ['dtmf', 'digit'],
  ['dtmf', 'track'],
  ['mark', 'name'],
  ['stop', 'callSid'],
] as const;

const TWILIO_VALUES: readonly unknown[] = [
  null,
  true,
  0,
  -1,
  1e15,
  Number.MAX_SAFE_INTEGER,
  '',
  '0',
  '-1',
  '1e15',
  '999999999999999',
  '99999999999999999999',
  '100000000',
  'NaN',
  'agent',
  'transcribe',
  'inbound',
  'outbound',
  'both',
  'audio/x-mulaw',
  'audio/x-l16',
  [],
  ['inbound'],
  ['outbound'],
  ['inbound', 'inbound'],
  ['inbound', 'outbound', 'inbound'],
  {},
  { __proto__: null },
  'ab!d',
  '////',
  '=',
  'A'.repeat(70),
  '\ud800',
];

const twilioValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.constantFrom(...TWILIO_VALUES), weight: 4 },
  { arbitrary: fc.jsonValue({ maxDepth: 2 }), weight: 2 },
  { arbitrary: weirdText, weight: 2 },
  { arbitrary: fc.base64String({ maxLength: 400 }), weight: 1 },
);

export type TwilioEdit =
  | {
      readonly op: 'set';
      readonly message: number;
      readonly path: readonly string[];
      readonly value: unknown;
    }
  | { readonly op: 'delete'; readonly message: number; readonly path: readonly string[] }
  | { readonly op: 'drop'; readonly message: number }
  | { readonly op: 'repeat'; readonly message: number }
  | { readonly op: 'swap'; readonly a: number; readonly b: number };

const twilioEdit: fc.Arbitrary<TwilioEdit> = fc.oneof(
  {
    arbitrary: fc.record({
      op: fc.constant('set' as const),
      message: fc.nat(20),
      path: fc.constantFrom(...TWILIO_PATHS),
      value: twilioValue,
    }),
    weight: 6,
  },
  {
    arbitrary: fc.record({
      op: fc.constant('delete' as const),
      message: fc.nat(20),
      path: fc.constantFrom(...TWILIO_PATHS),
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ op: fc.constant('drop' as const), message: fc.nat(20) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('repeat' as const), message: fc.nat(20) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('swap' as const), a: fc.nat(20), b: fc.nat(20) }), weight: 1 },
);

export function applyTwilioEdits(messages: readonly unknown[], edits: readonly TwilioEdit[]): unknown[] {
  const out = messages.map((m) => structuredClone(m));
  for (const edit of edits) {
    if (out.length === 0) break;
    switch (edit.op) {
      case 'set':
      case 'delete': {
        let node = out[edit.message % out.length];
        if (!node || typeof node !== 'object') break;
        for (const key of edit.path.slice(0, -1)) {
          const next: unknown = (node as Record<string, unknown>)[key];
          if (!next || typeof next !== 'object') break;
          node = next;
        }
        const last = edit.path[edit.path.length - 1];
        if (node && typeof node === 'object') {
          if (edit.op === 'set') (node as Record<string, unknown>)[last] = edit.value;
          else delete (node as Record<string, unknown>)[last];
        }
        break;
      }
      case 'drop':
        out.splice(edit.message % out.length, 1);
        break;
      case 'repeat': {
        const i = edit.message % out.length;
        out.splice(i, 0, structuredClone(out[i]));
        break;
      }
      case 'swap': {
        const a = edit.a % out.length;
        const b = edit.b % out.length;
        [out[a], out[b]] = [out[b], out[a]];
        break;
      }
    }
  }
  return out;
}

/** One frame on the media socket: a text frame (JSON or not) or a binary one. */
export type TwilioFrame = { readonly text: string } | { readonly binary: Uint8Array };

/** Frames for one media stream: a mutated valid stream (mostly), random JSON, or noise. */
export const twilioFrames: fc.Arbitrary<TwilioFrame[]> = fc.oneof(
  {
    arbitrary: fc
      .tuple(fc.integer({ min: 0, max: 4 }), fc.array(twilioEdit, { minLength: 0, maxLength: 4 }))
      .map(([frames, edits]) =>
        applyTwilioEdits(twilioStream(frames), edits).map((m) => ({
          text: JSON.stringify(m) ?? 'undefined',
        })),
      ),
    weight: 8,
  },
  {
    arbitrary: fc.array(
      fc.oneof(
        fc.jsonValue({ maxDepth: 3 }).map((v) => ({ text: JSON.stringify(v) })),
        fc.string({ maxLength: 200 }).map((text) => ({ text })),
        fc.uint8Array({ maxLength: 64 }).map((binary) => ({ binary })),
      ),
      { maxLength: 6 },
    ),
    weight: 2,
  },
);

// --- HTTP ----------------------------------------------------------------------------------

/** encodeURIComponent, for text with lone surrogates too (replaced: they have no UTF-8 form). */
const encode = (text: string) => encodeURIComponent(text.replace(/[\ud800-\udfff]/g, '\ufffd'));

export interface HttpInput {
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly contentType: string | undefined;
  readonly body: Uint8Array | string | undefined;
  readonly auth: 'admin' | 'wrong' | 'none';
  readonly signature: 'valid' | 'wrong' | 'none';
  readonly extraHeaders: readonly (readonly [string, string])[];
}

const PATHS = [
  '/healthz',
  '/readyz',
  '/metrics',
  '/v1/calls',
  '/v1/calls/{sid}',
  '/v1/calls/{sid}/transcript',
  '/v1/calls/{ended}/events',
  '/v1/calls/{sid}/recording',
  '/v1/calls/{ended}/recording',
  '/v1/webhooks/deliveries',
  '/v1/webhooks/deliveries/1/retry',
  '/v1/webhooks/deliveries/{x}/retry',
  '/twilio/voice',
  '/twilio/status',
  '/twilio/media',
  '/',
  '/nope',
] as const;

const pathSegment = fc.oneof(
  fc.constantFrom(
    '%zz',
    '%',
    '%00',
    '%2F',
    '..',
    '.',
    '',
    'A'.repeat(3000),
    'CAnone',
    '1e15',
    '-1',
    '__proto__',
  ),
  fc.string({ maxLength: 20 }).map((s) => encode(s)),
);

const queryString = fc.oneof(
  fc.constant(''),
  fc.constantFrom(
    '?state=all',
    '?state=ended',
    '?state=bogus',
    '?mode=agent',
    '?mode=transcribe',
    '?mode=%zz',
    '?mode=agent&mode=transcribe',
    '?status=failed&limit=1',
    '?limit=0',
    '?limit=1e15',
    '?limit=-1',
    '?limit=abc',
    '?status=pending&status=failed',
    '?%zz=1',
    '?a[b]=1',
    '?__proto__[x]=1',
  ),
  fc
    .array(fc.tuple(fc.constantFrom('state', 'mode', 'status', 'limit', 'x'), weirdText), { maxLength: 3 })
    .map((pairs) => `?${pairs.map(([k, v]) => `${k}=${encode(v)}`).join('&')}`),
);

const FORM_KEYS = [
  'CallSid',
  'From',
  'To',
  'Direction',
  'StreamEvent',
  'CallStatus',
  'StreamSid',
  'StreamError',
  'Timestamp',
  'x',
];

const formBody = fc
  .array(fc.tuple(fc.constantFrom(...FORM_KEYS), fc.oneof(weirdText, fc.constant('{sid}'))), { maxLength: 6 })
  .map((pairs) => pairs.map(([k, v]) => `${encode(k)}=${encode(v)}`).join('&'));

const httpBody: fc.Arbitrary<Uint8Array | string | undefined> = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 2 },
  { arbitrary: formBody, weight: 4 },
  { arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)), weight: 2 },
  { arbitrary: fc.string({ maxLength: 300 }), weight: 2 },
  { arbitrary: fc.uint8Array({ maxLength: 300 }), weight: 1 },
  { arbitrary: fc.constantFrom('{"a":', '[', 'a=%zz&b=%', '\u0000', '{"__proto__":{"x":1}}'), weight: 1 },
  { arbitrary: fc.constant('x'.repeat(300 * 1024)), weight: 1 },
);

const contentType = fc.oneof(
  fc.constantFrom(
    undefined,
    'application/x-www-form-urlencoded',
    'application/x-www-form-urlencoded; charset=utf-16',
    'application/json',
    'application/json; charset=latin1',
    'text/plain',
    'text/xml',
    'multipart/form-data; boundary=x',
    'application/octet-stream',
    '',
    ';',
    'application/json; charset="',
  ),
  // Bytes a client can put in a header (Node refuses controls and characters above U+00FF).
  weirdText.map((t) => t.replace(/[^\t\x20-\x7e\x80-\xff]/g, '?')),
);

const extraHeaders = fc.array(
  fc.tuple(
    fc.constantFrom('last-event-id', 'content-encoding', 'x-forwarded-proto', 'accept'),
    fc
      .oneof(fc.constantFrom('gzip', 'br', 'https', '1e15', '-1', 'NaN'), weirdText)
      .map((t) => t.replace(/[^\x20-\x7e]/g, '')),
  ),
  { maxLength: 2 },
);

const mostly = <T>(usual: T, others: fc.Arbitrary<T>) =>
  fc.oneof({ arbitrary: fc.constant(usual), weight: 5 }, { arbitrary: others, weight: 1 });

/** A Twilio webhook as Twilio sends it (signed form POST), with its fields fuzzed. */
const twilioWebhook: fc.Arbitrary<HttpInput> = fc.record({
  method: mostly('POST', fc.constantFrom('GET', 'PUT')),
  path: fc.constantFrom('/twilio/voice', '/twilio/status'),
  query: mostly(
    '',
    fc.constantFrom('?mode=agent', '?mode=transcribe', '?mode=%zz', '?mode=x&mode=agent', '?x=1'),
  ),
  contentType: mostly('application/x-www-form-urlencoded', contentType),
  body: fc.oneof({ arbitrary: formBody, weight: 5 }, { arbitrary: httpBody, weight: 1 }),
  auth: fc.constant('none' as const),
  signature: mostly('valid' as const, fc.constantFrom('wrong' as const, 'none' as const)),
  extraHeaders,
});

/** An admin API request with the token (mostly), on the paths and queries it serves. */
const adminRequest: fc.Arbitrary<HttpInput> = fc.record({
  method: mostly('GET', fc.constantFrom('POST', 'DELETE', 'HEAD')),
  path: fc.oneof(
    fc.constantFrom(
      '/v1/calls',
      '/v1/calls/{sid}',
      '/v1/calls/{ended}',
      '/v1/calls/{sid}/transcript',
      '/v1/calls/{ended}/transcript',
      '/v1/calls/{ended}/events',
      '/v1/calls/{sid}/recording',
      '/v1/calls/{ended}/recording',
      '/v1/webhooks/deliveries',
      '/v1/webhooks/deliveries/1/retry',
      '/v1/webhooks/deliveries/{x}/retry',
      '/healthz',
      '/readyz',
      '/metrics',
    ),
    pathSegment.map((segment) => `/v1/calls/${segment}`),
    pathSegment.map((segment) => `/v1/webhooks/deliveries/${segment}/retry`),
  ),
  query: queryString,
  contentType: mostly(undefined, contentType),
  body: mostly(undefined, httpBody),
  auth: mostly('admin' as const, fc.constantFrom('wrong' as const, 'none' as const)),
  signature: fc.constant('none' as const),
  extraHeaders,
});

/** Anything at all: method, path, type and body drawn independently. */
const anyRequest: fc.Arbitrary<HttpInput> = fc.record({
  method: fc.oneof(
    { arbitrary: fc.constantFrom('GET', 'POST'), weight: 6 },
    { arbitrary: fc.constantFrom('PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'), weight: 2 },
  ),
  path: fc.oneof(
    { arbitrary: fc.constantFrom(...PATHS), weight: 6 },
    {
      arbitrary: fc
        .tuple(fc.constantFrom('/v1/calls/', '/v1/webhooks/deliveries/', '/twilio/', '/'), pathSegment)
        .map(([a, b]) => a + b),
      weight: 2,
    },
  ),
  query: queryString,
  contentType,
  body: httpBody,
  auth: fc.constantFrom('admin' as const, 'wrong' as const, 'none' as const),
  signature: fc.constantFrom('valid' as const, 'wrong' as const, 'none' as const),
  extraHeaders,
});

export const httpInput: fc.Arbitrary<HttpInput> = fc.oneof(
  { arbitrary: twilioWebhook, weight: 4 },
  { arbitrary: adminRequest, weight: 4 },
  { arbitrary: anyRequest, weight: 2 },
);

// --- configuration ------------------------------------------------------------------------

/** Settings whose values loadConfig parses itself (beyond the schema's types). */
export const ENV_KEYS = [
  'PORT',
  'HOST',
  'PUBLIC_URL',
  'TWILIO_AUTH_TOKEN',
  'TWILIO_VALIDATE',
  'LOG_LEVEL',
  'CALL_MODE',
  'TWILIO_DIAL',
  'TWILIO_CONTINUE_URL',
  'LEG_LABEL_INBOUND',
  'LEG_LABEL_OUTBOUND',
  'REORDER_WINDOW_MS',
  'MAX_GAP_FILL_MS',
  'MEDIA_IDLE_TIMEOUT_MS',
  'MAX_MESSAGE_BYTES',
  'ADMIN_TOKEN',
  'SIP_PORT',
  'SIP_BIND',
  'SIP_PUBLIC_HOST',
  'SIP_RTP_PORTS',
  'SIP_ALLOW',
  'SIP_ROUTES',
  'SIP_MAX_CALLS',
  'SIP_AUTH_USER',
  'SIP_AUTH_PASSWORD',
  'SIPREC_CALLER_LABEL',
  'AUDIOSOCKET_PORT',
  'AUDIOSOCKET_ALLOW',
  'AUDIOSOCKET_MODE',
  'AUDIOSOCKET_PAIR_LEGS',
  'ASR_ENGINE',
  'VLLM_URL',
  'MISTRAL_URL',
  'HF_ENDPOINT',
  'VAD_THRESHOLD',
  'UTTERANCE_MAX_MS',
  'ASR_BUFFER_MS',
  'WEBHOOK_URL',
  'WEBHOOK_SECRET',
  'WEBHOOK_EVENTS',
  'WEBHOOK_TIMEOUT_MS',
  'OUTBOX_SYNC',
  'RECORDING_FORMAT',
  'LLM_BASE_URL',
  'LLM_TEMPERATURE',
  'AGENT_TRANSFER_TARGETS',
  'AGENT_WEBHOOK_URL',
  'AGENT_WEBHOOK_SECRET',
  'TTS_ENGINE',
] as const;

const ENV_VALUES = [
  'true',
  'false',
  'yes',
  '1',
  '0',
  'agent',
  'transcribe',
  'none',
  'local',
  'vllm',
  'http://127.0.0.1:9',
  'https://example.com',
  'https://example.com/path?q',
  'ftp://x',
  'http://',
  'ws://gpu:8000',
  '127.0.0.1',
  '::1',
  '10.0.0.0/8',
  '10.0.0.0/33',
  '::/129',
  '1.2.3.4/',
  '/8',
  '1.2.3.4/8/9',
  '20000-30000',
  '30000-20000',
  '1-2',
  '65534-65535',
  '99999-100000',
  'support=agent,*=transcribe',
  'x=y',
  '=agent',
  '10.0.0.5=2,1',
  'nothost=2',
  `whsec_${Buffer.alloc(32, 1).toString('base64')}`,
  'whsec_',
  'whsec_!!',
  'call.started,transcript.final',
  'bogus.event',
  ',',
  'full',
  'pcm16',
  'mulaw',
  'flite',
  'a-very-long-admin-token-0123456789',
] as const;

export const envValue: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...ENV_VALUES), weight: 4 },
  { arbitrary: weirdNumber, weight: 3 },
  { arbitrary: weirdText, weight: 2 },
);

export const envInput: fc.Arbitrary<Record<string, string>> = fc
  .array(fc.tuple(fc.constantFrom(...ENV_KEYS), envValue), { maxLength: 8 })
  .map((pairs) => Object.fromEntries(pairs));

/** A webhooks file: a valid one mutated, random YAML-ish text, or random JSON. */
export const webhooksFileText: fc.Arbitrary<string> = fc.oneof(
  {
    arbitrary: fc
      .record({
        id: fc.oneof(fc.constant('main'), weirdText),
        url: fc.oneof(fc.constant('https://hooks.example/voxline'), weirdText),
        secret: fc.oneof(fc.constant(`whsec_${Buffer.alloc(32, 3).toString('base64')}`), weirdText),
        events: fc.oneof(fc.constant(['call.started', 'call.ended']), fc.array(weirdText, { maxLength: 3 })),
        extra: fc.option(
          fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 2 }),
          {
            nil: undefined,
          },
        ),
        count: fc.integer({ min: 0, max: 3 }),
      })
      .map(({ id, url, secret, events, extra, count }) =>
        JSON.stringify({
          endpoints: Array.from({ length: count }, () => ({ id, url, secret, events, ...extra })),
        }),
      ),
    weight: 4,
  },
  { arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)), weight: 2 },
  {
    arbitrary: fc.constantFrom(
      'endpoints:\n  - url: https://x.example\n    secret: whsec_AAAA\n',
      'endpoints: &a [*a]\n',
      'a: &a ["x","x"]\nb: &b [*a,*a,*a,*a]\nc: [*b,*b,*b,*b]\nendpoints: []\n',
      '!!binary AAAA',
      'endpoints: !!js/function "x"',
      '---\n---\n',
      '\t\t:',
      'endpoints:\n  - __proto__: {url: 1}\n',
    ),
    weight: 1,
  },
  { arbitrary: fc.string({ maxLength: 200 }), weight: 2 },
);

// --- Browser calls -------------------------------------------------------------------------

/** One message a page (or anything holding a session) sends on GET /browser/call. */
export type BrowserFrame = { readonly text: string } | { readonly binary: Uint8Array };

export interface BrowserInput {
  readonly frames: readonly BrowserFrame[];
  /** How the page leaves: a close frame, or the TCP connection cut. */
  readonly ending: 'close' | 'terminate';
}

const anyJson = fc.jsonValue({ maxDepth: 2 });

/** A start message with each field valid, absent, or replaced by any JSON value. */
const browserStart = fc
  .record(
    {
      mode: fc.oneof(fc.constantFrom('transcribe', 'agent'), anyJson),
      channels: fc.oneof(fc.constantFrom(1, 2), anyJson),
      sampleRate: fc.oneof(fc.constant(16_000), anyJson),
      name: fc.oneof(fc.string({ maxLength: 130 }), anyJson),
      parameters: fc.oneof(
        fc.dictionary(fc.string({ maxLength: 70 }), fc.string({ maxLength: 600 }), { maxKeys: 40 }),
        anyJson,
      ),
    },
    { requiredKeys: [] },
  )
  .map((fields) => ({ text: JSON.stringify({ type: 'start', ...fields }) }));

const browserMessage: fc.Arbitrary<BrowserFrame> = fc.oneof(
  { arbitrary: browserStart, weight: 2 },
  // Audio: whole frames, odd lengths, empty, up to just over a second of stereo.
  {
    arbitrary: fc
      .oneof(fc.integer({ min: 0, max: 2000 }), fc.integer({ min: 31_990, max: 64_010 }))
      .chain((n) => fc.uint8Array({ minLength: n, maxLength: n }))
      .map((binary) => ({ binary })),
    weight: 4,
  },
  {
    arbitrary: fc
      .oneof(fc.string({ maxLength: 3 }), anyJson)
      .map((digit) => ({ text: JSON.stringify({ type: 'dtmf', digit }) })),
    weight: 1,
  },
  { arbitrary: fc.constant({ text: '{"type":"hangup"}' }), weight: 1 },
  { arbitrary: anyJson.map((v) => ({ text: JSON.stringify(v) ?? 'null' })), weight: 1 },
  { arbitrary: fc.string({ maxLength: 200 }).map((text) => ({ text })), weight: 1 },
);

/** A browser call: mostly a valid start first, then anything. */
export const browserInput: fc.Arbitrary<BrowserInput> = fc.record({
  frames: fc.oneof(
    {
      arbitrary: fc
        .tuple(fc.constantFrom(1, 2), fc.array(browserMessage, { maxLength: 8 }))
        .map(([channels, rest]) => [
          { text: JSON.stringify({ type: 'start', mode: 'transcribe', channels, sampleRate: 16_000 }) },
          ...rest,
        ]),
      weight: 3,
    },
    { arbitrary: fc.array(browserMessage, { maxLength: 8 }), weight: 1 },
  ),
  ending: fc.constantFrom('close', 'terminate'),
});
