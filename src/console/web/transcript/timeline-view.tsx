import { clockTime, seconds } from '../format.js';
import type { FinalEvent } from '../types.js';
import type { TimelineItem } from './timeline.js';

export interface TimelineViewProps {
  readonly items: readonly TimelineItem[];
  /** Speakers in display order (the first is the caller), for their colours. */
  readonly speakers: readonly string[];
  /** The word under the playhead, "seq:index". */
  readonly activeWord?: string;
  /** Clicking a word seeks the recording there (when there is one). */
  readonly onSeek?: (ms: number) => void;
}

/** The call as one timeline: each speaker in their own colour, partials greyed until their final arrives. */
export function TimelineView({ items, speakers, activeWord, onSeek }: TimelineViewProps) {
  if (items.length === 0) return <p class="empty">Nothing said yet.</p>;
  const colour = (speaker: string) => `speaker-${Math.max(0, speakers.indexOf(speaker)) % 4}`;
  return (
    <ol class="timeline" aria-label="Transcript">
      {items.map((item) => {
        switch (item.kind) {
          case 'utterance':
            return (
              <Utterance
                key={`f${item.final.seq}`}
                final={item.final}
                colour={colour(item.final.leg)}
                activeWord={activeWord}
                onSeek={onSeek}
              />
            );
          case 'partial':
            return (
              <li key={`p${item.partial.leg}`} class={`utterance partial ${colour(item.partial.leg)}`}>
                <span class="who">{item.partial.leg}</span>
                <span class="at">{clockTime(item.partial.startMs)}</span>
                <span class="text" aria-live="polite">
                  {item.partial.text}
                </span>
              </li>
            );
          case 'dtmf':
            return (
              <li key={`d${item.atMs}${item.digit}`} class="marker dtmf">
                <span class="at">{clockTime(item.atMs)}</span> key pressed: <kbd>{item.digit}</kbd>
              </li>
            );
          case 'barge-in':
            return (
              <li key={`b${item.atMs}`} class="marker barge-in">
                <span class="at">{clockTime(item.atMs)}</span> caller barged in: the agent stopped{' '}
                {Math.round(item.reactionMs)} ms later
              </li>
            );
          case 'error':
            return (
              <li key={`e${item.error.seq}`} class="marker error" role="note">
                <span class="at">{Number.isFinite(item.atMs) ? clockTime(item.atMs) : ''}</span>{' '}
                {item.error.leg}: <code>{item.error.code}</code> {item.error.message}
                {item.error.recoverable ? '' : ' (no more transcripts for this leg)'}
              </li>
            );
          default:
            return null;
        }
      })}
    </ol>
  );
}

function Utterance(props: {
  final: FinalEvent;
  colour: string;
  activeWord?: string;
  onSeek?: (ms: number) => void;
}) {
  const { final, colour, activeWord, onSeek } = props;
  const words = final.words.length > 0 ? final.words : undefined;
  return (
    <li class={`utterance final ${colour}${final.interrupted ? ' interrupted' : ''}`} data-seq={final.seq}>
      <span class="who">{final.leg}</span>
      <span class="at" title={`${seconds(final.startMs)} – ${seconds(final.endMs)}`}>
        {clockTime(final.startMs)}
      </span>
      <span class="text">
        {words
          ? words.map((w, i) => {
              const id = `${final.seq}:${i}`;
              const label = `${w.word}, ${seconds(w.startMs)} to ${seconds(w.endMs)}`;
              return onSeek ? (
                <button
                  key={id}
                  type="button"
                  class={`word${activeWord === id ? ' active' : ''}`}
                  title={`${seconds(w.startMs)} – ${seconds(w.endMs)}`}
                  aria-label={label}
                  data-start-ms={w.startMs}
                  onClick={() => onSeek(w.startMs)}
                >
                  {w.word}
                </button>
              ) : (
                <span
                  key={id}
                  class={`word${activeWord === id ? ' active' : ''}`}
                  title={`${seconds(w.startMs)} – ${seconds(w.endMs)}`}
                  data-start-ms={w.startMs}
                >
                  {w.word}
                </span>
              );
            })
          : final.text}
        {final.interrupted ? (
          <span class="cut" title="The caller barged in here">
            {' '}
            ✂ cut
          </span>
        ) : null}
      </span>
      {final.recovered ? (
        <span
          class="badge"
          title="The engine connection dropped during this utterance; its audio was re-sent"
        >
          recovered
        </span>
      ) : null}
      {final.delayed ? (
        <span
          class="badge delayed"
          title="The speech engine was behind real time: this transcript is complete, but came late"
        >
          {`late ${seconds(final.lagMs ?? 0)}`}
        </span>
      ) : null}
    </li>
  );
}
