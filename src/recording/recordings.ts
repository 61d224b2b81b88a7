import { mkdirSync } from 'node:fs';
import { readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import type { Call } from '../calls/call.js';
import type { LegConsumerFactory } from '../calls/call-registry.js';
import { type Clock, systemClock, type TimerHandle } from '../clock.js';
import type { Keyring } from '../crypto/keyring.js';
import { CallRecorder, type RecordingInfo } from './call-recorder.js';
import type { RecordingUploads } from './recording-uploads.js';
import { recordingContext } from './sealed-recording.js';
import { pauseMarks } from './wav-markers.js';
import type { RecordingFormat } from './wav-writer.js';

/** CallSids are [A-Za-z0-9]; anything else never becomes a file name. */
const SAFE_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Dual-channel recordings under DATA_DIR/recordings: a recorder per call (the inbound track on the
 * left, outbound on the right), closed when the call ends, then `onReady`; and a retention sweep.
 * With `uploads` (RECORDING_STORE=s3://…) each finished file is queued for upload and deleted once
 * its object is confirmed: every file still on disk then awaits its upload, so the retention sweep
 * leaves them alone (the bucket's lifecycle rules govern retention there). With `keyring`
 * (ENCRYPTION_KEY) each file is sealed as it is written: nothing in clear reaches the disk.
 */
export class Recordings {
  readonly dir: string;
  readonly #format: RecordingFormat;
  readonly #retentionHours: number;
  readonly #log: FastifyBaseLogger;
  readonly #onReady: (call: Call, info: RecordingInfo | undefined) => void;
  readonly #recorders = new Map<string, CallRecorder>();
  readonly #unrecorded = new Set<string>();
  readonly #clock: Clock;
  readonly uploads: RecordingUploads | undefined;
  /** ENCRYPTION_KEY: recordings are sealed at rest, and opened with it to be served. */
  readonly keyring: Keyring | undefined;
  #sweep: TimerHandle | undefined;

  constructor(
    dataDir: string,
    format: RecordingFormat,
    retentionHours: number,
    log: FastifyBaseLogger,
    onReady: (call: Call, info: RecordingInfo | undefined) => void,
    clock: Clock = systemClock,
    uploads?: RecordingUploads,
    keyring?: Keyring,
  ) {
    this.keyring = keyring;
    this.#clock = clock;
    this.uploads = uploads;
    this.dir = join(dataDir, 'recordings');
    mkdirSync(this.dir, { recursive: true });
    this.#format = format;
    this.#retentionHours = retentionHours;
    this.#log = log;
    this.#onReady = onReady;
  }

  /** Feeds each leg into its call's recorder; the recording closes with the call's scope. */
  readonly consumer: LegConsumerFactory = (call, leg) => {
    if (!SAFE_NAME.test(call.callSid)) {
      // No file for a name like that; still say (once) that no recording is coming.
      if (!this.#unrecorded.has(call.callSid)) {
        this.#unrecorded.add(call.callSid);
        call.log.warn('call id is not a plain token: not recorded');
        call.scope.defer(() => {
          this.#unrecorded.delete(call.callSid);
          this.#onReady(call, undefined);
        });
      }
      return undefined;
    }
    let recorder = this.#recorders.get(call.callSid);
    if (!recorder) {
      // Every leg of a call has the same timing: the first one's fill limit bounds the recorder's padding.
      const created = new CallRecorder(
        this.pathOf(call.callSid) as string,
        this.#format,
        2,
        leg.maxFillMs,
        call.scope.timers, // the call's scope owns the flush timer
        this.keyring ? { keyring: this.keyring, context: recordingContext(call.callSid) } : undefined,
      );
      recorder = created;
      this.#recorders.set(call.callSid, created);
      // Agent calls have no outbound track: the right channel is what the agent played.
      if (!call.start.legs.some((l) => l.track === 'outbound')) call.played.attach(created.channel(1));
      // Last: a redacted recording writes its held audio once the call's last words are in.
      call.scope.deferLast(async () => {
        let info: RecordingInfo | undefined;
        try {
          info = await created.close(pauseMarks(call.pauses));
        } catch (err) {
          call.log.error({ err }, 'recording could not be finished');
        }
        this.#recorders.delete(call.callSid); // only now is the file complete
        if (info && this.uploads) {
          this.uploads.enqueue({
            callSid: call.callSid,
            path: info.path,
            // What is uploaded is the file on disk: sealed, its own sha256 and size.
            sha256: info.encrypted?.sha256 ?? info.sha256,
            bytes: info.encrypted?.bytes ?? info.bytes,
          });
          info = { ...info, objectUrl: this.uploads.urlOf(call.callSid) };
        }
        this.#onReady(call, info);
      });
    }
    return recorder.channel(leg.track === 'outbound' ? 1 : 0, call.audioRedaction?.gate(leg.label));
  };

  /** True while the call's file is still being written (served only once it is complete). */
  writing(callSid: string): boolean {
    return this.#recorders.has(callSid);
  }

  pathOf(callSid: string): string | undefined {
    return SAFE_NAME.test(callSid) ? join(this.dir, `${callSid}.wav`) : undefined;
  }

  /**
   * With uploads: queues the finished files left on disk (their uploads were not confirmed).
   * Otherwise deletes recordings older than the retention, now and every hour (0: keep everything).
   */
  startRetention(): void {
    if (this.uploads) {
      void this.uploads.recover(this.dir, (callSid) => this.writing(callSid));
      return;
    }
    if (this.#retentionHours === 0) return;
    void this.#deleteExpired();
    this.#sweep = this.#clock.setInterval(() => void this.#deleteExpired(), 3_600_000);
    this.#sweep.unref();
  }

  stop(): void {
    this.#clock.clearInterval(this.#sweep);
    this.uploads?.stop();
  }

  async #deleteExpired(): Promise<void> {
    const cutoff = this.#clock.wallNow() - this.#retentionHours * 3_600_000;
    for (const name of await readdir(this.dir)) {
      const path = join(this.dir, name);
      try {
        if ((await stat(path)).mtimeMs < cutoff) {
          await unlink(path);
          this.#log.info({ path }, 'recording deleted (retention)');
        }
      } catch (err) {
        this.#log.warn({ err, path }, 'retention sweep could not delete a recording');
      }
    }
  }
}
