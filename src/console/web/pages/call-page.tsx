import { useCallback, useMemo, useRef, useState } from 'preact/hooks';
import { getJson } from '../api.js';
import { duration, parties, seconds, when } from '../format.js';
import { AnalysisPanel } from '../postcall/analysis-panel.js';
import { RefinedView } from '../postcall/refined-view.js';
import { usePostcallDocument } from '../postcall/use-postcall-document.js';
import { RecordingPlayer } from '../recording/recording-player.js';
import { href } from '../router.js';
import { timeline } from '../transcript/timeline.js';
import { TimelineView } from '../transcript/timeline-view.js';
import { talkTime, wordAt } from '../transcript/transcript-state.js';
import { useLiveTranscript } from '../transcript/use-live-transcript.js';
import type { CallAnalysis, CallView, RefinedTranscript, SessionInfo } from '../types.js';
import { usePoll } from '../use-poll.js';

/**
 * One call: its details, the transcript as one live timeline, and once it has ended its recording
 * (with the transcript as subtitles), the refined transcript beside the live one, and the analysis.
 */
export function CallPage({ callSid, session }: { callSid: string; session: SessionInfo }) {
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
      <CallTranscript callSid={callSid} call={call} session={session} />
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

function CallTranscript({
  callSid,
  call,
  session,
}: {
  callSid: string;
  call: CallView | undefined;
  session: SessionInfo;
}) {
  const transcript = useLiveTranscript(callSid);
  const audio = useRef<HTMLAudioElement>(null);
  const [playheadMs, setPlayheadMs] = useState<number>();
  const onTime = useCallback((ms: number) => setPlayheadMs(ms), []);
  const speakers = useMemo(() => {
    const names = call?.legs.map((l) => l.label) ?? [];
    for (const f of transcript.finals) if (!names.includes(f.leg)) names.push(f.leg);
    return names;
  }, [call, transcript.finals]);
  const ended = call?.state === 'ended';
  const base = `/v1/calls/${encodeURIComponent(callSid)}`;
  // Made after the call, when post-call is on: asked for a while after the end, then "none".
  const refined = usePostcallDocument<RefinedTranscript>(
    ended ? `${base}/transcript?version=refined` : undefined,
    'VL_ERR_TRANSCRIPT_NOT_READY',
    session.postcall,
  );
  const analysis = usePostcallDocument<CallAnalysis>(
    ended ? `${base}/analysis` : undefined,
    'VL_ERR_ANALYSIS_NOT_READY',
    session.analysis,
  );
  const items = timeline(transcript, { dtmf: call?.dtmf, agent: call?.agent, startedAt: call?.startedAt });
  const recording = ended ? call.recording : undefined;
  const seek = recording
    ? (ms: number) => {
        if (audio.current) audio.current.currentTime = ms / 1000;
      }
    : undefined;
  const version = refined.state === 'ready' ? 'refined' : 'live';
  const subtitles = {
    src: `${base}/transcript?version=${version}&format=vtt`,
    label: version === 'refined' ? 'Refined' : 'Live',
  };
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
          subtitles={subtitles}
        />
      ) : null}
      {ended ? <AnalysisPanel analysis={analysis} /> : null}
      <div class={ended ? 'transcripts side-by-side' : 'transcripts'}>
        <section class="live-transcript" aria-labelledby="transcript-heading">
          <div class="heading-row">
            <h2 id="transcript-heading">Transcript</h2>
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
        </section>
        {ended ? <RefinedView refined={refined} speakers={speakers} onSeek={seek} /> : null}
      </div>
    </>
  );
}
