import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, type MockInstance, vi } from 'vitest';
import { encodeFrame, FrameReader } from '../../src/carriers/audiosocket/frames.js';
import { parseRtp, parseTelephoneEvent } from '../../src/carriers/sip/rtp.js';
import { readOffer, SdpError } from '../../src/carriers/sip/sdp.js';
import {
  addressUri,
  headerParams,
  parseCSeq,
  parseSipMessage,
  parseVia,
  SipParseError,
  uriUser,
} from '../../src/carriers/sip/sip-message.js';
import { assignLegs, parseMetadata, splitMultipart } from '../../src/carriers/sip/siprec.js';
import { parseTwilioMessage } from '../../src/carriers/twilio/codec.js';
import { checkers } from '../../src/carriers/twilio/messages.js';
import { loadConfig } from '../../src/config.js';
import { isVoxlineError } from '../../src/errors.js';
import { webhookConfigFrom } from '../../src/webhooks/webhook-config.js';
import {
  applyTwilioEdits,
  envInput,
  LOOPBACK,
  metadataText,
  multipartInput,
  rtpDatagram,
  type SipInput,
  sdpText,
  sipBytes,
  sipInput,
  twilioStream,
  webhooksFileText,
  weirdText,
} from './arbitraries.js';
import { fuzzParameters, returnsOrThrowsOnly } from './harness.js';

/*
 * Every parser at voxline's edges, fed random and mutated input: each returns a value or throws
 * only the error it documents. Anything else (TypeError, RangeError, URIError...) escaping is a
 * bug: at the edge it becomes a crash, a 500 or a leaked socket.
 */

const isSipParseError = (err: unknown) => err instanceof SipParseError;
const isSdpError = (err: unknown) => err instanceof SdpError;
const isConfigError = (err: unknown) => isVoxlineError(err, 'VL_ERR_CONFIG');
const never = () => false;

const fill = (input: SipInput) => sipBytes(input, LOOPBACK);

describe('fuzz: SIP messages (sip-message.ts)', () => {
  it('parseSipMessage on mutated and random messages: a message with the five required headers, or SipParseError', () => {
    fc.assert(
      fc.property(sipInput, (input) => {
        const message = returnsOrThrowsOnly(
          () => parseSipMessage(fill(input)),
          isSipParseError,
          'parseSipMessage',
        );
        if (!message) return;
        for (const name of ['via', 'from', 'to', 'call-id', 'cseq'])
          expect(message.headers.get(name), name).toBeTypeOf('string');
        if (message.kind === 'request') expect(message.method).toMatch(/^[A-Za-z]+$/);
        else expect(message.status).toBeGreaterThanOrEqual(100);
      }),
      fuzzParameters(3000),
    );
  });

  it('parseSipMessage on random bytes: a message or SipParseError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
        returnsOrThrowsOnly(() => parseSipMessage(Buffer.from(bytes)), isSipParseError, 'parseSipMessage');
      }),
      fuzzParameters(1000),
    );
  });

  it('parseVia and parseCSeq: a value or SipParseError, whatever the text', () => {
    const viaText = fc.oneof(
      weirdText,
      fc.tuple(weirdText, weirdText).map(([host, rest]) => `SIP/2.0/UDP ${host}${rest}`),
      fc
        .tuple(fc.constantFrom('[::1]', '127.0.0.1', 'h'), weirdText)
        .map(([h, p]) => `SIP/2.0/TCP ${h}:${p};branch=x`),
    );
    fc.assert(
      fc.property(viaText, weirdText, (via, cseq) => {
        returnsOrThrowsOnly(() => parseVia(via), isSipParseError, 'parseVia');
        const parsed = returnsOrThrowsOnly(() => parseCSeq(`${cseq} INVITE`), isSipParseError, 'parseCSeq');
        if (parsed) expect(Number.isSafeInteger(parsed.seq)).toBe(true);
        returnsOrThrowsOnly(() => parseCSeq(cseq), isSipParseError, 'parseCSeq');
      }),
      fuzzParameters(2000),
    );
  });

  it('headerParams, addressUri and uriUser never throw (a bad %-escape in the user included)', () => {
    const uri = fc.oneof(
      weirdText,
      weirdText.map((t) => `sip:${t}@127.0.0.1`),
      fc.tuple(weirdText, weirdText).map(([a, b]) => `"${a}" <sip:${b}@h>;tag=${a}`),
      fc.constantFrom('sip:%zz@host', 'sips:%E0%A4%A@h', 'sip:%@h', '<sip:%zz@h>;tag=1', '<', '>;', ';'),
    );
    fc.assert(
      fc.property(uri, (value) => {
        const params = returnsOrThrowsOnly(() => headerParams(value), never, 'headerParams');
        expect(params).toBeInstanceOf(Map);
        expect(returnsOrThrowsOnly(() => addressUri(value), never, 'addressUri')).toBeTypeOf('string');
        expect(returnsOrThrowsOnly(() => uriUser(value), never, 'uriUser')).toBeTypeOf('string');
      }),
      fuzzParameters(3000, [['sip:%zz@127.0.0.1']]),
    );
  });
});

describe('fuzz: SDP offers (sdp.ts)', () => {
  it('readOffer on mutated and random offers: an Offer, or SdpError', () => {
    fc.assert(
      fc.property(sdpText, (text) => {
        returnsOrThrowsOnly(() => readOffer(text), isSdpError, 'readOffer');
      }),
      fuzzParameters(3000),
    );
  });

  it('an offer readOffer accepts has every port in 0–65535 and every payload type in 0–127', () => {
    fc.assert(
      fc.property(sdpText, (text) => {
        // Only what it accepts is judged here (what it throws is the property above's business).
        const offer = returnsOrThrowsOnly(
          () => readOffer(text),
          () => true,
          'readOffer',
        );
        for (const stream of offer?.streams ?? []) {
          expect(
            Number.isInteger(stream.port) && stream.port >= 0 && stream.port <= 65535,
            `port ${stream.port}`,
          ).toBe(true);
          if (stream.codec) expect(stream.codec.pt, 'codec payload type').toBeGreaterThanOrEqual(0);
          if (stream.codec) expect(stream.codec.pt, 'codec payload type').toBeLessThanOrEqual(127);
          if (stream.dtmfPt !== undefined) {
            expect(Number.isInteger(stream.dtmfPt), `dtmf payload type ${stream.dtmfPt}`).toBe(true);
            expect(stream.dtmfPt).toBeGreaterThanOrEqual(0);
            expect(stream.dtmfPt).toBeLessThanOrEqual(127);
          }
        }
      }),
      fuzzParameters(3000, [
        [
          'v=0\r\no=p 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 70000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n',
        ],
        [
          'v=0\r\no=p 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 300 0\r\na=rtpmap:300 telephone-event/8000\r\n',
        ],
      ]),
    );
  });
});

describe('fuzz: SIPREC bodies (siprec.ts)', () => {
  it('splitMultipart on mutated and random bodies never throws: parts or undefined', () => {
    fc.assert(
      fc.property(multipartInput, ({ contentType, body }) => {
        const parts = returnsOrThrowsOnly(() => splitMultipart(contentType, body), never, 'splitMultipart');
        for (const part of parts ?? []) {
          expect(part.contentType).toBeTypeOf('string');
          expect(part.body).toBeTypeOf('string');
        }
      }),
      fuzzParameters(2000),
    );
  });

  /** What fast-xml-parser throws for markup it cannot read: a plain Error (the INVITE handler catches it). */
  const unreadableXml = (err: unknown) => err instanceof Error && err.constructor === Error;

  it('parseMetadata on mutated and random XML: metadata of the declared shape, or the XML reader’s Error; assignLegs on it never throws', () => {
    fc.assert(
      fc.property(metadataText, fc.constantFrom('1', '2', 'x'), (xml, callerLabel) => {
        const meta = returnsOrThrowsOnly(() => parseMetadata(xml), unreadableXml, 'parseMetadata');
        if (!meta) return;
        for (const p of meta.participants) {
          expect(p.id, 'participant id').toBeTypeOf('string');
          if (p.name !== undefined) expect(p.name, 'participant name').toBeTypeOf('string');
          if (p.aor !== undefined) expect(p.aor, 'participant aor').toBeTypeOf('string');
          expect(p.calling).toBeTypeOf('boolean');
          for (const s of p.sends) expect(s, 'sent stream id').toBeTypeOf('string');
        }
        for (const [id, label] of meta.labels) {
          expect(id, 'stream id').toBeTypeOf('string');
          expect(label, 'stream label').toBeTypeOf('string');
        }
        if (meta.originalFrom !== undefined) expect(meta.originalFrom).toBeTypeOf('string');
        returnsOrThrowsOnly(() => assignLegs(['1', '2'], meta, callerLabel), never, 'assignLegs');
      }),
      fuzzParameters(2000),
    );
  });
});

describe('fuzz: RTP and RFC 4733 (rtp.ts)', () => {
  it('parseRtp and parseTelephoneEvent never throw; a packet found lies within the datagram', () => {
    fc.assert(
      fc.property(rtpDatagram, (datagram) => {
        const packet = returnsOrThrowsOnly(() => parseRtp(datagram), never, 'parseRtp');
        if (!packet) return;
        expect(packet.payloadType).toBeGreaterThanOrEqual(0);
        expect(packet.payloadType).toBeLessThanOrEqual(127);
        expect(packet.payload.length).toBeLessThanOrEqual(datagram.length - 12);
        expect(packet.payload.buffer).toBe(datagram.buffer);
        returnsOrThrowsOnly(() => parseTelephoneEvent(packet.payload), never, 'parseTelephoneEvent');
      }),
      fuzzParameters(3000),
    );
  });
});

describe('fuzz: AudioSocket framing (frames.ts)', () => {
  it('FrameReader never throws on random bytes in random chunks', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 10 }), (chunks) => {
        const reader = new FrameReader();
        for (const chunk of chunks)
          returnsOrThrowsOnly(() => reader.push(Buffer.from(chunk)), never, 'FrameReader');
      }),
      fuzzParameters(2000),
    );
  });

  it('frames written with encodeFrame come back whole and in order, however the stream is cut', () => {
    const frame = fc.record({
      kind: fc.integer({ min: 0, max: 255 }),
      payload: fc.oneof(fc.uint8Array({ maxLength: 700 }), fc.constant(new Uint8Array(0xffff))),
    });
    fc.assert(
      fc.property(fc.array(frame, { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 8 }), (frames, cuts) => {
        const bytes = Buffer.concat(frames.map((f) => encodeFrame(f.kind, f.payload)));
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const reader = new FrameReader();
        const out = [];
        let at = 0;
        for (const cut of [...points, bytes.length]) {
          out.push(...reader.push(bytes.subarray(at, Math.max(at, cut))));
          at = Math.max(at, cut);
        }
        expect(out.map((f) => [f.kind, Buffer.from(f.payload).toString('hex')])).toEqual(
          frames.map((f) => [f.kind, Buffer.from(f.payload).toString('hex')]),
        );
        expect(reader.pendingBytes).toBe(0);
      }),
      fuzzParameters(500),
    );
  });

  it('encodeFrame throws its RangeError only for a payload over 65535 bytes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 70_000 }), (n) => {
        const encoded = returnsOrThrowsOnly(
          () => encodeFrame(0x10, new Uint8Array(n)),
          (err) => err instanceof RangeError && n > 0xffff,
          'encodeFrame',
        );
        if (n <= 0xffff) expect(encoded?.length).toBe(n + 3);
      }),
      fuzzParameters(500, [[0xffff], [0x10000]]),
    );
  });
});

describe('fuzz: Twilio Media Streams messages (codec.ts, messages.ts)', () => {
  const frames = fc.oneof(
    fc.tuple(fc.integer({ min: 0, max: 3 }), fc.array(fc.anything(), { maxLength: 0 })).chain(([n]) =>
      fc
        .array(
          fc.record({
            op: fc.constant('set' as const),
            message: fc.nat(10),
            path: fc.constantFrom(
              ['media', 'timestamp'],
              ['media', 'payload'],
              ['start', 'tracks'],
              ['event'],
            ),
            value: fc.oneof(fc.jsonValue(), weirdText),
          }),
          { maxLength: 3 },
        )
        .map((edits) => applyTwilioEdits(twilioStream(n), edits).map((m) => JSON.stringify(m) ?? '')),
    ),
    fc.array(
      fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
      { maxLength: 3 },
    ),
    fc.array(fc.string({ unit: 'binary', maxLength: 100 }), { maxLength: 3 }),
  );

  it('parseTwilioMessage never throws (it says so): every frame is a message or `malformed`', () => {
    fc.assert(
      fc.property(frames, (texts) => {
        for (const text of texts) {
          const message = returnsOrThrowsOnly(() => parseTwilioMessage(text), never, 'parseTwilioMessage');
          expect(message?.event).toBeTypeOf('string');
          if (message?.event === 'media') {
            expect(Number.isFinite(message.timestampMs)).toBe(true);
            expect(Number.isFinite(message.sequenceNumber)).toBe(true);
          }
        }
      }),
      fuzzParameters(2000),
    );
  });

  it('the compiled checkers never throw on any JSON value', () => {
    fc.assert(
      fc.property(fc.anything(), (value) => {
        for (const checker of Object.values(checkers)) {
          returnsOrThrowsOnly(() => checker.Check(value), never, 'Check');
          returnsOrThrowsOnly(() => checker.Errors(value).First(), never, 'Errors');
        }
      }),
      fuzzParameters(1000),
    );
  });
});

describe('fuzz: configuration (config.ts, webhook-config.ts)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'voxline-fuzz-config-'));
  // The yaml package reports odd YAML (unknown tags, directives) through process.emitWarning,
  // which Node prints: hundreds of lines here. Kept out of the output; they are not failures.
  let warnings: MockInstance<typeof process.emitWarning>;
  beforeAll(() => {
    warnings = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
  });
  afterAll(() => {
    warnings.mockRestore();
    rmSync(dir, { recursive: true, force: true });
  });
  let files = 0;

  it('loadConfig with fuzzed values: a Config, or VL_ERR_CONFIG listing the problems', () => {
    fc.assert(
      fc.property(envInput, (env) => {
        returnsOrThrowsOnly(
          () => loadConfig({ ASR_ENGINE: 'none', DATA_DIR: dir, ...env }),
          isConfigError,
          'loadConfig',
        );
      }),
      fuzzParameters(2000),
    );
  });

  it('a fuzzed WEBHOOKS_FILE (JSON or YAML): webhookConfigFrom never throws, and loadConfig gives a Config or VL_ERR_CONFIG', () => {
    fc.assert(
      fc.property(webhooksFileText, (text) => {
        const path = join(dir, `webhooks-${++files}.yaml`);
        writeFileSync(path, text);
        const part = returnsOrThrowsOnly(
          () =>
            webhookConfigFrom({
              WEBHOOKS_FILE: path,
              WEBHOOK_TIMEOUT_MS: 15_000,
              WEBHOOK_RETRY_BASE_MS: 1000,
              WEBHOOK_RETRY_MAX_MS: 600_000,
              WEBHOOK_MAX_AGE_MS: 86_400_000,
              OUTBOX_SYNC: 'full',
              WEBHOOK_CONCURRENCY: 8,
              RECORDING_FORMAT: 'mulaw',
              RECORDING_RETENTION_HOURS: 0,
            }),
          never,
          'webhookConfigFrom',
        );
        for (const p of part?.problems ?? []) expect(p).toBeTypeOf('string');
        returnsOrThrowsOnly(
          () => loadConfig({ ASR_ENGINE: 'none', DATA_DIR: dir, WEBHOOKS_FILE: path }),
          isConfigError,
          'loadConfig',
        );
        rmSync(path);
      }),
      fuzzParameters(1000),
    );
  });
});
