import type { RefObject } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { clockTime } from '../format.js';
import type { RecordingInfo } from '../types.js';
import { useCaptions } from './captions.js';
import { parseWav, peaks, type WavInfo } from './wav.js';

export interface RecordingPlayerProps {
  readonly callSid: string;
  readonly recording: RecordingInfo;
  /** Channel order of the file: the caller left, the agent right. */
  readonly speakers: readonly string[];
  readonly audio: RefObject<HTMLAudioElement | null>;
  /** The playhead, in ms on the recording (the call clock, less any time a leg skipped). */
  readonly onTime: (ms: number) => void;
  /** A WebVTT transcript to show, cue by cue, beside the player as it plays. */
  readonly subtitles?: { readonly src: string; readonly label: string };
}

type Listen = 'both' | number;

/**
 * The call's WAV: a player, its transcript as subtitles (the line being spoken shown beside it), a
 * waveform per leg with the playhead, and which channel to hear.
 */
export function RecordingPlayer(props: RecordingPlayerProps) {
  const { callSid, recording, speakers, audio, onTime, subtitles } = props;
  const src = `/v1/calls/${encodeURIComponent(callSid)}/recording`;
  const [wav, setWav] = useState<WavInfo>();
  const [blobUrl, setBlobUrl] = useState<string>();
  const [waveError, setWaveError] = useState<string>();
  const [positionMs, setPositionMs] = useState(0);
  const [listen, setListen] = useState<Listen>('both');
  const routing = useRef<ChannelRouting | undefined>(undefined);
  const track = useRef<HTMLTrackElement>(null);
  const captions = useCaptions(track, audio, subtitles?.src);

  useEffect(() => {
    let stopped = false;
    fetch(src, { credentials: 'same-origin' })
      .then((r) => (r.ok ? r.arrayBuffer() : Promise.reject(new Error(`HTTP ${r.status}`))))
      .then((bytes) => {
        if (stopped) return;
        // Played from memory: seekable to the sample whatever the server does with Range requests.
        setBlobUrl(URL.createObjectURL(new Blob([bytes], { type: 'audio/wav' })));
        setWav(parseWav(bytes));
      })
      .catch((err: unknown) => !stopped && setWaveError(String(err instanceof Error ? err.message : err)));
    return () => {
      stopped = true;
    };
  }, [src]);
  useEffect(() => () => (blobUrl ? URL.revokeObjectURL(blobUrl) : undefined), [blobUrl]);

  // The playhead, smoothly while playing (timeupdate alone fires about four times a second).
  useEffect(() => {
    const element = audio.current;
    if (!element) return;
    let frame = 0;
    const update = () => {
      const ms = element.currentTime * 1000;
      setPositionMs(ms);
      onTime(ms);
      if (!element.paused) frame = requestAnimationFrame(update);
    };
    const events = ['timeupdate', 'seeked', 'play', 'pause'];
    for (const e of events) element.addEventListener(e, update);
    return () => {
      cancelAnimationFrame(frame);
      for (const e of events) element.removeEventListener(e, update);
    };
  }, [audio, onTime]);

  useEffect(() => () => routing.current?.close(), []);

  const choose = (value: Listen) => {
    setListen(value);
    const element = audio.current;
    if (!element) return;
    if (value !== 'both' || routing.current) {
      routing.current ??= new ChannelRouting(element);
      routing.current.listenTo(value);
    }
  };

  const durationMs = wav?.durationMs ?? recording.durationMs;
  const seek = (ms: number) => {
    if (audio.current) audio.current.currentTime = Math.max(0, ms) / 1000;
  };
  return (
    <section class="recording" aria-label="Recording">
      {/* Straight from the server (or its object store) only when the page could not fetch the file. */}
      {/* biome-ignore lint/a11y/useMediaCaption: its track is the transcript (kind subtitles), drawn in the caption line below. */}
      <audio
        ref={audio}
        controls
        preload="auto"
        src={blobUrl ?? (waveError ? src : undefined)}
        data-testid="recording-audio"
      >
        {/* Same-origin: the session cookie goes with the track's request. A new element per source. */}
        {subtitles ? (
          <track
            key={subtitles.src}
            ref={track}
            kind="subtitles"
            srclang="en"
            label={subtitles.label}
            default
            src={subtitles.src}
            data-testid="recording-subtitles"
          />
        ) : null}
      </audio>
      {subtitles ? (
        <p class="caption" data-testid="caption" aria-live="polite" title={`${subtitles.label} transcript`}>
          {captions.length === 0 ? (
            <span class="quiet">…</span>
          ) : (
            captions.map((c, i) => (
              <span key={String(i)} class="cue">
                {c.voice ? <span class="who">{c.voice}</span> : null}
                <span class="text">{c.text}</span>
              </span>
            ))
          )}
        </p>
      ) : null}
      <fieldset class="listen">
        <legend>Listen to</legend>
        {(['both', ...speakers.map((_, i) => i)] as Listen[]).map((value) => (
          <label key={String(value)}>
            <input type="radio" name="listen" checked={listen === value} onChange={() => choose(value)} />{' '}
            {value === 'both' ? 'both channels' : speakers[value]}
          </label>
        ))}
      </fieldset>
      {wav
        ? speakers
            .slice(0, wav.channels)
            .map((speaker, channel) => (
              <Waveform
                key={speaker}
                wav={wav}
                channel={channel}
                label={speaker}
                positionMs={positionMs}
                durationMs={durationMs}
                onSeek={seek}
              />
            ))
        : null}
      {waveError ? <p class="notice">Waveform unavailable: {waveError}</p> : null}
    </section>
  );
}

function Waveform(props: {
  wav: WavInfo;
  channel: number;
  label: string;
  positionMs: number;
  durationMs: number;
  onSeek: (ms: number) => void;
}) {
  const { wav, channel, label, positionMs, durationMs, onSeek } = props;
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const element = canvas.current;
    const context = element?.getContext('2d');
    if (!element || !context) return;
    const width = element.clientWidth * devicePixelRatio || 600;
    const height = 48 * devicePixelRatio;
    element.width = width;
    element.height = height;
    const values = peaks(wav, channel, width);
    context.clearRect(0, 0, width, height);
    context.fillStyle = getComputedStyle(element).color;
    for (let x = 0; x < width; x++) {
      const h = Math.max(1, values[x] * height);
      context.fillRect(x, (height - h) / 2, 1, h);
    }
  }, [wav, channel]);
  const fraction = durationMs > 0 ? Math.min(1, positionMs / durationMs) : 0;
  const seekTo = (event: MouseEvent) => {
    const box = (event.currentTarget as HTMLElement).getBoundingClientRect();
    onSeek(((event.clientX - box.left) / box.width) * durationMs);
  };
  return (
    <div class={`waveform speaker-${channel % 4}`}>
      <span class="who">{label}</span>
      <button type="button" class="wave" onClick={seekTo} aria-label={`Seek in the ${label} channel`}>
        <canvas ref={canvas} aria-label={`${label} waveform`} role="img" />
        <span class="playhead" style={{ left: `${fraction * 100}%` }} />
      </button>
      <span class="at">{clockTime(positionMs)}</span>
    </div>
  );
}

/** Plays one channel of the recording in both ears (or both channels as they are), through Web Audio. */
class ChannelRouting {
  readonly #context = new AudioContext();
  readonly #gains: GainNode[] = [];

  constructor(element: HTMLAudioElement) {
    const source = this.#context.createMediaElementSource(element);
    const split = this.#context.createChannelSplitter(2);
    const merge = this.#context.createChannelMerger(2);
    source.connect(split);
    for (let channel = 0; channel < 2; channel++) {
      const gain = this.#context.createGain();
      split.connect(gain, channel);
      this.#gains.push(gain);
    }
    merge.connect(this.#context.destination);
    this.#merge = merge;
  }

  readonly #merge: ChannelMergerNode;

  listenTo(value: Listen): void {
    void this.#context.resume();
    for (const gain of this.#gains) gain.disconnect();
    if (value === 'both') {
      this.#gains[0].connect(this.#merge, 0, 0);
      this.#gains[1].connect(this.#merge, 0, 1);
    } else {
      this.#gains[value].connect(this.#merge, 0, 0);
      this.#gains[value].connect(this.#merge, 0, 1);
    }
  }

  close(): void {
    void this.#context.close();
  }
}
