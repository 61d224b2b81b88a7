import { useEffect, useState } from 'preact/hooks';
import type { TranscriptEvent } from '../types.js';
import { applyEvent, EMPTY_TRANSCRIPT, endTranscript, type TranscriptState } from './transcript-state.js';

/**
 * A call's transcript, live: the Server-Sent Events stream replays what is stored, then each event
 * as it happens, then `end`. EventSource resumes after a drop with Last-Event-ID; events already
 * applied are skipped by their number.
 */
export function useLiveTranscript(callSid: string | undefined): TranscriptState & { connected: boolean } {
  const [state, setState] = useState<TranscriptState>(EMPTY_TRANSCRIPT);
  const [connected, setConnected] = useState(false);
  useEffect(() => {
    setState(EMPTY_TRANSCRIPT);
    if (!callSid) return;
    const source = new EventSource(`/v1/calls/${encodeURIComponent(callSid)}/events`);
    const onEvent = (message: MessageEvent<string>) => {
      // EventSource's own connection errors are 'error' events too, without data.
      if (typeof message.data !== 'string') return;
      const event = JSON.parse(message.data) as TranscriptEvent;
      setState((s) => applyEvent(s, event));
    };
    for (const type of ['partial', 'final', 'error']) source.addEventListener(type, onEvent as EventListener);
    source.addEventListener('end', () => {
      setState(endTranscript);
      source.close();
      setConnected(false);
    });
    source.onopen = () => setConnected(true);
    source.onerror = () => setConnected(false);
    return () => source.close();
  }, [callSid]);
  return { ...state, connected };
}
