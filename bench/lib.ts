import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { wavToMulaw8k } from '../src/audio/phone-audio.js';

/** The support-call demo from media/, both legs as μ-law 8 kHz. */
export function demoLegs(): { caller: Uint8Array; agent: Uint8Array } {
  const file = (name: string) =>
    readFileSync(new URL(`../media/demo/support-call.${name}.wav`, import.meta.url));
  return { caller: wavToMulaw8k(file('caller')), agent: wavToMulaw8k(file('agent')) };
}

/**
 * The Twilio messages of a two-leg call, as ws hands them to a handler (Buffers of JSON text),
 * outbound then inbound every 20 ms, like Twilio's own example.
 */
export function twilioMediaMessages(
  callSid: string,
  legs: { caller: Uint8Array; agent: Uint8Array },
): Buffer[] {
  const streamSid = `MZ${callSid.slice(2)}`;
  const frames = Math.floor(legs.caller.length / 160);
  const messages: Buffer[] = [];
  let sequence = 1;
  for (let i = 0; i < frames; i++) {
    for (const [track, audio] of [
      ['outbound', legs.agent],
      ['inbound', legs.caller],
    ] as const) {
      const payload = Buffer.from(audio.subarray(i * 160, (i + 1) * 160)).toString('base64');
      messages.push(
        Buffer.from(
          JSON.stringify({
            event: 'media',
            sequenceNumber: String(++sequence),
            media: { track, chunk: String(i + 1), timestamp: String(i * 20), payload },
            streamSid,
          }),
        ),
      );
    }
  }
  return messages;
}

export function startMessage(callSid: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      event: 'start',
      sequenceNumber: '1',
      streamSid: `MZ${callSid.slice(2)}`,
      start: {
        accountSid: 'ACbench',
        streamSid: `MZ${callSid.slice(2)}`,
        callSid,
        tracks: ['inbound', 'outbound'],
        mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
        customParameters: {},
      },
    }),
  );
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export function median(values: readonly number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

export function machine(): string {
  return `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, Node ${process.version}`;
}

export const nowNs = () => process.hrtime.bigint();
