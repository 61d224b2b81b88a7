import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { getExpectedTwilioSignature } from 'twilio/lib/webhooks/webhooks.js';
import { WebSocket } from 'ws';
import { MULAW_SILENCE } from '../audio/g711.js';
import { type ImpairmentOptions, type ImpairmentPlan, planImpairment, sendOrder } from './impairment.js';
import { TwilioPlayback } from './twilio-playback.js';

const FRAME_MS = 20;
const FRAME_BYTES = 160; // 20 ms of μ-law at 8 kHz
const FAST_MODE_HIGH_WATER = 1 << 20;

export interface SimulatedCallOptions {
  /** ws(s):// URL of the media endpoint. */
  readonly url: string;
  /** Signs the upgrade as Twilio does (X-Twilio-Signature over the URL). Unsigned if absent. */
  readonly authToken?: string;
  /** The caller's audio (inbound track): μ-law at 8 kHz. */
  readonly caller: Uint8Array;
  /** The agent's audio (outbound track). Absent: a one-track stream, like <Connect><Stream>. */
  readonly agent?: Uint8Array;
  readonly callSid?: string;
  readonly streamSid?: string;
  readonly accountSid?: string;
  readonly customParameters?: Readonly<Record<string, string>>;
  /** `realtime` sends a frame per track every 20 ms; `fast` sends as fast as the socket takes them. */
  readonly pace?: 'realtime' | 'fast';
  /** Digits pressed by the caller, at positions on the stream clock. */
  readonly dtmf?: readonly { readonly atMs: number; readonly digit: string }[];
  /** Network damage per track. */
  readonly impair?: { readonly inbound?: ImpairmentOptions; readonly outbound?: ImpairmentOptions };
  /** Send `stop` after the audio (default true); false leaves the socket open and silent. */
  readonly stop?: boolean;
  /** How long to wait for voxline to close the socket after `stop` (default 5 s). */
  readonly closeTimeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface SimulatedCallResult {
  readonly callSid: string;
  readonly streamSid: string;
  readonly frames: number;
  readonly messagesSent: number;
  readonly plans: { readonly inbound: ImpairmentPlan; readonly outbound?: ImpairmentPlan };
  readonly closeCode: number | undefined;
  readonly closeReason: string;
  /** Set when no stream was ever open: `HTTP 403` (refused at the upgrade) or the socket error. */
  readonly refused: { readonly status?: number; readonly error?: string } | undefined;
  /** Audio voxline sent back (bidirectional calls), and what happened to it. */
  readonly received: {
    readonly mulaw: Uint8Array;
    /** Each media message voxline sent: when it arrived (performance.now()) and its μ-law bytes. */
    readonly arrivals: readonly { readonly atMs: number; readonly bytes: number }[];
    readonly marks: readonly string[];
    readonly clears: number;
    readonly messages: number;
  };
}

export function randomSid(prefix: string): string {
  return prefix + randomBytes(16).toString('hex');
}

/** Pads to whole 20 ms frames with μ-law silence. */
function toFrames(audio: Uint8Array, frames: number): Uint8Array {
  const padded = new Uint8Array(frames * FRAME_BYTES).fill(MULAW_SILENCE);
  padded.set(audio.subarray(0, padded.length));
  return padded;
}

/**
 * Plays a call into voxline exactly as Twilio Media Streams would: connected, start, a media
 * message per track per 20 ms (timestamps in ms from stream start, numbers as strings), dtmf,
 * stop. For one-track (bidirectional) calls it also plays back what voxline sends, at real time,
 * echoing marks when the audio before them has played and at once on `clear`, as Twilio does.
 */
export async function simulateTwilioCall(options: SimulatedCallOptions): Promise<SimulatedCallResult> {
  const callSid = options.callSid ?? randomSid('CA');
  const streamSid = options.streamSid ?? randomSid('MZ');
  const accountSid = options.accountSid ?? randomSid('AC');
  const tracks = options.agent ? (['inbound', 'outbound'] as const) : (['inbound'] as const);
  const frames = Math.ceil(Math.max(options.caller.length, options.agent?.length ?? 0) / FRAME_BYTES);
  const audio = {
    inbound: toFrames(options.caller, frames),
    outbound: toFrames(options.agent ?? new Uint8Array(), frames),
  };
  const plans = {
    inbound: planImpairment(frames, options.impair?.inbound),
    ...(options.agent ? { outbound: planImpairment(frames, options.impair?.outbound) } : {}),
  };

  const headers: Record<string, string> = {};
  if (options.authToken)
    headers['x-twilio-signature'] = getExpectedTwilioSignature(options.authToken, options.url, {});
  const socket = new WebSocket(options.url, { headers });
  let refusedStatus: number | undefined;
  let socketError: string | undefined;
  const closed = new Promise<{ code: number | undefined; reason: string }>((resolve) => {
    socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    socket.once('unexpected-response', (_req, res) => {
      refusedStatus = res.statusCode;
      resolve({ code: undefined, reason: `HTTP ${res.statusCode}` });
      socket.terminate();
    });
    // The close or unexpected-response handler ends the call; the error says why it never opened.
    socket.once('error', (err: NodeJS.ErrnoException) => {
      socketError = err.code ?? err.message;
    });
  });

  let sequence = 0;
  let messagesSent = 0;
  const send = (message: object) => {
    if (socket.readyState !== WebSocket.OPEN) return;
    socket.send(JSON.stringify(message));
    messagesSent++;
  };
  const playback = new TwilioPlayback((name) =>
    send({ event: 'mark', sequenceNumber: String(++sequence), streamSid, mark: { name } }),
  );
  socket.on('message', (data) => playback.receive(data.toString()));

  const opened = await Promise.race([
    new Promise<boolean>((resolve) => socket.once('open', () => resolve(true))),
    closed.then(() => false),
  ]);
  if (opened) {
    send({ event: 'connected', protocol: 'Call', version: '1.0.0' });
    send({
      event: 'start',
      sequenceNumber: String(++sequence),
      start: {
        accountSid,
        streamSid,
        callSid,
        tracks,
        mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
        customParameters: options.customParameters ?? {},
      },
      streamSid,
    });
    const orders = Object.fromEntries(
      tracks.map((track) => [track, sendOrder(frames, plans[track] as ImpairmentPlan)]),
    ) as Record<(typeof tracks)[number], number[]>;
    const cursor = { inbound: 0, outbound: 0 };
    const chunk = { inbound: 0, outbound: 0 };
    const pendingDtmf = [...(options.dtmf ?? [])].sort((a, b) => a.atMs - b.atMs);
    const started = performance.now();

    for (let tick = 0; tick < frames && !options.signal?.aborted; tick++) {
      if (socket.readyState !== WebSocket.OPEN) break;
      for (const track of tracks) {
        // Each tick sends as many wire slots as there are frames, whatever their order on the wire.
        const order = orders[track];
        const slotsDue = Math.round(((tick + 1) * order.length) / frames);
        for (; cursor[track] < slotsDue; cursor[track]++) {
          const index = order[cursor[track]];
          const payload = audio[track].subarray(index * FRAME_BYTES, (index + 1) * FRAME_BYTES);
          send({
            event: 'media',
            sequenceNumber: String(++sequence),
            media: {
              track,
              chunk: String(++chunk[track]),
              timestamp: String(index * FRAME_MS),
              payload: Buffer.from(payload).toString('base64'),
            },
            streamSid,
          });
        }
      }
      while (pendingDtmf.length > 0 && pendingDtmf[0].atMs <= tick * FRAME_MS) {
        const { digit } = pendingDtmf.shift()!;
        send({
          event: 'dtmf',
          streamSid,
          sequenceNumber: String(++sequence),
          dtmf: { track: 'inbound_track', digit },
        });
      }
      if (options.pace === 'fast') {
        while (socket.bufferedAmount > FAST_MODE_HIGH_WATER) await sleep(1);
      } else {
        const due = started + (tick + 1) * FRAME_MS;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
      }
    }
    if (options.stop !== false) {
      send({ event: 'stop', sequenceNumber: String(++sequence), stop: { accountSid, callSid }, streamSid });
    }
  }

  const timeout = options.closeTimeoutMs ?? 5_000;
  const waitForClose =
    options.stop === false ? closed : Promise.race([closed, sleep(timeout).then(() => undefined)]);
  let outcome = await waitForClose;
  if (!outcome) {
    socket.close(1000, 'simulator done');
    outcome = await closed;
  }
  playback.end();
  return {
    callSid,
    streamSid,
    frames,
    messagesSent,
    plans,
    closeCode: outcome.code,
    closeReason: outcome.reason,
    refused: opened
      ? undefined
      : {
          ...(refusedStatus === undefined ? {} : { status: refusedStatus }),
          ...(socketError === undefined ? {} : { error: socketError }),
        },
    received: playback.summary(),
  };
}
