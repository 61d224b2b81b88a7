import type { RefObject } from 'preact';
import { useEffect, useState } from 'preact/hooks';

/** One subtitle as the page shows it: who speaks (the cue's `<v>` voice) and what they say. */
export interface Caption {
  readonly voice: string | undefined;
  readonly text: string;
}

/** The cues on screen at `seconds`: started, not yet ended (as the browser's own activeCues). */
export function cuesAt(track: TextTrack, seconds: number): TextTrackCue[] {
  const active: TextTrackCue[] = [];
  for (const cue of track.cues ?? []) {
    if (cue.startTime <= seconds && seconds < cue.endTime) active.push(cue);
  }
  return active;
}

/**
 * A cue's text and voice, read through the browser's own WebVTT parser (getCueAsHTML): character
 * references decoded, tags dropped. The result is shown as text, never inserted as markup.
 */
export function captionOf(cue: TextTrackCue): Caption {
  if (!(cue instanceof VTTCue)) return { voice: undefined, text: '' };
  const html = cue.getCueAsHTML();
  // A `<v caller.2>` span becomes an element carrying the voice in its title.
  const voice = html.querySelector('[title]')?.getAttribute('title') ?? undefined;
  return { voice, text: (html.textContent ?? '').replace(/\s+/g, ' ').trim() };
}

/**
 * The captions of `track` as the recording plays: on each `cuechange`, and after a seek or the
 * cues' load (where the playhead may already be inside a cue). The track is set to 'hidden' so the
 * browser keeps it active and fires cue changes, while the page draws the text (<audio> draws none).
 */
export function useCaptions(
  track: RefObject<HTMLTrackElement | null>,
  audio: RefObject<HTMLAudioElement | null>,
  src: string | undefined,
): readonly Caption[] {
  const [captions, setCaptions] = useState<readonly Caption[]>([]);
  useEffect(() => {
    const element = track.current;
    const player = audio.current;
    setCaptions([]);
    if (!element || !player || !src) return;
    const textTrack = element.track;
    textTrack.mode = 'hidden';
    const show = (cues: Iterable<TextTrackCue>) =>
      setCaptions([...cues].map(captionOf).filter((c) => c.text));
    const onCueChange = () => show(textTrack.activeCues ?? []);
    const atPlayhead = () => show(cuesAt(textTrack, player.currentTime));
    textTrack.addEventListener('cuechange', onCueChange);
    element.addEventListener('load', atPlayhead);
    player.addEventListener('seeked', atPlayhead);
    return () => {
      textTrack.removeEventListener('cuechange', onCueChange);
      element.removeEventListener('load', atPlayhead);
      player.removeEventListener('seeked', atPlayhead);
    };
  }, [track, audio, src]);
  return captions;
}
