import { clockTime, seconds } from '../format.js';
import type { RefinedTranscript } from '../types.js';
import type { PostcallDocument } from './use-postcall-document.js';

export interface RefinedViewProps {
  readonly refined: PostcallDocument<RefinedTranscript> & { readonly retry: () => void };
  /** Speakers in display order (the first is the caller), for the same colours as the live transcript. */
  readonly speakers: readonly string[];
  /** Clicking an utterance's time seeks the recording there (when there is one). */
  readonly onSeek?: (ms: number) => void;
}

/** The batch engine's transcript after the call: speakers, diarized voices, and how far live was from it. */
export function RefinedView({ refined, speakers, onSeek }: RefinedViewProps) {
  return (
    <section class="refined" aria-labelledby="refined-heading">
      <div class="heading-row">
        <h2 id="refined-heading">Refined</h2>
        {refined.state === 'ready' ? (
          <p
            class="agreement"
            data-testid="refined-wer"
            title="Word error rate of the live transcript against this one"
          >
            live vs refined: {agreementText(refined.value.agreement, speakers)}
          </p>
        ) : null}
        <p class="live-state" data-testid="refined-state">
          {stateText(refined.state)}
        </p>
      </div>
      <RefinedBody {...{ refined, speakers, onSeek }} />
    </section>
  );
}

function RefinedBody({ refined, speakers, onSeek }: RefinedViewProps) {
  switch (refined.state) {
    case 'waiting':
      return <p class="empty">The refined transcript is not ready yet…</p>;
    case 'none':
      return (
        <p class="empty" data-testid="refined-none">
          No refined transcript for this call (post-call transcription is off, failed, or still running).{' '}
          <button type="button" onClick={refined.retry}>
            Check again
          </button>
        </p>
      );
    case 'error':
      return (
        <p class="error" role="alert">
          {refined.message}
        </p>
      );
    case 'ready':
      break;
  }
  const { utterances, engine, model } = refined.value;
  if (utterances.length === 0) return <p class="empty">The batch engine heard nothing.</p>;
  const colour = (speaker: string) => `speaker-${Math.max(0, speakers.indexOf(speaker)) % 4}`;
  return (
    <>
      <ol class="timeline" aria-label="Refined transcript">
        {utterances.map((u) => (
          <li key={`${u.speaker}@${u.startMs}`} class={`utterance refined ${colour(u.speaker)}`}>
            <span class="who">
              {u.speaker}
              {u.subSpeaker ? (
                <span class="sub-speaker" title="The voice the engine told apart in this channel">
                  {u.subSpeaker}
                </span>
              ) : null}
            </span>
            {onSeek ? (
              <button
                type="button"
                class="at seek"
                title={`${seconds(u.startMs)} – ${seconds(u.endMs)}`}
                aria-label={`Play from ${seconds(u.startMs)}`}
                data-start-ms={u.startMs}
                onClick={() => onSeek(u.startMs)}
              >
                {clockTime(u.startMs)}
              </button>
            ) : (
              <span class="at" title={`${seconds(u.startMs)} – ${seconds(u.endMs)}`}>
                {clockTime(u.startMs)}
              </span>
            )}
            <span class="text">{u.text}</span>
          </li>
        ))}
      </ol>
      <p class="hint">
        {engine} · {model}
      </p>
    </>
  );
}

function stateText(state: PostcallDocument<unknown>['state']): string {
  return { waiting: 'not ready', ready: 'complete', none: 'none', error: 'error' }[state];
}

/**
 * "4.2 % word error rate (caller 3.0 %, agent 5.1 %)": the whole call, then each speaker in the
 * page's order (the caller first).
 */
export function agreementText(
  agreement: RefinedTranscript['agreement'],
  order: readonly string[] = [],
): string {
  const rank = (speaker: string) => (order.includes(speaker) ? order.indexOf(speaker) : order.length);
  const each = Object.entries(agreement.perSpeaker)
    .sort(([a], [b]) => rank(a) - rank(b))
    .map(([speaker, wer]) => `${speaker} ${percent(wer)}`)
    .join(', ');
  return `${percent(agreement.wer)} word error rate${each ? ` (${each})` : ''}`;
}

function percent(wer: number | null): string {
  return wer === null || !Number.isFinite(wer) ? '—' : `${(wer * 100).toFixed(1)} %`;
}
