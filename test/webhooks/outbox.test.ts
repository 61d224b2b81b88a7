import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Outbox } from '../../src/webhooks/outbox.js';

const data = { digit: '1', speaker: 'caller', atMs: 0 };

describe('the SQLite outbox', () => {
  it('numbers each call’s events gaplessly, and keeps them (and the numbering) across a reopen', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'voxline-outbox-')), 'voxline.db');
    let outbox = new Outbox(path);
    const a1 = outbox.append('CA1', 'dtmf', data, ['e1', 'e2']);
    const b1 = outbox.append('CA2', 'dtmf', data, ['e1']);
    const a2 = outbox.append('CA1', 'dtmf', data, ['e1']);
    expect([a1.seq, b1.seq, a2.seq]).toEqual([1, 1, 2]);
    outbox.close();

    outbox = new Outbox(path);
    expect(outbox.append('CA1', 'dtmf', data, ['e1']).seq).toBe(3);
    expect(outbox.due('e2', Date.now(), 10).map((d) => d.eventId)).toEqual([a1.id]);
    outbox.close();
  });

  it('offers only the head of each call’s queue per endpoint, so a call’s events go in order', () => {
    const outbox = new Outbox(join(mkdtempSync(join(tmpdir(), 'voxline-outbox-')), 'voxline.db'));
    const now = Date.now();
    const a1 = outbox.append('CA1', 'dtmf', data, ['e'], now);
    outbox.append('CA1', 'dtmf', data, ['e'], now);
    const b1 = outbox.append('CA2', 'dtmf', data, ['e'], now);
    expect(
      outbox
        .due('e', now, 10)
        .map((d) => d.eventId)
        .sort(),
    ).toEqual([a1.id, b1.id].sort());
    const [head] = outbox.due('e', now, 10).filter((d) => d.eventId === a1.id);
    outbox.markRetry(head.id, now + 60_000, 'HTTP 500');
    // CA1's second event waits behind its first, even though the first is not due yet.
    expect(outbox.due('e', now, 10).map((d) => d.eventId)).toEqual([b1.id]);
    outbox.markDelivered(head.id);
    expect(outbox.due('e', now, 10).map((d) => d.seq)).toEqual([2, 1]);
    outbox.close();
  });

  it('keeps one gapless sequence per call when partials (not fsynced) and finals (fsynced) interleave', () => {
    const outbox = new Outbox(join(mkdtempSync(join(tmpdir(), 'voxline-outbox-')), 'voxline.db'), 'full');
    const partial = { speaker: 'caller', utteranceId: 1, text: 'he', startMs: 0, audioMs: 80 };
    const seqs = [
      outbox.append('CA1', 'transcript.partial', partial, ['e']).seq,
      outbox.append('CA1', 'dtmf', data, ['e']).seq,
      outbox.append('CA1', 'transcript.partial', partial, ['e']).seq,
      outbox.append('CA1', 'dtmf', data, ['e']).seq,
    ];
    expect(seqs).toEqual([1, 2, 3, 4]);
    outbox.close();
  });
});
