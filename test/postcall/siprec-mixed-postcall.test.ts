import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { buildRtp } from '../../src/carriers/sip/rtp.js';
import {
  MistralBatchDouble,
  type MistralSegmentChunk,
  type ReceivedTranscription,
} from '../doubles/mistral-batch-double.js';
import { ReferenceAudio } from '../doubles/reference-audio.js';
import { inDialog, invite, newCallId, SipPeer } from '../doubles/sip-peer.js';
import { VllmRealtimeDouble } from '../doubles/vllm-realtime-double.js';
import { eventually, startGateway } from '../helpers/gateway.js';
import { demoCall } from '../helpers/media.js';
import { SECRET, schemaValidator, TestReceiver } from '../helpers/webhooks.js';

/*
 * A SIPREC session whose SRC sends ONE mixed stream (both parties in one m-line, which voxline
 * labels `mixed`), through voxline's SIP edge with the project's SIP peer double and real RTP;
 * after the BYE the recording goes to the Mistral batch double, which hears two voices on that
 * one channel. The refined transcript keeps voxline's speaker and numbers the voices in order of
 * first speech; the recording's empty right channel is never sent.
 */

const KEY = 'mk-test-siprec-batch';
const greeting = demoCall('greeting');
/** Where the agent stops and the caller starts (agent 300–1 704 ms, caller 1 900–4 890 ms). */
const SWITCH_MS = 1_800;
/** The SRC's mixed stream: the two legs do not overlap, so the mix is one then the other. */
const MIXED = new Uint8Array(greeting.durationMs * 8).fill(0xff);
MIXED.set(greeting.agent.subarray(0, SWITCH_MS * 8));
MIXED.set(greeting.caller.subarray(SWITCH_MS * 8, greeting.durationMs * 8), SWITCH_MS * 8);
/** The engine's names for the two voices, chosen so that their sort order is not their speaking order. */
const VOICE = { agent: 'speaker_9', caller: 'speaker_1' } as const;

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

/** A SIPREC INVITE (RFC 7866) with one sendonly stream and no metadata, its media from `mediaPort`. */
function siprecInvite(peer: SipPeer, callId: string, mediaPort: number): string {
  const sdp = `v=0\r\no=src 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${mediaPort} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=label:mix\r\na=sendonly\r\n`;
  const body = `--b\r\nContent-Type: application/sdp\r\n\r\n${sdp}\r\n--b--\r\n`;
  return invite({ callId, peer })
    .replace(/Content-Type: application\/sdp[\s\S]*$/, '')
    .replace(
      'Max-Forwards: 70\r\n',
      `Max-Forwards: 70\r\nRequire: siprec\r\nContact: <sip:src@127.0.0.1>;+sip.src\r\nContent-Type: multipart/mixed;boundary=b\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    )
    .replace(/Contact: <sip:peer@[^>]+>\r\n/, '');
}

/** The μ-law audio as 20 ms RTP packets, as fast as the socket takes them (RTP timestamps place them). */
async function sendRtp(socket: Socket, port: number, audio: Uint8Array): Promise<void> {
  for (let n = 0; n * 160 < audio.length; n++) {
    const packet = buildRtp(0, n + 1, n * 160, 0x5ec0_0001, audio.subarray(n * 160, (n + 1) * 160));
    await new Promise<void>((resolve) => socket.send(packet, port, '127.0.0.1', () => resolve()));
    // Lets voxline (in this process) read the socket before its receive buffer fills.
    if (n % 10 === 9) await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Call-clock ms of the first sample that is not silence in 16-bit mono PCM at 16 kHz (after a 44-byte header). */
function firstSoundMs(wav: Buffer): number {
  for (let i = 44; i + 1 < wav.length; i += 2) if (wav.readInt16LE(i) !== 0) return (i - 44) / 2 / 16;
  return Number.NaN;
}

/**
 * The double's answer for the mixed channel, as Mistral sends diarized text with word times:
 * a phrase chunk per utterance and a chunk per word, each with its voice.
 */
function answerMixed(): { kind: 'transcription'; segments: MistralSegmentChunk[] } {
  const segments: MistralSegmentChunk[] = [];
  for (const s of greeting.segments) {
    const speaker_id = VOICE[s.leg];
    segments.push({ text: ` ${s.text}`, start: s.startMs / 1000, end: s.endMs / 1000, speaker_id });
    for (const w of greeting.words.filter((w) => w.leg === s.leg))
      segments.push({ text: ` ${w.word}`, start: w.startMs / 1000, end: w.endMs / 1000, speaker_id });
  }
  return { kind: 'transcription', segments };
}

describe('SIPREC with one mixed stream, after the call', () => {
  it(
    'the mixed channel alone goes to the batch engine once; its two voices are mixed.1 and mixed.2 in order of first speech, on the call clock',
    { timeout: 60_000 },
    async () => {
      const vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([greeting]) });
      await vllm.listen();
      const batch = new MistralBatchDouble(KEY);
      await batch.listen();
      let heardFromMs = Number.NaN;
      batch.answerBy((request: ReceivedTranscription) => {
        heardFromMs = firstSoundMs(request.parts.find((p) => p.name === 'file')?.bytes as Buffer);
        return answerMixed();
      });
      const receiver = new TestReceiver();
      const gateway = await startGateway({
        VLLM_URL: vllm.url,
        WEBHOOK_URL: await receiver.listen(),
        WEBHOOK_SECRET: SECRET,
        WEBHOOK_EVENTS: 'call.started,recording.ready,call.ended,transcript.refined,postcall.failed',
        SIP_PORT: '0',
        SIP_BIND: '127.0.0.1',
        SIP_RTP_PORTS: '45000-45998',
        RECORDING_FORMAT: 'pcm16',
        POSTCALL_ENGINE: 'mistral',
        POSTCALL_BASE_URL: batch.url,
        POSTCALL_API_KEY: KEY,
      });
      const peer = await SipPeer.open(gateway.edgePorts.sip as number);
      const media = createSocket('udp4');
      await new Promise<void>((resolve) => media.bind(0, '127.0.0.1', resolve));
      cleanups.push(
        () => gateway.close(),
        async () => {
          await Promise.all([vllm.close(), batch.close(), receiver.close()]);
        },
        () => peer.close(),
        () => {
          media.close();
        },
      );

      const callId = newCallId();
      peer.send(siprecInvite(peer, callId, media.address().port));
      const ok = await peer.response(callId, 200);
      expect(ok.headers.get('contact')).toMatch(/;\+sip\.srs$/);
      const rtpPort = Number(/m=audio (\d+)/.exec(ok.body.toString())?.[1]);
      expect(ok.body.toString().match(/m=audio/g)).toHaveLength(1);
      peer.send(inDialog('ACK', ok, peer, 1));
      await sendRtp(media, rtpPort, MIXED);
      const callSid = await eventually(async () => {
        const [live] = (await gateway.get('/v1/calls')).body.calls;
        expect(live.legs).toMatchObject([{ label: 'mixed', audioSeconds: greeting.durationMs / 1000 }]);
        return live.callSid as string;
      }, 10_000);
      peer.send(inDialog('BYE', ok, peer, 2));
      await peer.response(callId, 200);

      await eventually(
        () =>
          expect(receiver.events.map((e) => e.type)).toEqual(expect.arrayContaining(['transcript.refined'])),
        30_000,
      );
      const events = receiver.events.filter((e) => e.callSid === callSid).sort((a, b) => a.seq - b.seq);
      expect(events.map((e) => e.type)).toEqual([
        'call.started',
        'recording.ready',
        'call.ended',
        'transcript.refined',
      ]);
      const validate = schemaValidator();
      for (const event of events) expect(validate(event)).toEqual([]);
      expect(events[0]?.data).toMatchObject({
        ingress: 'siprec',
        legs: [{ speaker: 'mixed', track: 'inbound' }],
      });

      // One request: the mixed (left) channel, whole; the right one, with no leg, never went.
      expect(batch.requests).toHaveLength(1);
      const [request] = batch.requests as [ReceivedTranscription];
      expect(request.parts.find((p) => p.name === 'file')?.fileName).toBe(`${callSid}-mixed-0.wav`);
      expect(request.parts.filter((p) => p.name === 'diarize').map((p) => p.value)).toEqual(['true']);
      // What the engine was sent is the SRC's audio where the SRC put it: the recording's sample 0
      // is the call clock's 0 (the 8 → 16 kHz converter's delay is under 2 ms).
      const firstSpeechMs = MIXED.findIndex((b) => b !== 0xff && b !== 0x7f) / 8; // μ-law ±0
      expect(Math.abs(heardFromMs - firstSpeechMs)).toBeLessThan(3);

      const refined = events.find((e) => e.type === 'transcript.refined')?.data;
      expect(refined).toMatchObject({ engine: 'mistral', channels: 1, chunks: 1 });
      expect(refined.utterances).toEqual(
        greeting.segments.map((s) => ({
          speaker: 'mixed',
          subSpeaker: s.leg === 'agent' ? 'mixed.1' : 'mixed.2',
          text: s.text,
          startMs: s.startMs,
          endMs: s.endMs,
          words: greeting.words
            .filter((w) => w.leg === s.leg)
            .map((w) => ({ word: w.word, startMs: w.startMs, endMs: w.endMs })),
        })),
      );
    },
  );
});
