import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CallSnapshot } from '../../src/calls/call.js';
import { type CallFeedEvent, type CallStore, STALE_MS } from '../../src/calls/call-store.js';
import { PostgresCallStore } from '../../src/calls/postgres-call-store.js';
import { SqliteCallStore } from '../../src/calls/sqlite-call-store.js';
import { encryptionConfigFrom } from '../../src/crypto/encryption-config.js';
import { Keyring } from '../../src/crypto/keyring.js';
import { openPool } from '../../src/store/postgres.js';
import type { SequencedEvent } from '../../src/transcripts/call-transcript.js';
import { hasPostgres, type StoreKind, storeContract } from '../helpers/postgres.js';

/*
 * One contract, both call stores: records, transcripts, staleness, retention, following; in
 * clear and sealed (ENCRYPTION_KEY). What sealing adds is test/calls/sealed-call-store.test.ts.
 */

const T = Date.UTC(2026, 11, 2, 9);

function snapshot(callSid: string, state: 'live' | 'ended', startedAt = T, endedAt?: number): CallSnapshot {
  return {
    callSid,
    ingress: 'twilio',
    streamSid: 'MZ1',
    accountSid: null,
    participants: [],
    mode: 'transcribe',
    bidirectional: false,
    state,
    startedAt: new Date(startedAt).toISOString(),
    endedAt: endedAt === undefined ? null : new Date(endedAt).toISOString(),
    endReason: state === 'ended' ? 'stop' : null,
    closeCode: null,
    durationSeconds: 1,
    customParameters: {},
    legs: [],
    malformedMessages: { total: 0, byReason: {} },
    sequenceGaps: 0,
    dtmf: [],
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
    words: [],
    recovered: false,
    engine: 'vllm',
    seq,
    at: new Date(T + seq).toISOString(),
  } as unknown as SequencedEvent;
}

const { kinds: clear, database } = storeContract<CallStore>(
  'calls',
  (path) => new SqliteCallStore(path),
  (pool) => PostgresCallStore.open(pool),
  4,
);

const encryption = encryptionConfigFrom({ ENCRYPTION_KEY: `k1:${randomBytes(32).toString('base64')}` }).value;
if (!encryption) throw new Error('bad test key');
const keyring = new Keyring(encryption);
const sealed: StoreKind<CallStore>[] = [
  [
    'SQLite (sealed)',
    true,
    async () => {
      const path = join(mkdtempSync(join(tmpdir(), 'voxline-calls-')), 'calls.db');
      return async () => new SqliteCallStore(path, keyring);
    },
  ],
  [
    'PostgreSQL (sealed)',
    hasPostgres,
    async () => {
      const url = await database();
      return () => PostgresCallStore.open(openPool(url, 4), keyring);
    },
  ],
];
const kinds = [...clear, ...sealed];

describe.each(kinds)('the %s call store', (_name, available, place) => {
  const run = available ? it : it.skip;

  run(
    'keeps the latest record of each call with its holder, and lists them newest first by state',
    async () => {
      const open = await place();
      const store = await open();
      await store.saveCall(snapshot('CAold', 'live', T - 60_000), 'a', T - 60_000);
      await store.saveCall(snapshot('CAold', 'ended', T - 60_000, T - 50_000), 'a', T - 50_000);
      await store.saveCall(snapshot('CAlive', 'live', T - 1_000), 'b', T);
      expect(await store.getCall('CAold', T)).toMatchObject({
        callSid: 'CAold',
        state: 'ended',
        endReason: 'stop',
        instance: { id: 'a', seenAt: new Date(T - 50_000).toISOString() },
      });
      expect((await store.listCalls('live', 10, T)).map((c) => c.callSid)).toEqual(['CAlive']);
      expect((await store.listCalls('ended', 10, T)).map((c) => c.callSid)).toEqual(['CAold']);
      expect((await store.listCalls('all', 10, T)).map((c) => c.callSid)).toEqual(['CAlive', 'CAold']);
      expect(await store.getCall('CAnone', T)).toBeUndefined();
      // Its whereabouts (the clear columns): a live record whose holder stopped writing reads as ended.
      expect(await store.locateCall('CAlive', T)).toEqual({
        state: 'live',
        instance: { id: 'b', seenAt: new Date(T).toISOString() },
        recording: null,
      });
      expect((await store.locateCall('CAlive', T + STALE_MS + 1))?.state).toBe('ended');
      expect((await store.locateCall('CAold', T))?.state).toBe('ended');
      expect(await store.locateCall('CAnone', T)).toBeUndefined();
      await store.close();
      // Durable: a reopened store still has them.
      const again = await open();
      expect((await again.listCalls('all', 10, T)).length).toBe(2);
      await again.close();
    },
  );

  run(
    'keeps a call’s recording (where it is, its sha256) through later saves, and marks its upload',
    async () => {
      const open = await place();
      const store = await open();
      await store.saveCall(snapshot('CArec', 'live'), 'a', T);
      expect((await store.getCall('CArec', T))?.recording).toBeNull();
      const recording = {
        format: 'mulaw',
        sampleRate: 8000,
        durationMs: 12_340,
        bytes: 197_484,
        sha256: 'ab'.repeat(32),
        objectUrl: 's3://calls/voxline/CArec.wav',
        uploaded: false,
        instance: 'a',
      };
      await store.saveRecording('CArec', recording);
      // The call's last snapshot, written after, leaves the recording alone.
      await store.saveCall(snapshot('CArec', 'ended', T, T + 5_000), 'a', T + 5_000);
      expect((await store.getCall('CArec', T + 5_000))?.recording).toEqual(recording);
      expect((await store.locateCall('CArec', T + 5_000))?.recording).toEqual(recording);
      await store.recordingUploaded('CArec');
      await store.close();
      const again = await open();
      expect((await again.listCalls('ended', 10, T + 5_000))[0].recording).toEqual({
        ...recording,
        uploaded: true,
      });
      // Unknown calls, and calls with no recording, are left as they are.
      await again.recordingUploaded('CAnone');
      await again.saveCall(snapshot('CAbare', 'ended', T, T + 1), 'a', T + 1);
      await again.recordingUploaded('CAbare');
      expect((await again.getCall('CAbare', T + 1))?.recording).toBeNull();
      await again.close();
    },
  );

  run('a live call whose holder stopped writing for 30 s reads as ended: instance_lost', async () => {
    const store = await (await place())();
    await store.saveCall(snapshot('CAdead', 'live'), 'gone', T);
    expect((await store.getCall('CAdead', T + 30_000))?.state).toBe('live');
    expect(await store.getCall('CAdead', T + 30_001)).toMatchObject({
      state: 'ended',
      endReason: 'instance_lost',
    });
    expect((await store.listCalls('ended', 10, T + 30_001)).map((c) => c.callSid)).toEqual(['CAdead']);
    expect(await store.listCalls('live', 10, T + 30_001)).toEqual([]);
    await store.close();
  });

  run(
    'keeps finals and errors in order (not partials), once each, and whether the transcript is complete',
    async () => {
      const store = await (await place())();
      await store.saveCall(snapshot('CA1', 'live'), 'a', T);
      await store.addTranscriptEvent('CA1', final(1, 'hello'));
      await store.addTranscriptEvent('CA1', {
        ...final(2, 'he'),
        type: 'partial',
      } as unknown as SequencedEvent);
      await store.addTranscriptEvent('CA1', final(3, 'how are you'));
      await store.addTranscriptEvent('CA1', final(3, 'how are you')); // a retried write
      expect(await store.transcript('CA1', 0)).toEqual({
        events: [final(1, 'hello'), final(3, 'how are you')],
        complete: false,
      });
      expect((await store.transcript('CA1', 1))?.events.map((e) => e.seq)).toEqual([3]);
      await store.endTranscript('CA1');
      expect((await store.transcript('CA1', 0))?.complete).toBe(true);
      expect(await store.transcript('CAnone', 0)).toBeUndefined();
      await store.close();
    },
  );

  run(
    'following a call replays what is stored after the given id and ends once the transcript is complete',
    async () => {
      const store = await (await place())();
      await store.saveCall(snapshot('CA1', 'ended', T, T + 5_000), 'a', T + 5_000);
      await store.addTranscriptEvent('CA1', final(1, 'hello'));
      await store.addTranscriptEvent('CA1', final(2, 'bye'));
      await store.endTranscript('CA1');
      const heard: CallFeedEvent[] = [];
      const done = new Promise<void>((resolve) => {
        void store.follow('CA1', 1, (event) => {
          heard.push(event);
          if (event.type === 'end') resolve();
        });
      });
      await done;
      expect(heard).toEqual([final(2, 'bye'), { type: 'end' }]);
      await store.close();
    },
  );

  run(
    'retention deletes calls that ended (or were lost) before the cutoff, with their transcripts, and keeps the rest',
    async () => {
      const store = await (await place())();
      const DAY = 86_400_000;
      await store.saveCall(snapshot('CAold', 'ended', T - 40 * DAY, T - 40 * DAY), 'a', T - 40 * DAY);
      await store.addTranscriptEvent('CAold', final(1, 'old'));
      await store.saveDocument('CAold', 'analysis', '{}');
      await store.saveCall(snapshot('CAlost', 'live', T - 40 * DAY), 'a', T - 40 * DAY);
      await store.saveCall(snapshot('CAnew', 'ended', T - DAY, T - DAY), 'a', T - DAY);
      await store.saveCall(snapshot('CAlive', 'live', T - 1_000), 'a', T);
      expect(await store.prune(T - 30 * DAY)).toBe(2);
      expect((await store.listCalls('all', 10, T)).map((c) => c.callSid).sort()).toEqual(['CAlive', 'CAnew']);
      expect(await store.transcript('CAold', 0)).toBeUndefined();
      expect(await store.document('CAold', 'analysis')).toBeUndefined();
      await store.close();
    },
  );
  run(
    'keeps one document of each kind per call, replaces it on a second save, and reads it back as saved',
    async () => {
      const open = await place();
      const store = await open();
      await store.saveCall(snapshot('CA1', 'ended', T, T + 5_000), 'a', T + 5_000);
      expect(await store.document('CA1', 'refined')).toBeUndefined();
      await store.saveDocument('CA1', 'refined', '{"v":1,"text":"héllo"}');
      await store.saveDocument('CA1', 'analysis', '{"summary":"a call"}');
      await store.saveDocument('CA1', 'refined', '{"v":2,"text":"héllo"}');
      await store.close();
      // Durable, and each kind its own.
      const again = await open();
      expect(await again.document('CA1', 'refined')).toBe('{"v":2,"text":"héllo"}');
      expect(await again.document('CA1', 'analysis')).toBe('{"summary":"a call"}');
      expect(await again.document('CAnone', 'refined')).toBeUndefined();
      // A call with no record (erased while its post-call work ran) is not brought back by it.
      await again.saveDocument('CAnone', 'refined', '{"late":true}');
      expect(await again.document('CAnone', 'refined')).toBeUndefined();
      await again.close();
    },
  );

  run(
    'erasure deletes one call’s record and every transcript event of it, and nothing of another call',
    async () => {
      const store = await (await place())();
      for (const sid of ['CAgone', 'CAkept']) {
        await store.saveCall(snapshot(sid, 'ended', T, T + 5_000), 'a', T + 5_000);
        await store.addTranscriptEvent(sid, final(1, 'hello'));
        await store.addTranscriptEvent(sid, final(2, 'bye'));
        await store.saveDocument(sid, 'refined', '{"utterances":[]}');
      }
      expect(await store.eraseCall('CAgone')).toEqual({ calls: 1, transcriptEvents: 2 });
      expect(await store.document('CAgone', 'refined')).toBeUndefined();
      expect(await store.document('CAkept', 'refined')).toBe('{"utterances":[]}');
      expect(await store.getCall('CAgone', T)).toBeUndefined();
      expect(await store.transcript('CAgone', 0)).toBeUndefined();
      expect((await store.transcript('CAkept', 0))?.events).toHaveLength(2);
      expect(await store.eraseCall('CAgone')).toEqual({ calls: 0, transcriptEvents: 0 });
      await store.close();
    },
  );
});

describe.skipIf(!hasPostgres).each([
  ['in clear', false],
  ['sealed (each instance its own Keyring of the same ENCRYPTION_KEY)', true],
])('the PostgreSQL call store followed from another instance, %s', (_name, sealing) => {
  it('hears each new final as the holder stores it, partials live, then the end, in order', async () => {
    const url = await database();
    const ring = () => (sealing ? new Keyring(encryption) : undefined);
    const holder = await PostgresCallStore.open(openPool(url, 2), ring());
    const other = await PostgresCallStore.open(openPool(url, 2), ring());
    await holder.saveCall(snapshot('CA1', 'live'), 'a', T);
    await holder.addTranscriptEvent('CA1', final(1, 'hello'));
    const heard: CallFeedEvent[] = [];
    let ended!: () => void;
    let caughtUp!: () => void;
    const done = new Promise<void>((resolve) => {
      ended = resolve;
    });
    const replayed = new Promise<void>((resolve) => {
      caughtUp = resolve;
    });
    await other.follow('CA1', 0, (event) => {
      heard.push(event);
      if (event.type === 'final' && event.seq === 1) caughtUp();
      if (event.type === 'end') ended();
    });
    // Once the replay is in, a partial is passed on (one older than a final already read is not).
    await replayed;
    await holder.addTranscriptEvent('CA1', {
      ...final(2, 'how'),
      type: 'partial',
    } as unknown as SequencedEvent);
    await holder.addTranscriptEvent('CA1', final(3, 'how are you'));
    await holder.endTranscript('CA1');
    await done;
    expect(heard.map((e) => (e.type === 'end' ? 'end' : `${e.type} ${e.seq}`))).toEqual([
      'final 1',
      'partial 2',
      'final 3',
      'end',
    ]);
    await Promise.all([holder.close(), other.close()]);
  });
});
