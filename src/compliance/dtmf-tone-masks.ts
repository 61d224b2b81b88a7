import { DtmfDetector } from '../audio/dtmf-detector.js';
import type { LegConsumerFactory } from '../calls/call-registry.js';

/**
 * With DTMF redaction and audio redaction on, listens to each leg for key-press tones in the audio
 * itself (a phone that sends no RFC 4733 events, a carrier that passes tones through) and masks
 * each one in the recording; while a tone may be sounding, the leg's audio is held back.
 */
export const dtmfToneMasks: LegConsumerFactory = (call, leg) => {
  const redaction = call.audioRedaction;
  if (!redaction || !call.redactsDtmf) return undefined;
  const detector = new DtmfDetector();
  let ended = false;
  redaction.hold(leg.label, () => (ended ? undefined : detector.pendingFromMs()));
  const mask = (tones: ReturnType<DtmfDetector['flush']>) => {
    for (const tone of tones) redaction.mask(leg.label, tone.startMs, tone.endMs, 'dtmf');
  };
  return {
    push: (frame) => mask(detector.push(frame.pcm, frame.startMs)),
    end: () => {
      mask(detector.flush());
      ended = true;
    },
  };
};
