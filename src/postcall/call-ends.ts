import type { Call } from '../calls/call.js';
import type { RecordingInfo } from '../recording/call-recorder.js';

/**
 * When a call is over for post-call work: its live transcript complete (every leg's last final
 * in) and its recording settled (finished, or none came). `onOver` hears each call once, with
 * whether it has a recording. Holds only calls between their start and that moment.
 */
export class CallEnds {
  readonly #recorded: boolean;
  readonly #onOver: (call: Call, recorded: boolean) => void;
  /** `recording` null: not settled yet; undefined: settled, none. */
  readonly #pending = new Map<string, { transcript: boolean; recording: RecordingInfo | undefined | null }>();

  /** `recorded`: calls are recorded, so each one's recording settles before it is over. */
  constructor(recorded: boolean, onOver: (call: Call, recorded: boolean) => void) {
    this.#recorded = recorded;
    this.#onOver = onOver;
  }

  watch(call: Call): void {
    this.#pending.set(call.callSid, { transcript: false, recording: this.#recorded ? null : undefined });
    call.transcript.subscribe((event) => {
      if (event.type === 'end') this.#settle(call, 'transcript');
    });
    if (call.transcript.complete) this.#settle(call, 'transcript');
  }

  recordingSettled(call: Call, info: RecordingInfo | undefined): void {
    const pending = this.#pending.get(call.callSid);
    if (!pending || pending.recording !== null) return;
    pending.recording = info;
    this.#settle(call);
  }

  forget(callSid: string): void {
    this.#pending.delete(callSid);
  }

  clear(): void {
    this.#pending.clear();
  }

  #settle(call: Call, part?: 'transcript'): void {
    const pending = this.#pending.get(call.callSid);
    if (!pending) return;
    if (part) pending.transcript = true;
    if (!pending.transcript || pending.recording === null) return;
    this.#pending.delete(call.callSid);
    this.#onOver(call, pending.recording !== undefined);
  }
}
