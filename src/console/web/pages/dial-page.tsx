import { useEffect, useRef, useState } from 'preact/hooks';
import { BrowserCall } from '../calling/browser-call.js';
import { CallAudio, type PlaybackState } from '../calling/call-audio.js';
import { href } from '../router.js';
import { timeline } from '../transcript/timeline.js';
import { TimelineView } from '../transcript/timeline-view.js';
import { useLiveTranscript } from '../transcript/use-live-transcript.js';
import type { SessionInfo } from '../types.js';

const WORKLETS = '/console/assets/worklets.js';

type Status = 'idle' | 'connecting' | 'live' | 'ended';

interface AgentAudio {
  /** Agent audio received, in ms. */
  readonly receivedMs: number;
  readonly playing: boolean;
  readonly playedMs: number;
  /** Times the server said `clear` (the caller barged in). */
  readonly clears: number;
}

const NO_AGENT_AUDIO: AgentAudio = { receivedMs: 0, playing: false, playedMs: 0, clears: 0 };

/**
 * Calls from the browser: the microphone (one leg, the caller; in agent mode the agent answers and
 * plays here), or a WAV file streamed at real-time pace (mono: the caller; stereo: caller left,
 * agent right). Recorded, transcribed and sent to webhooks like any carrier's call.
 */
export function DialPage({ session }: { session: SessionInfo }) {
  const [mode, setMode] = useState<'transcribe' | 'agent'>(session.agent ? 'agent' : 'transcribe');
  const [status, setStatus] = useState<Status>('idle');
  const [detail, setDetail] = useState('');
  const [callSid, setCallSid] = useState<string>();
  const [agentAudio, setAgentAudio] = useState<AgentAudio>(NO_AGENT_AUDIO);
  const [file, setFile] = useState<File>();
  const call = useRef<BrowserCall | undefined>(undefined);
  const audio = useRef<CallAudio | undefined>(undefined);

  useEffect(() => () => finish(), []);

  function finish() {
    call.current?.hangUp();
    audio.current?.close();
    audio.current = undefined;
  }

  async function start(source: 'microphone' | 'file') {
    setStatus('connecting');
    setDetail('');
    setCallSid(undefined);
    setAgentAudio(NO_AGENT_AUDIO);
    try {
      const callAudio = await CallAudio.open(WORKLETS, (s: PlaybackState) =>
        setAgentAudio((a) => ({ ...a, playing: s.playing, playedMs: s.playedMs })),
      );
      audio.current = callAudio;
      const buffer = source === 'file' && file ? await callAudio.decode(await file.arrayBuffer()) : undefined;
      const channels = buffer?.channels === 2 ? 2 : 1;
      const callMode = channels === 2 ? 'transcribe' : mode;
      const browserCall = new BrowserCall(
        { mode: callMode, channels, name: source === 'file' && file ? file.name : 'microphone' },
        {
          started: (sid) => {
            setCallSid(sid);
            setStatus('live');
            if (buffer)
              callAudio.streamFile(
                buffer,
                (s) => browserCall.send(s),
                () => browserCall.hangUp(),
              );
            else
              callAudio
                .captureMicrophone((s) => browserCall.send(s))
                .catch((err: unknown) => {
                  setDetail(`Microphone: ${String(err)}`);
                  browserCall.hangUp();
                });
          },
          audio: (samples) => {
            setAgentAudio((a) => ({ ...a, receivedMs: a.receivedMs + (samples.length * 1000) / 16_000 }));
            callAudio.play(samples);
          },
          clear: () => {
            callAudio.clear();
            setAgentAudio((a) => ({ ...a, clears: a.clears + 1 }));
          },
          ended: (reason) => {
            setStatus('ended');
            setDetail(reason);
            finish();
          },
        },
      );
      call.current = browserCall;
    } catch (err) {
      setStatus('ended');
      setDetail(err instanceof Error ? err.message : String(err));
      finish();
    }
  }

  const busy = status === 'connecting' || status === 'live';
  return (
    <section aria-labelledby="dial-heading">
      <h1 id="dial-heading">Call from the browser</h1>
      {session.transcription ? null : (
        <p class="notice">
          No speech engine is configured: the call is recorded, but nothing is transcribed.
        </p>
      )}
      <fieldset class="mode" disabled={busy}>
        <legend>Mode</legend>
        <label>
          <input
            type="radio"
            name="mode"
            checked={mode === 'transcribe'}
            onChange={() => setMode('transcribe')}
          />{' '}
          transcribe
        </label>
        <label>
          <input
            type="radio"
            name="mode"
            checked={mode === 'agent'}
            disabled={!session.agent}
            onChange={() => setMode('agent')}
          />{' '}
          talk to the voice agent
        </label>
      </fieldset>
      <div class="actions">
        <button type="button" class="primary" disabled={busy} onClick={() => start('microphone')}>
          Call
        </button>
        <button type="button" disabled={!busy} onClick={() => call.current?.hangUp()}>
          Hang up
        </button>
      </div>
      <div class="file-call">
        <label>
          Call with a file (WAV: mono is the caller, stereo is caller left and agent right){' '}
          <input
            type="file"
            accept="audio/wav,.wav"
            disabled={busy}
            onChange={(e) => setFile(e.currentTarget.files?.[0])}
          />
        </label>
        <button type="button" disabled={busy || !file} onClick={() => start('file')}>
          Play file into a call
        </button>
      </div>
      <output class="call-status" data-testid="call-status" data-status={status}>
        {status === 'idle' ? 'Not in a call.' : status}
        {callSid ? (
          <>
            {' '}
            <a href={href('calls', callSid)} data-testid="call-link">
              {callSid}
            </a>
          </>
        ) : null}
        {detail ? ` (${detail})` : ''}
      </output>
      {mode === 'agent' || agentAudio.receivedMs > 0 ? (
        <p
          class="agent-audio"
          data-testid="agent-audio"
          data-received-ms={Math.round(agentAudio.receivedMs)}
          data-played-ms={agentAudio.playedMs}
          data-playing={String(agentAudio.playing)}
          data-clears={agentAudio.clears}
        >
          Agent audio: {agentAudio.playing ? 'speaking' : 'quiet'}, {(agentAudio.playedMs / 1000).toFixed(1)}{' '}
          s played
          {agentAudio.clears > 0 ? `, stopped ${agentAudio.clears}× by barge-in` : ''}
        </p>
      ) : null}
      {callSid ? <LiveTranscript callSid={callSid} /> : null}
    </section>
  );
}

function LiveTranscript({ callSid }: { callSid: string }) {
  const transcript = useLiveTranscript(callSid);
  const speakers = [...new Set(transcript.finals.map((f) => f.leg))];
  return (
    <>
      <h2>Transcript</h2>
      <TimelineView items={timeline(transcript, {})} speakers={['caller', ...speakers]} />
    </>
  );
}
