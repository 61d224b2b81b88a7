import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FliteTts } from '../../../src/agent/tts/flite-tts.js';
import { isVoxlineError } from '../../../src/errors.js';

async function collect(
  tts: FliteTts,
  text: string,
  signal = new AbortController().signal,
): Promise<Int16Array> {
  const parts: Int16Array[] = [];
  for await (const pcm of tts.synthesize(text, signal)) parts.push(pcm);
  return parts[0] ?? new Int16Array();
}

function rms(pcm: Int16Array): number {
  let sum = 0;
  for (const s of pcm) sum += s * s;
  return Math.sqrt(sum / pcm.length);
}

/** This process's flite children, from /proc (Linux): their pids. */
function fliteChildren(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (ppid === process.pid && cmdline.includes('--no-turbo-fast-api-calls')) pids.push(Number(entry));
    } catch {} // the process ended while being read
  }
  return pids;
}

// Each case compiles flite's WebAssembly in fresh processes: seconds on a loaded 2-core machine.
describe(
  'FliteTts: the bundled offline engine (flite compiled to WASI, in child processes)',
  { timeout: 60_000 },
  () => {
    it('speaks: 16 kHz PCM of a plausible length and loudness, the same for the same text', async () => {
      const tts = new FliteTts({ voice: 'slt', workers: 2 });
      const pcm = await collect(tts, 'Your appointment is on Tuesday at three.');
      const seconds = pcm.length / 16_000;
      expect(seconds).toBeGreaterThan(1.5);
      expect(seconds).toBeLessThan(5);
      expect(rms(pcm)).toBeGreaterThan(500);
      expect(await collect(tts, 'Your appointment is on Tuesday at three.')).toEqual(pcm);
      await tts.close();
    });

    it('synthesizes sentences in parallel on its workers and keeps them apart', async () => {
      const tts = new FliteTts({ voice: 'kal', workers: 2 }); // kal is 8 kHz: resampled to 16 kHz
      const [short, long] = await Promise.all([
        collect(tts, 'Yes.'),
        collect(tts, 'No, I would rather not say that today.'),
      ]);
      expect(long.length).toBeGreaterThan(short.length * 2);
      await tts.close();
    });

    it('drops a queued sentence whose turn was cancelled, and refuses work once closed', async () => {
      const tts = new FliteTts({ voice: 'slt', workers: 1 });
      const busy = collect(tts, 'A long sentence that keeps the only worker busy for a little while.');
      const controller = new AbortController();
      const queued = collect(tts, 'Never said.', controller.signal);
      controller.abort(new Error('barge-in'));
      await expect(queued).rejects.toThrow('barge-in');
      await busy;
      await tts.close();
      await expect(collect(tts, 'Too late.')).rejects.toSatisfy((err) =>
        isVoxlineError(err, 'VL_ERR_TTS_FAILED'),
      );
    });

    it('a cancelled queued sentence leaves the queue: it takes no place that another call needs', async () => {
      const tts = new FliteTts({ voice: 'slt', workers: 1, maxQueued: 1 });
      const busy = collect(tts, 'A long sentence that keeps the only process busy for a little while.');
      const controller = new AbortController();
      const cancelled = collect(tts, 'Never said.', controller.signal);
      controller.abort(new Error('barge-in'));
      await expect(cancelled).rejects.toThrow('barge-in');
      // The queue is empty again: this one is taken, not refused as overloaded.
      const next = collect(tts, 'Next.');
      expect((await next).length).toBeGreaterThan(0);
      await busy;
      await tts.close();
    });

    it('a flite process that dies fails only its sentence: the next one is spoken by a new process', async () => {
      const tts = new FliteTts({ voice: 'slt', workers: 1 });
      const before = await collect(tts, 'Hello there.');
      const [pid] = fliteChildren();
      expect(pid).toBeGreaterThan(0);
      const doomed = collect(
        tts,
        'A long sentence that keeps the only process busy for a little while longer.',
      );
      process.kill(pid, 'SIGKILL');
      await expect(doomed).rejects.toSatisfy(
        (err) => isVoxlineError(err, 'VL_ERR_TTS_FAILED') && /flite exited \(SIGKILL\)/.test(String(err)),
      );
      expect(await collect(tts, 'Hello there.')).toEqual(before);
      expect(fliteChildren()).not.toContain(pid);
      await tts.close();
      expect(fliteChildren()).toEqual([]);
    });

    it('names its voices when given one it does not have', () => {
      expect(() => new FliteTts({ voice: 'hal', workers: 1 })).toThrow(
        /flite has no voice hal \(slt, kal16, awb, rms, kal\)/,
      );
    });
  },
);
