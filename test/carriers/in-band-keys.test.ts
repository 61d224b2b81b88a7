import { describe, expect, it } from 'vitest';
import type { MarkResult, OutboundAudio } from '../../src/carriers/carrier.js';
import { playKeys } from '../../src/carriers/in-band-keys.js';
import { ManualClock } from '../helpers/manual-clock.js';

/** Audio back that keeps what it is sent and answers marks only when the test says. */
class HeldOutbound implements OutboundAudio {
  readonly pieces: Int16Array[] = [];
  readonly marks: ((result: MarkResult) => void)[] = [];
  sendPcm(pcm: Int16Array): void {
    this.pieces.push(pcm.slice());
  }
  mark(name: string): Promise<MarkResult> {
    return new Promise((resolve) => this.marks.push((r) => resolve({ ...r, name })));
  }
  clear(): void {
    for (const answer of this.marks.splice(0)) answer({ name: '', cleared: true });
  }
}

describe('keys played in band', () => {
  it('go out in 20 ms pieces, then wait for the mark that says they played', async () => {
    const clock = new ManualClock();
    const outbound = new HeldOutbound();
    let done = false;
    const pressing = playKeys(outbound, '12', clock).then(() => {
      done = true;
    });
    expect(outbound.pieces.every((p) => p.length === 320)).toBe(true);
    expect(outbound.pieces.length).toBe(16); // 2 × 160 ms
    await clock.advance(1000);
    expect(done).toBe(false);
    outbound.marks[0]({ name: 'voxline.keys', cleared: false });
    await pressing;
    expect(done).toBe(true);
  });

  it('count as sent when the carrier never answers the mark: the tones, then 5 s of grace', async () => {
    const clock = new ManualClock();
    const outbound = new HeldOutbound();
    let done = false;
    const pressing = playKeys(outbound, '1', clock).then(() => {
      done = true;
    });
    await clock.advance(160 + 4_999);
    expect(done).toBe(false);
    await clock.advance(1);
    await pressing;
    expect(done).toBe(true);
  });

  it('cut off by a clear reject; a key off the keypad sends nothing', async () => {
    const clock = new ManualClock();
    const outbound = new HeldOutbound();
    const pressing = playKeys(outbound, '5', clock);
    outbound.clear();
    await expect(pressing).rejects.toThrow(/cut off/);
    const before = outbound.pieces.length;
    await expect(playKeys(outbound, '5e', clock)).rejects.toMatchObject({
      code: 'VL_ERR_CALL_CONTROL_FAILED',
    });
    expect(outbound.pieces.length).toBe(before);
  });
});
