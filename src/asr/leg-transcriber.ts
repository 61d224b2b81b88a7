import type { FastifyBaseLogger } from 'fastify';
import type { AudioFrame } from '../audio/frame.js';
import type { LegConsumer } from '../calls/leg.js';
import { type Clock, systemClock, type TimerHandle } from '../clock.js';
import { FrameRing } from './frame-ring.js';
import type { SttStream } from './stt.js';
import { LevelGate } from './vad/level-gate.js';
import type { SileroVad } from './vad/silero-vad.js';
import { VadClosedError, VadRestartError, VadState } from './vad/silero-vad.js';
import type { SegmentDecision, SegmenterOptions } from './vad/vad-segmenter.js';
import { VadSegmenter } from './vad/vad-segmenter.js';

export interface TranscriberOptions {
  readonly segmenter: SegmenterOptions;
  /** Audio kept from before the VAD's speech start, so the first syllable is not clipped. */
  readonly prerollMs: number;
  /**
   * Between utterances (no speech open or starting), windows quieter than this RMS in dB full scale
   * are judged silent without running the model: line noise costs no VAD time. Default: only
   * digital silence (−60 dBFS) is skipped.
   */
  readonly gateDbfs?: number;
  /** How long the end of a leg waits for its last final with no progress from the engine. */
  readonly finalTimeoutMs: number;
  /** Told the CPU time (ms) and audio (ms) of each window the VAD examined. */
  readonly observeVad?: (cpuMs: number, audioMs: number) => void;
  /** Told when the VAD decides speech started or ended (not of cuts at the maximum length). */
  readonly onSpeech?: (type: 'start' | 'end', atMs: number) => void;
  /** What the final timeout and the VAD's CPU timing run on; the system clock by default. */
  readonly clock?: Clock;
}

export interface TranscriberStats {
  utterances: number;
  /** CPU time spent in the VAD model, in ms. */
  vadMs: number;
  vadWindows: number;
  /** Windows judged silent by level alone (digital silence, or below the gate between utterances). */
  vadSilentWindows: number;
  /** Gated windows the model heard again to catch its state up (counted in `vadMs`, not `vadWindows`). */
  vadReplayedWindows: number;
  /** Windows judged by level alone because the VAD fell behind (loud ones pass as speech). */
  vadOverruns: number;
  /** Silence between utterances that was never sent to the engine, in ms. */
  silenceSkippedMs: number;
}

interface Window {
  readonly data: Float32Array;
  readonly startMs: number;
  readonly endMs: number;
}

const MS_PER_SAMPLE = 1 / 16;
/** Windows waiting for the VAD beyond this are judged by level alone (about 2 s behind). */
const MAX_PENDING_WINDOWS = 64;

/**
 * Turns a leg's frames into utterances for its speech-to-text stream. With a VAD, audio flows to
 * the engine only while someone speaks (plus a pre-roll); speech end (after the hangover) flushes
 * the utterance, and long speech is cut at the maximum length. Without a VAD every frame flows and
 * only the maximum length cuts. The VAD does not lose speech: if it fails, audio is passed on as
 * speech; if it falls behind, the windows beyond its backlog bound are judged by level (above
 * VAD_GATE_DBFS: speech).
 */
export class LegTranscriber implements LegConsumer {
  readonly stats: TranscriberStats = {
    utterances: 0,
    vadMs: 0,
    vadWindows: 0,
    vadSilentWindows: 0,
    vadReplayedWindows: 0,
    vadOverruns: 0,
    silenceSkippedMs: 0,
  };
  readonly #stt: SttStream;
  readonly #vad: SileroVad | undefined;
  readonly #options: TranscriberOptions;
  readonly #log: FastifyBaseLogger;
  readonly #clock: Clock;
  readonly #segmenter: VadSegmenter;
  readonly #vadState: VadState;
  readonly #preroll: FrameRing;
  readonly #gate: LevelGate;
  #leg = '';
  readonly #pending: Window[] = [];
  /** The window being filled: 512 samples at 16 kHz, or (an 8 kHz VAD) 256 taken 2:1 from the PCM. */
  readonly #window: Float32Array;
  /** 16 kHz samples a window spans (512 at either rate), and the step between those taken (1 or 2). */
  readonly #windowSpan: number;
  readonly #step: number;
  /** 16 kHz samples of the window being filled taken or stepped over so far. */
  #windowFill = 0;
  #windowStartMs = 0;
  #speaking: boolean;
  #vadRunning = false;
  #vadFailed = false;
  #utteranceStartMs: number | undefined;
  /** Call-clock end of the audio the VAD has judged. */
  #judgedUpToMs = Number.NEGATIVE_INFINITY;
  #ending = false;
  #finished: Promise<void> | undefined;
  #resolveDone!: () => void;
  readonly done: Promise<void>;

  constructor(
    stt: SttStream,
    vad: SileroVad | undefined,
    options: TranscriberOptions,
    log: FastifyBaseLogger,
  ) {
    this.#stt = stt;
    this.#vad = vad;
    this.#options = options;
    this.#log = log;
    this.#clock = options.clock ?? systemClock;
    this.#segmenter = new VadSegmenter(options.segmenter);
    const rate = vad?.sampleRate ?? 16000;
    this.#vadState = new VadState(rate);
    this.#step = rate === 8000 ? 2 : 1;
    this.#window = new Float32Array(vad?.windowSamples ?? 512);
    this.#windowSpan = this.#window.length * this.#step;
    this.#gate = new LevelGate(options.gateDbfs, vad?.contextSamples ?? 64);
    this.#speaking = vad === undefined;
    // Pre-roll plus what the VAD may still be judging (its backlog is bounded at about 2 s).
    this.#preroll = new FrameRing(options.prerollMs + (MAX_PENDING_WINDOWS + 4) * 32);
    this.done = new Promise((resolve) => {
      this.#resolveDone = resolve;
    });
  }

  push(frame: AudioFrame): void {
    if (this.#ending) return;
    if (this.#vad && !this.#vadFailed) this.#feedVad(frame);
    if (this.#speaking && this.#preroll.length === 0) this.#send(frame);
    else this.#hold(frame);
  }

  /**
   * Call-clock start of the oldest audio of this leg that may still be transcribed: held for the
   * VAD or as pre-roll, or sent and waiting for its final. Undefined when every frame pushed so far
   * is settled (transcribed, or judged silent and dropped).
   */
  pendingFromMs(): number | undefined {
    const held = this.#preroll.oldestStartMs();
    const sent = this.#stt.pendingFromMs();
    if (held === undefined) return sent;
    return sent === undefined ? held : Math.min(held, sent);
  }

  end(): void {
    if (this.#ending) return;
    this.#ending = true;
    if (!this.#vadRunning) this.#finish();
  }

  // ---- VAD ----

  /**
   * Cuts the leg's PCM into VAD windows. For an 8 kHz VAD, every other sample: those at odd
   * indices of each frame, which for a telephone leg are its own 8 kHz samples, passed through
   * the upsampler unchanged (Upsampler8to16: delayed 31 samples at 16 kHz, test/asr/vad/
   * decimation.test.ts). A window then spans the same 512 samples, 32 ms, at either rate.
   */
  #feedVad(frame: AudioFrame): void {
    const { pcm } = frame;
    const step = this.#step;
    const span = this.#windowSpan;
    for (let i = 0; i < pcm.length; ) {
      if (this.#windowFill === 0) this.#windowStartMs = frame.startMs + i * MS_PER_SAMPLE;
      const n = Math.min(pcm.length - i, span - this.#windowFill);
      if (step === 1) {
        for (let k = 0; k < n; k++) this.#window[this.#windowFill + k] = pcm[i + k] / 32768;
      } else {
        // The odd positions of the window's span (a telephone frame holds whole 8 kHz samples).
        for (let k = 1 - (this.#windowFill & 1); k < n; k += 2)
          this.#window[(this.#windowFill + k) >> 1] = pcm[i + k] / 32768;
      }
      this.#windowFill += n;
      i += n;
      if (this.#windowFill === span) {
        const startMs = this.#windowStartMs;
        this.#pending.push({
          data: this.#window.slice(),
          startMs,
          endMs: startMs + span * MS_PER_SAMPLE,
        });
        this.#windowFill = 0;
      }
    }
    if (!this.#vadRunning && this.#pending.length > 0) void this.#runVad();
  }

  async #runVad(): Promise<void> {
    const vad = this.#vad as SileroVad;
    this.#vadRunning = true;
    while (this.#pending.length > 0 && !this.#vadFailed) {
      const window = this.#pending.shift() as Window;
      let probability: number;
      let cpuMs = 0;
      if (this.#pending.length > MAX_PENDING_WINDOWS) {
        // Behind by more than the backlog bound: the level judges, not the model. Loud windows pass
        // as speech (fail open), quiet ones do not, so falling behind does not send the engine
        // every window of the leg: the work stays bounded when the server can least afford it.
        this.stats.vadOverruns++;
        probability = this.#gate.loud(window.data) ? 1 : 0;
      } else if (this.#gate.silent(window.data, this.#segmenter.idle, this.#vadState)) {
        this.stats.vadSilentWindows++;
        probability = 0;
      } else {
        const started = this.#clock.now();
        try {
          this.stats.vadReplayedWindows += await this.#gate.replay(vad, this.#vadState);
          probability = await vad.probability(this.#vadState, window.data);
        } catch (err) {
          if (err instanceof VadRestartError) {
            // Its worker died under it and a new one is starting: this window goes by level, the
            // next ones to the model again.
            this.stats.vadOverruns++;
            probability = this.#gate.loud(window.data) ? 1 : 0;
            this.#log.debug({ err }, 'VAD window judged by level: its worker is restarting');
          } else {
            // Closed at shutdown while the leg still drained its windows: not a fault, not worth an error a leg.
            if (err instanceof VadClosedError)
              this.#log.debug('VAD closed (shutting down): the rest goes to the engine');
            else
              this.#log.error(
                { err },
                'VAD failed: passing all of this leg’s audio to the engine from now on',
              );
            this.#vadFailed = true;
            probability = 1;
          }
        }
        cpuMs = this.#clock.now() - started;
        this.stats.vadMs += cpuMs;
        this.stats.vadWindows++;
      }
      this.#options.observeVad?.(cpuMs, window.endMs - window.startMs);
      this.#judgedUpToMs = window.endMs;
      this.#apply(this.#segmenter.update(probability, window.startMs, window.endMs));
      if (this.#vadFailed) this.#apply({ type: 'start', atMs: window.startMs });
    }
    this.#vadRunning = false;
    if (this.#ending) this.#finish();
  }

  #apply(decision: SegmentDecision | undefined): void {
    if (!decision) return;
    if (decision.type === 'start') {
      if (this.#speaking) return;
      this.#speaking = true;
      this.#release(decision.atMs - this.#options.prerollMs);
      this.#options.onSpeech?.('start', decision.atMs);
    } else if (decision.type === 'end') {
      if (this.#vadFailed) return;
      this.#speaking = false;
      // Told before the flush: a fast engine may deliver the final from inside it.
      this.#options.onSpeech?.('end', decision.atMs);
      this.#flush(decision.atMs);
      this.#evictSilence();
    } else {
      this.#flush(decision.atMs);
    }
  }

  // ---- audio to the engine ----

  #hold(frame: AudioFrame): void {
    this.#leg = frame.leg;
    if (!this.#preroll.push(frame)) {
      // Full: the VAD is far behind. Fail open: everything held goes to the engine as speech.
      this.stats.vadOverruns++;
      this.#speaking = true;
      this.#release(Number.NEGATIVE_INFINITY);
      this.#send(frame);
      return;
    }
    if (this.#speaking) this.#release(Number.NEGATIVE_INFINITY);
    else this.#evictSilence();
  }

  /**
   * Frames the VAD has judged silent, older than the pre-roll, are never sent. Frames it has not
   * judged yet stay: the pending-window bound (fail open) keeps that backlog to about 2 s.
   */
  #evictSilence(): void {
    const keepFromMs = this.#judgedUpToMs - this.#options.prerollMs;
    for (
      let end = this.#preroll.oldestEndMs();
      end !== undefined && end <= keepFromMs;
      end = this.#preroll.oldestEndMs()
    ) {
      this.stats.silenceSkippedMs += this.#preroll.shift(this.#leg);
    }
  }

  /** Sends held frames from `fromMs` on; older ones were silence before the speech. */
  #release(fromMs: number): void {
    while (this.#preroll.length > 0) {
      this.#preroll.shift(this.#leg, (frame) => {
        if (frame.startMs + frame.durationMs <= fromMs) this.stats.silenceSkippedMs += frame.durationMs;
        else this.#send(frame);
      });
    }
  }

  #send(frame: AudioFrame): void {
    if (this.#utteranceStartMs === undefined) {
      this.#utteranceStartMs = frame.startMs;
      this.stats.utterances++;
    } else if (
      !this.#vad &&
      frame.startMs - this.#utteranceStartMs >= this.#options.segmenter.maxUtteranceMs
    ) {
      this.#flush(frame.startMs);
      this.#utteranceStartMs = frame.startMs;
      this.stats.utterances++;
    }
    this.#stt.pushFrame(frame);
  }

  #flush(atMs: number): void {
    if (this.#utteranceStartMs === undefined) return;
    this.#utteranceStartMs = undefined;
    this.#stt.flush(atMs);
  }

  #finish(): void {
    if (this.#finished) return;
    while (this.#preroll.length > 0) this.stats.silenceSkippedMs += this.#preroll.shift(this.#leg);
    const timeoutMs = this.#options.finalTimeoutMs;
    let timer: TimerHandle | undefined;
    // No progress for the timeout ends the wait; an engine still working toward this leg's finals
    // (an in-process model behind real time) is waited for: those finals come late, not never.
    let seen = this.#stt.progress?.();
    let late = false;
    const timedOut = new Promise<'timeout'>((resolve) => {
      const arm = () => {
        timer = this.#clock.setTimeout(() => {
          const now = this.#stt.progress?.();
          if (now === undefined || now === seen) return resolve('timeout');
          seen = now;
          if (!late)
            this.#log.info(
              { timeoutMs },
              'the engine is behind: waiting for the leg’s last transcripts while it works',
            );
          late = true;
          arm();
        }, timeoutMs);
        timer.unref();
      };
      arm();
    });
    this.#finished = Promise.race([this.#stt.endInput(), timedOut]).then((outcome) => {
      this.#clock.clearTimeout(timer);
      if (outcome === 'timeout')
        this.#log.warn({ timeoutMs }, 'last transcript of the leg did not arrive in time');
      this.#stt.close();
      this.#resolveDone();
    });
  }
}
