import { useCallback, useMemo, useRef, useState } from 'preact/hooks';
import { getJson } from '../api.js';
import { duration, parties, seconds, when } from '../format.js';
import { RecordingPlayer } from '../recording/recording-player.js';
import { href } from '../router.js';
import { timeline } from '../transcript/timeline.js';
import { TimelineView } from '../transcript/timeline-view.js';
import { talkTime, wordAt } from '../transcript/transcript-state.js';
import { useLiveTranscript } from '../transcript/use-live-transcript.js';
import type { CallView } from '../types.js';
import { usePoll } from '../use-poll.js';

/** One call: its details, the transcript as one live timeline, and once it has ended its recording. */
export function CallPage({ callSid }: { callSid: string }) {
  const [settled, setSettled] = useState(false);
  const { data: call, error } = usePoll(
    () => getJson<CallView>(`/v1/calls/${encodeURIComponent(callSid)}`),
    2_000,
    [callSid],
    !settled,
  );
  // Polled while live, and after the end until its recording is recorded (or for 30 s without one).
  const done =
    call?.state === 'ended' &&
    (call.recording != null || Date.now() - Date.parse(call.endedAt ?? call.startedAt) > 30_000);
  if (done && !settled) setSettled(true);
  return (
    <section aria-labelledby="call-heading">
      <p class="crumbs">
        <a href={href('calls')}>Calls</a> /
      </p>
      <h1 id="call-heading">{callSid}</h1>
      {error ? (
        <p class="error" role="alert">
          {error}
        </p>
      ) : null}
      {call ? <CallDetails call={call} /> : null}
      <CallTranscript callSid={callSid} call={call} />
    </section>
  );
}

function CallDetails({ call }: { call: CallView }) {
  return (
    <dl class="stats">
      <div>
        <dt>State</dt>
        <dd data-testid="call-state" class={`state ${call.state}`}>
          {call.state}
          {call.endReason ? ` (${call.endReason})` : ''}
        </dd>
      </div>
      <div>
        <dt>Ingress</dt>
        <dd>{call.ingress}</dd>
      </div>
      <div>
        <dt>Who</dt>
        <dd>{parties(call)}</dd>
      </div>
      <div>
        <dt>Mode</dt>
        <dd>{call.mode}</dd>
      </div>
      <div>
        <dt>Started</dt>
        <dd>{when(call.startedAt)}</dd>
      </div>
      <div>
        <dt>Duration</dt>
        <dd>{duration(call.durationSeconds)}</dd>
      </div>
      {call.legs.map((leg) => (
        <div key={leg.label}>
          <dt>Leg {leg.label}</dt>
          <dd>
            {leg.audioSeconds.toFixed(1)} s of {leg.codec} at {leg.sampleRate / 1000} kHz
            {leg.gapFilledMs > 0 ? `, ${leg.gapFilledMs} ms of gaps filled` : ''}
            {leg.framesDropped > 0 ? `, ${leg.framesDropped} frames dropped` : ''}
          </dd>
        </div>
      ))}
      {call.instance ? (
        <div>
          <dt>Instance</dt>
          <dd>{call.instance.id}</dd>
        </div>
      ) : null}
    </dl>
  );
}

function CallTranscript({ callSid, call }: { callSid: string; call: CallView | undefined }) {
  const transcript = useLiveTranscript(callSid);
  const audio = useRef<HTMLAudioElement>(null);
  const [playheadMs, setPlayheadMs] = useState<number>();
  const onTime = useCallback((ms: number) => setPlayheadMs(ms), []);
  const speakers = useMemo(() => {
    const names = call?.legs.map((l) => l.label) ?? [];
    for (const f of transcript.finals) if (!names.includes(f.leg)) names.push(f.leg);
    return names;
  }, [call, transcript.finals]);
  const items = timeline(transcript, { dtmf: call?.dtmf, agent: call?.agent, startedAt: call?.startedAt });
  const recording = call?.state === 'ended' ? call.recording : undefined;
  const seek = recording
    ? (ms: number) => {
        if (audio.current) audio.current.currentTime = ms / 1000;
      }
    : undefined;
  const activeWord = playheadMs === undefined ? undefined : wordAt(transcript.finals, playheadMs);
  return (
    <>
      {recording ? (
        <RecordingPlayer
          callSid={callSid}
          recording={recording}
          speakers={speakers}
          audio={audio}
          onTime={onTime}
        />
      ) : null}
      <div class="heading-row">
        <h2>Transcript</h2>
        <p class="talk-time" data-testid="talk-time">
          {talkTime(transcript.finals)
            .map((t) => `${t.speaker} ${seconds(t.ms)}`)
            .join(' · ')}
        </p>
        <p class="live-state" data-testid="transcript-state">
          {transcript.ended ? 'complete' : transcript.connected ? 'live' : 'connecting…'}
        </p>
      </div>
      <TimelineView items={items} speakers={speakers} activeWord={activeWord} onSeek={seek} />
    </>
  );
}
