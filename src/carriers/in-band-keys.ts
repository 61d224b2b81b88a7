import { dtmfTones } from '../audio/dtmf-tones.js';
import type { Clock, TimerHandle } from '../clock.js';
import { VoxlineError } from '../errors.js';
import type { MarkResult, OutboundAudio } from './carrier.js';

/** 20 ms at 16 kHz: the tones go out in the same size of message as speech. */
const PIECE_SAMPLES = 320;
const KEYS = /^[0-9*#A-D]{1,32}$/;
/** How long past the tones' own length a carrier may take to say they played, before they count as sent. */
const MARK_GRACE_MS = 5_000;

/**
 * Presses keys on a call whose carrier stream carries only audio: the keys are played as DTMF
 * tones after whatever audio is already queued at the carrier, and this resolves when the carrier
 * says they have played (their mark came back). A `clear` (barge-in) before then cuts them off:
 * that rejects, since the far end may have heard only some of them. A carrier that never answers
 * the mark does not hold the caller (the agent's tool) past the tones' length and a grace time.
 */
export async function playKeys(outbound: OutboundAudio, keys: string, timers: Clock): Promise<void> {
  if (!KEYS.test(keys)) throw new VoxlineError('VL_ERR_CALL_CONTROL_FAILED', 'keys are 1–32 of 0-9 * # A-D');
  const tones = dtmfTones(keys);
  for (let at = 0; at < tones.length; at += PIECE_SAMPLES)
    outbound.sendPcm(tones.subarray(at, at + PIECE_SAMPLES));
  let timer: TimerHandle | undefined;
  const unanswered = new Promise<MarkResult>((resolve) => {
    timer = timers.setTimeout(
      () => resolve({ name: 'voxline.keys', cleared: false }),
      tones.length / 16 + MARK_GRACE_MS,
    );
    timer.unref();
  });
  const played = await Promise.race([outbound.mark('voxline.keys'), unanswered]).finally(() =>
    timers.clearTimeout(timer),
  );
  if (played.cleared)
    throw new VoxlineError('VL_ERR_CALL_CONTROL_FAILED', 'the keys were cut off before they had all played');
}
