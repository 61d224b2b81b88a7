import { describe, expect, it } from 'vitest';
import type { CallSnapshot } from '../../src/calls/call.js';
import type { CallStore } from '../../src/calls/call-store.js';
import { PostgresCallStore } from '../../src/calls/postgres-call-store.js';
import { SqliteCallStore } from '../../src/calls/sqlite-call-store.js';
import { openPool } from '../../src/store/postgres.js';
import type { SequencedEvent } from '../../src/transcripts/call-transcript.js';
import { hasPostgres } from '../helpers/postgres.js';
import {
  code,
  K1,
  K2,
  keyringOf,
  loseTheKeyRace,
  rawPostgres,
  sealedPlaces,
  T,
  WORDS,
} from '../helpers/sealed-stores.js';

/*
 * ENCRYPTION_KEY and the call stores: what callers said is in no byte on disk, yet reads as ever;
 * clear rows from before still read; rotated keys still open; moved rows do not; erasure and
 * retention take the call's key with it; two instances agree on a call's one key.
 */

const NUMBER = '+441632960187';

function snapshot(callSid: string, state: 'live' | 'ended' = 'ended', endedAt = T + 5_000): CallSnapshot {
  return {
    callSid,
    ingress: 'twilio',
    streamSid: 'MZ1',
    accountSid: null,
    participants: [{ role: 'caller', address: NUMBER }],
    mode: 'transcribe',
    bidirectional: false,
    state,
    startedAt: new Date(T).toISOString(),
    endedAt: state === 'ended' ? new Date(endedAt).toISOString() : null,
    endReason: state === 'ended' ? 'stop' : null,
    closeCode: null,
    durationSeconds: 5,
    customParameters: { account: 'zebra-4471' },
    legs: [],
    malformedMessages: { total: 0, byReason: {} },
    sequenceGaps: 0,
    dtmf: [{ digit: '7', atMs: 100 }],
    dtmfDropped: 0,
    status: [],
    agent: null,
    rtp: null,
  };
}

function final(seq: number, text: string): SequencedEvent {
  return {
    type: 'final',
    leg: 'caller',
    utteranceId: seq,
    text,
    startMs: seq * 1000,
    endMs: seq * 1000 + 500,
    words: text.split(' ').map((word, i) => ({ word, startMs: i * 100, endMs: i * 100 + 90 })),
    recovered: false,
    engine: 'vllm',
    seq,
    at: new Date(T + seq).toISOString(),
  } as unknown as SequencedEvent;
}

/** A call with its record and three finals, sealed or not as `store` does. */
async function scripted(store: CallStore, callSid: string): Promise<void> {
  await store.saveCall(snapshot(callSid), 'a', T + 5_000);
  const words = WORDS.split(' ');
  for (let seq = 1; seq <= 3; seq++) await store.addTranscriptEvent(callSid, final(seq, words.join(' ')));
  await store.endTranscript(callSid);
  await store.saveDocument(callSid, 'refined', JSON.stringify({ utterances: [{ text: WORDS }] }));
}

const TABLES = ['calls', 'transcript_events', 'call_documents', 'call_keys'];

const { places, database } = sealedPlaces<CallStore>(
  'sealed-calls',
  (path, keyring) => new SqliteCallStore(path, keyring),
  (pool, keyring) => PostgresCallStore.open(pool, keyring),
);

describe.each(places)('the %s call store with ENCRYPTION_KEY', (_name, available, place) => {
  const run = available ? it : it.skip;

  run(
    'keeps the words, numbers and parameters in no byte on disk, and reads them back as they were',
    async () => {
      const { open, reopen, raw, done } = await place();
      const store = await open(keyringOf(K1));
      await scripted(store, 'CAsealed');
      await store.addTranscriptEvent('CAsealed', { ...final(4, WORDS), type: 'partial' } as SequencedEvent);
      const text = await raw.text(TABLES);
      for (const secret of [...WORDS.split(' ').filter((w) => w.length > 4), NUMBER, 'zebra-4471'])
        expect(text).not.toContain(secret);
      expect(await raw.query('SELECT call_sid, key_id FROM call_keys')).toEqual([
        { call_sid: 'CAsealed', key_id: 'k1' },
      ]);
      // Every read opens them: the record, the transcript, a list, after a reopen too.
      const again = await reopen(keyringOf(K1));
      expect(await again.getCall('CAsealed', T)).toMatchObject({
        participants: [{ address: NUMBER }],
        customParameters: { account: 'zebra-4471' },
        dtmf: [{ digit: '7' }],
      });
      expect((await again.listCalls('all', 10, T)).map((c) => c.callSid)).toEqual(['CAsealed']);
      expect(await again.transcript('CAsealed', 0)).toEqual({
        events: [1, 2, 3].map((seq) => final(seq, WORDS)),
        complete: true,
      });
      expect(await again.document('CAsealed', 'refined')).toBe(
        JSON.stringify({ utterances: [{ text: WORDS }] }),
      );
      await done();
    },
  );

  run(
    'reads the clear rows written before the key was set, beside sealed ones of the same call; without the key, sealed ones are VL_ERR_ENCRYPTION_KEY',
    async () => {
      const { open, reopen, raw, done } = await place();
      const before = await open();
      await before.saveCall(snapshot('CAmixed', 'live'), 'a', T);
      await before.addTranscriptEvent('CAmixed', final(1, 'said in clear'));
      // What the check for words on disk would find in clear (so that it can find them).
      expect(await raw.text(TABLES)).toContain('said in clear');
      const after = await reopen(keyringOf(K1));
      expect((await after.getCall('CAmixed', T))?.state).toBe('live');
      await after.addTranscriptEvent('CAmixed', final(2, 'said sealed'));
      expect((await after.transcript('CAmixed', 0))?.events).toEqual([
        final(1, 'said in clear'),
        final(2, 'said sealed'),
      ]);
      const bodies = await raw.query('SELECT body FROM transcript_events ORDER BY seq');
      expect(bodies.map((r) => String(r.body).slice(0, 4))).toEqual(['{"ty', 'vx1:']);
      await after.saveCall(snapshot('CAmixed'), 'a', T + 5_000);
      // The key taken away: what is sealed fails with the code, nothing is read as garbage.
      const keyless = await reopen();
      expect(await code(keyless.getCall('CAmixed', T))).toBe('VL_ERR_ENCRYPTION_KEY');
      expect(await code(keyless.listCalls('all', 10, T))).toBe('VL_ERR_ENCRYPTION_KEY');
      expect(await code(keyless.transcript('CAmixed', 0))).toBe('VL_ERR_ENCRYPTION_KEY');
      await done();
    },
  );

  run(
    'after a rotation, rows sealed under the retired key still read and new calls are keyed under the new one',
    async () => {
      const { open, reopen, raw, done } = await place();
      const first = await open(keyringOf(K1));
      await scripted(first, 'CAold');
      const rotated = await reopen(keyringOf(K2, K1));
      await scripted(rotated, 'CAnew');
      expect((await rotated.transcript('CAold', 0))?.events).toHaveLength(3);
      expect((await rotated.getCall('CAold', T))?.customParameters).toEqual({ account: 'zebra-4471' });
      expect(await raw.query('SELECT call_sid, key_id FROM call_keys ORDER BY call_sid')).toEqual([
        { call_sid: 'CAnew', key_id: 'k2' },
        { call_sid: 'CAold', key_id: 'k1' },
      ]);
      // k1 dropped too soon: its calls fail with the code, k2's read.
      const dropped = await reopen(keyringOf(K2));
      expect(await code(dropped.transcript('CAold', 0))).toBe('VL_ERR_ENCRYPTION_KEY');
      expect((await dropped.transcript('CAnew', 0))?.events).toHaveLength(3);
      // Erasure still finds the call from its clear columns, and takes its rows and key row.
      expect(await dropped.locateCall('CAold', T)).toEqual({
        state: 'ended',
        instance: { id: 'a', seenAt: expect.any(String) },
        recording: null,
      });
      expect(await dropped.eraseCall('CAold')).toEqual({ calls: 1, transcriptEvents: 3 });
      expect(await dropped.locateCall('CAold', T)).toBeUndefined();
      expect(await raw.query('SELECT call_sid FROM call_keys')).toEqual([{ call_sid: 'CAnew' }]);
      await done();
    },
  );

  run(
    'a sealed value moved to another row or call, or changed, does not open: VL_ERR_DECRYPTION',
    async () => {
      const { open, reopen, raw, done } = await place();
      const writer = await open(keyringOf(K1));
      await scripted(writer, 'CAa');
      await scripted(writer, 'CAb');
      const body = async (callSid: string, seq: number) =>
        (
          await raw.query('SELECT body FROM transcript_events WHERE call_sid = $1 AND seq = $2', callSid, seq)
        )[0]?.body as string;
      const setBody = (value: string, callSid: string, seq: number) =>
        raw.run(
          'UPDATE transcript_events SET body = $1 WHERE call_sid = $2 AND seq = $3',
          value,
          callSid,
          seq,
        );
      const snapshotOf = async (callSid: string) =>
        (await raw.query('SELECT snapshot FROM calls WHERE call_sid = $1', callSid))[0]?.snapshot as string;
      // With the writer shut: CAa's seq 1 gets its seq 2 (same call, same key), CAb's record gets CAa's.
      const reader = await reopen(keyringOf(K1), async () => {
        await setBody(await body('CAa', 2), 'CAa', 1);
        await raw.run('UPDATE calls SET snapshot = $1 WHERE call_sid = $2', await snapshotOf('CAa'), 'CAb');
      });
      expect(await code(reader.transcript('CAa', 0))).toBe('VL_ERR_DECRYPTION');
      expect((await reader.transcript('CAa', 1))?.events.map((e) => e.seq)).toEqual([2, 3]);
      expect(await code(reader.getCall('CAb', T))).toBe('VL_ERR_DECRYPTION');
      expect((await reader.transcript('CAb', 0))?.events).toHaveLength(3);
      // One character changed in CAb's seq 3.
      const sealed = await body('CAb', 3);
      const at = sealed.length - 10;
      await setBody(sealed.slice(0, at) + (sealed[at] === 'A' ? 'B' : 'A') + sealed.slice(at + 1), 'CAb', 3);
      expect(await code(reader.transcript('CAb', 2))).toBe('VL_ERR_DECRYPTION');
      await done();
    },
  );

  run(
    'erasure and retention delete the call’s key row: a copy of its rows kept elsewhere no longer opens',
    async () => {
      const { open, raw, done } = await place();
      const store = await open(keyringOf(K1));
      await scripted(store, 'CAgone');
      await scripted(store, 'CAkept');
      const copy = await raw.query(
        'SELECT call_sid, seq, body FROM transcript_events WHERE call_sid = $1',
        'CAgone',
      );
      expect(await store.eraseCall('CAgone')).toEqual({ calls: 1, transcriptEvents: 3 });
      expect((await raw.query('SELECT call_sid FROM call_keys')).map((r) => r.call_sid)).toEqual(['CAkept']);
      // The rows come back (a backup of those tables, say), the key does not: they stay shut.
      await store.saveCall(snapshot('CAgone'), 'a', T + 5_000);
      await raw.run('DELETE FROM call_keys WHERE call_sid = $1', 'CAgone');
      for (const row of copy)
        await raw.run(
          'INSERT INTO transcript_events (call_sid, seq, body) VALUES ($1, $2, $3)',
          row.call_sid,
          row.seq,
          row.body,
        );
      const fresh = await open(keyringOf(K1));
      expect(await code(fresh.transcript('CAgone', 0))).toBe('VL_ERR_DECRYPTION');
      // Retention: the pruned call's key row goes with it.
      const keyed = async () =>
        (await raw.query('SELECT call_sid FROM call_keys ORDER BY call_sid')).map((r) => r.call_sid);
      await fresh.saveCall(snapshot('CAancient', 'ended', T - 40 * 86_400_000), 'a', T);
      await fresh.addTranscriptEvent('CAancient', final(1, WORDS));
      expect(await keyed()).toEqual(['CAancient', 'CAkept']);
      expect(await fresh.prune(T - 30 * 86_400_000)).toBe(1);
      expect(await keyed()).toEqual(['CAkept']);
      await done();
    },
  );
});

describe.skipIf(!hasPostgres)('two PostgreSQL instances with the same ENCRYPTION_KEY', () => {
  it('read each other’s sealed rows, and writing a call’s first rows at once end up with one key', async () => {
    const url = await database();
    const a = await PostgresCallStore.open(openPool(url, 4), keyringOf(K1));
    const b = await PostgresCallStore.open(openPool(url, 4), keyringOf(K1));
    await Promise.all([
      a.addTranscriptEvent('CArace', final(1, WORDS)),
      b.addTranscriptEvent('CArace', final(2, WORDS)),
      a.saveCall(snapshot('CArace'), 'a', T + 5_000),
    ]);
    const raw = rawPostgres(url);
    expect(await raw.query('SELECT count(*)::int AS n FROM call_keys')).toEqual([{ n: 1 }]);
    for (const store of [a, b]) expect((await store.transcript('CArace', 0))?.events).toHaveLength(2);
    await Promise.all([a.close(), b.close()]);
    await raw.close();
  });

  it('an instance whose key row lost the race (the winner committed while it waited) seals under the winner’s key', async () => {
    const url = await database();
    const late = await PostgresCallStore.open(openPool(url, 4), keyringOf(K1));
    // The winner: its key row inserted, not committed yet, on a connection of its own.
    const { won, kept } = await loseTheKeyRace(
      url,
      { table: 'call_keys', keyring: keyringOf(K1), context: 'call:CAlate', callSid: 'CAlate' },
      () => late.addTranscriptEvent('CAlate', final(1, WORDS)),
    );
    expect(Buffer.compare(kept, won)).toBe(0);
    // A third instance, knowing only the key row, opens what the late one sealed.
    const third = await PostgresCallStore.open(openPool(url, 2), keyringOf(K1));
    await third.saveCall(snapshot('CAlate'), 'c', T + 5_000);
    expect((await third.transcript('CAlate', 0))?.events).toEqual([final(1, WORDS)]);
    await Promise.all([late.close(), third.close()]);
  });
});
