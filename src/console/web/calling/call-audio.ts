import { parseWav } from '../recording/wav.js';
import { RATE } from './browser-call.js';

/** A file's audio at 16 kHz, one array of −1…1 per channel. */
export interface FileAudio {
  readonly channels: number;
  readonly length: number;
  readonly data: readonly Float32Array[];
}

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

  /**
   * A WAV's audio at 16 kHz. A 16 kHz PCM16 or μ-law WAV is read here, sample for sample (the
   * browser's decoder may scale by 32767 and round some samples off by one); any other rate or
   * format goes through decodeAudioData, which resamples to the context's 16 kHz.
   */
  async decode(file: ArrayBuffer): Promise<FileAudio> {
    let audio = exactWav(file);
    if (!audio) {
      const buffer = await this.context.decodeAudioData(file);
      audio = {
        channels: buffer.numberOfChannels,
        length: buffer.length,
        data: Array.from({ length: buffer.numberOfChannels }, (_, c) => buffer.getChannelData(c)),
      };
    }
    if (audio.channels > 2) throw new Error(`the file has ${audio.channels} channels: 1 or 2 only`);
    return audio;
  }

  /**
   * Streams a decoded file at real-time pace, interleaved when stereo, then calls `done`. Paced by
   * the clock, not by timer ticks: a throttled tab catches up in one burst rather than drifting.
   */
  streamFile(buffer: FileAudio, send: (samples: Float32Array) => void, done: () => void): void {
    const { channels, data } = buffer;
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

function exactWav(file: ArrayBuffer): FileAudio | undefined {
  try {
    const wav = parseWav(file);
    if (wav.sampleRate !== RATE) return undefined;
    const data = Array.from({ length: wav.channels }, (_, c) => {
      const out = new Float32Array(wav.frames);
      for (let i = 0; i < wav.frames; i++) out[i] = wav.sample(c, i);
      return out;
    });
    return { channels: wav.channels, length: wav.frames, data };
  } catch {
    return undefined; // not a WAV this reader knows: the browser's decoder tries
  }
}
