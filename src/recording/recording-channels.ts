import type { CallStart } from '../carriers/carrier.js';

/** What a recording's channel holds when nothing was recorded there. */
export const NO_CHANNEL = '(none)';

/**
 * The speaker of each channel of a call's recording: left the inbound leg, right the outbound
 * one; agent calls have one track, and the right channel holds what the agent played.
 */
export function recordingChannelSpeakers(start: Pick<CallStart, 'legs' | 'mode' | 'agentLabel'>): string[] {
  const label = (track: string) => start.legs.find((l) => l.track === track)?.label;
  const right = label('outbound') ?? (start.mode === 'agent' ? start.agentLabel : undefined);
  return [label('inbound') ?? NO_CHANNEL, right ?? NO_CHANNEL];
}
