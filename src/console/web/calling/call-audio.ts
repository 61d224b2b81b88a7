import { RATE } from './browser-call.js';

export interface PlaybackState {
  readonly playing: boolean;
  readonly playedMs: number;
}

/**
 * The page's audio for one call, on one AudioContext at 16 kHz (the browser resamples the
 * microphone to it): capture from the microphone, a file streamed at real-time pace, and the
 * agent's voice played from a queue that `clear` empties.
 */
export class CallAudio {
  readonly context = new AudioContext({ sampleRate: RATE });
  #playback: AudioWorkletNode | undefined;
  #stream: MediaStream | undefined;
  #fileTimer: number | undefined;

  static async open(workletUrl: string, onPlayback: (state: PlaybackState) => void): Promise<CallAudio> {
    const audio = new CallAudio();
    await audio.context.audioWorklet.addModule(workletUrl);
    await audio.context.resume();
    const playback = new AudioWorkletNode(audio.context, 'voxline-playback', { outputChannelCount: [1] });
    playback.port.onmessage = (event: MessageEvent<PlaybackState>) => onPlayback(event.data);
    playback.connect(audio.context.destination);
    audio.#playback = playback;
    return audio;
  }

  /** The microphone, 20 ms at a time through `send`. Echo cancellation keeps the agent's voice out of it. */
  async captureMicrophone(send: (samples: Float32Array) => void): Promise<void> {
    this.#stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    });
    const source = this.context.createMediaStreamSource(this.#stream);
    const capture = new AudioWorkletNode(this.context, 'voxline-capture', {
      numberOfInputs: 1,
      numberOfOutputs: 1,
    });
    capture.port.onmessage = (event: MessageEvent<Float32Array>) => send(event.data);
    // A processor runs only while something pulls on it: a silent path to the speakers.
    const mute = this.context.createGain();
    mute.gain.value = 0;
    source.connect(capture).connect(mute).connect(this.context.destination);
  }

  /** Decodes a WAV (any rate: the context resamples to 16 kHz) and says how many channels it has. */
  async decode(file: ArrayBuffer): Promise<AudioBuffer> {
    const buffer = await this.context.decodeAudioData(file);
    if (buffer.numberOfChannels > 2)
      throw new Error(`the file has ${buffer.numberOfChannels} channels: 1 or 2 only`);
    return buffer;
  }

  /**
   * Streams a decoded file at real-time pace, interleaved when stereo, then calls `done`. Paced by
   * the clock, not by timer ticks: a throttled tab catches up in one burst rather than drifting.
   */
  streamFile(buffer: AudioBuffer, send: (samples: Float32Array) => void, done: () => void): void {
    const channels = buffer.numberOfChannels;
    const data = Array.from({ length: channels }, (_, c) => buffer.getChannelData(c));
    const started = performance.now();
    let sent = 0;
    const pump = () => {
      const due = Math.min(buffer.length, Math.floor(((performance.now() - started) * RATE) / 1000));
      if (due > sent) {
        const chunk = new Float32Array((due - sent) * channels);
        for (let i = sent; i < due; i++)
          for (let c = 0; c < channels; c++) chunk[(i - sent) * channels + c] = data[c][i];
        send(chunk);
        sent = due;
      }
      if (sent >= buffer.length) done();
      else this.#fileTimer = window.setTimeout(pump, 20);
    };
    pump();
  }

  play(samples: Float32Array): void {
    this.#playback?.port.postMessage({ type: 'pcm', samples }, [samples.buffer]);
  }

  clear(): void {
    this.#playback?.port.postMessage({ type: 'clear' });
  }

  close(): void {
    window.clearTimeout(this.#fileTimer);
    for (const track of this.#stream?.getTracks() ?? []) track.stop();
    void this.context.close();
  }
}
