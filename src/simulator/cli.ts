import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { MULAW_SILENCE, mulawToPcm } from '../audio/g711.js';
import { wavToMulaw8k } from '../audio/phone-audio.js';
import { encodeWavPcm16 } from '../audio/wav.js';
import { simulateTwilioCall } from './twilio-call-simulator.js';

const USAGE = `Plays a call into voxline over the Twilio Media Streams protocol.

  npm run simulate -- --caller media/demo/support-call.caller.wav \\
                      --agent media/demo/support-call.agent.wav \\
                      --url ws://localhost:8080/twilio/media

  --caller FILE      WAV (any rate, any channels) for the inbound track (required)
  --agent FILE       WAV for the outbound track; omit for a one-track agent-mode stream
  --url URL          media endpoint (default ws://localhost:8080/twilio/media)
  --auth-token TOK   sign the upgrade like Twilio (default: $TWILIO_AUTH_TOKEN)
  --fast             send as fast as possible instead of at real time
  --call-sid SID     CallSid to use (default: random CA…)
  --param K=V        custom parameter (repeatable), e.g. --param voxlineMode=agent
  --dtmf D@MS        caller presses digit D at MS on the stream clock (repeatable)
  --loss P           drop each frame with probability P (both tracks)
  --reorder P        send each frame after its successor with probability P
  --duplicate P      send each frame twice with probability P
  --seed N           seed for the network damage (default 1)
  --tail MS          silence after the caller's audio, so an agent has time to answer (default 0)
  --save FILE        write what voxline played back (agent mode) to FILE as an 8 kHz WAV
`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      caller: { type: 'string' },
      agent: { type: 'string' },
      url: { type: 'string', default: 'ws://localhost:8080/twilio/media' },
      'auth-token': { type: 'string' },
      fast: { type: 'boolean', default: false },
      'call-sid': { type: 'string' },
      param: { type: 'string', multiple: true, default: [] },
      dtmf: { type: 'string', multiple: true, default: [] },
      loss: { type: 'string' },
      reorder: { type: 'string' },
      duplicate: { type: 'string' },
      seed: { type: 'string', default: '1' },
      tail: { type: 'string', default: '0' },
      save: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help || !values.caller) {
    process.stdout.write(USAGE);
    return values.help ? 0 : 2;
  }
  const customParameters = Object.fromEntries(
    values.param.map((pair) => {
      const at = pair.indexOf('=');
      if (at < 1) throw new Error(`--param expects K=V, got ${pair}`);
      return [pair.slice(0, at), pair.slice(at + 1)];
    }),
  );
  const dtmf = values.dtmf.map((spec) => {
    const match = /^([0-9*#A-D])@(\d+)$/.exec(spec);
    if (!match) throw new Error(`--dtmf expects DIGIT@MS, got ${spec}`);
    return { digit: match[1], atMs: Number(match[2]) };
  });
  const damage = {
    lossRate: Number(values.loss ?? 0),
    reorderRate: Number(values.reorder ?? 0),
    duplicateRate: Number(values.duplicate ?? 0),
    seed: Number(values.seed),
  };
  const spoken = wavToMulaw8k(await readFile(values.caller));
  const tailMs = Number(values.tail);
  if (!Number.isInteger(tailMs) || tailMs < 0)
    throw new Error(`--tail expects milliseconds, got ${values.tail}`);
  const caller = new Uint8Array(spoken.length + tailMs * 8).fill(MULAW_SILENCE);
  caller.set(spoken);
  const agent = values.agent ? wavToMulaw8k(await readFile(values.agent)) : undefined;
  const authToken = values['auth-token'] ?? process.env.TWILIO_AUTH_TOKEN;

  const agentMode = customParameters.voxlineMode === 'agent';
  if (values.fast && agentMode)
    process.stderr.write(
      'simulate: --fast in agent mode: voxline listens and answers in real time, so a caller this fast hears little or nothing back\n',
    );
  const started = performance.now();
  const result = await simulateTwilioCall({
    url: values.url,
    caller,
    pace: values.fast ? 'fast' : 'realtime',
    customParameters,
    dtmf,
    impair: { inbound: damage, outbound: { ...damage, seed: damage.seed + 1 } },
    ...(agent ? { agent } : {}),
    ...(authToken ? { authToken } : {}),
    ...(values['call-sid'] ? { callSid: values['call-sid'] } : {}),
  });
  if (result.refused) {
    // No stream was ever open: say why plainly, not in a summary that looks like a call.
    process.stderr.write(`simulate: ${refusal(values.url, result.refused)}\n`);
    return 1;
  }
  if (values.save) {
    await writeFile(values.save, encodeWavPcm16(8000, [mulawToPcm(result.received.mulaw)]));
  }
  const plan = (p: typeof result.plans.inbound | undefined) =>
    p && {
      dropped: p.dropped.size,
      duplicated: p.duplicated.size,
      reordered: p.reordered.size,
      droppedFrames: [...p.dropped].sort((a, b) => a - b),
    };
  console.log(
    JSON.stringify(
      {
        callSid: result.callSid,
        streamSid: result.streamSid,
        audioSeconds: (result.frames * 20) / 1000,
        wallSeconds: Number(((performance.now() - started) / 1000).toFixed(2)),
        messagesSent: result.messagesSent,
        damage: { inbound: plan(result.plans.inbound), outbound: plan(result.plans.outbound) },
        closeCode: result.closeCode,
        closeReason: result.closeReason,
        received: {
          bytes: result.received.mulaw.length,
          marks: result.received.marks.length,
          clears: result.received.clears,
          ...(values.save ? { savedTo: values.save } : {}),
        },
        details: values.url.replace(/^ws/, 'http').replace(/\/twilio\/media$/, `/v1/calls/${result.callSid}`),
      },
      null,
      2,
    ),
  );
  return result.closeCode === 1000 ? 0 : 1;
}

/** Why the media socket never opened, with what to check. */
function refusal(url: string, refused: { readonly status?: number; readonly error?: string }): string {
  switch (refused.status) {
    case 403:
      return 'refused: HTTP 403 (signature): --auth-token or TWILIO_AUTH_TOKEN must be the server’s TWILIO_AUTH_TOKEN, and --url the URL it signs (PUBLIC_URL + /twilio/media)';
    case 503:
      return 'refused: HTTP 503: the server is shutting down or at MAX_LIVE_CALLS';
    case undefined:
      return refused.error === 'ECONNREFUSED'
        ? `connection refused: nothing is listening at ${url} (is voxline running?)`
        : `cannot connect to ${url}: ${refused.error ?? 'the connection closed before it opened'}`;
    default:
      return `refused: HTTP ${refused.status} at ${url}`;
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`simulate: ${(err as Error).message}`);
    process.exit(2);
  },
);
