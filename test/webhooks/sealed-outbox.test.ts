import { describe, expect, it } from 'vitest';
import { openPool } from '../../src/store/postgres.js';
import type { OutboxStore } from '../../src/webhooks/outbox-store.js';
import { PostgresOutboxStore } from '../../src/webhooks/postgres-outbox-store.js';
import { SqliteOutboxStore } from '../../src/webhooks/sqlite-outbox-store.js';
import { hasPostgres } from '../helpers/postgres.js';
import { K1, K2, keyringOf, loseTheKeyRace, sealedPlaces, T, WORDS } from '../helpers/sealed-stores.js';

/*
 * ENCRYPTION_KEY and the outbox: bodies are sealed at rest and opened when claimed or read;
 * clear rows from before still go out; a body that does not open is dead-lettered with its
 * error (the claim goes on to the next); erasure and retention take the call's key with them.
 */

const final = {
  speaker: 'caller',
  utteranceId: 1,
  text: WORDS,
  startMs: 0,
  endMs: 2_000,
  words: WORDS.split(' ').map((word, i) => ({ word, startMs: i * 200, endMs: i * 200 + 180 })),
  recovered: false,
  engine: 'vllm',
};
const lease = (owner: string) => ({ owner, until: T + 60_000 });
const TABLES = ['events', 'deliveries', 'call_seq', 'outbox_keys'];

const { places, database } = sealedPlaces<OutboxStore>(
  'sealed-outbox',
  (path, keyring) => new SqliteOutboxStore(path, 'full', keyring),
  (pool, keyring) => PostgresOutboxStore.open(pool, keyring),
);

const append = (store: OutboxStore, callSid: string) =>
  store.append(callSid, 'transcript.final', final, ['e'], T);

describe.each(places)('the %s outbox with ENCRYPTION_KEY', (_name, available, place) => {
  const run = available ? it : it.skip;

  run(
    'keeps the words in no byte on disk, and claims, lists and gets the bodies as they were sent',
    async () => {
      const { open, reopen, raw, done } = await place();
      const store = await open(keyringOf(K1));
      const events = await Promise.all([append(store, 'CA1'), append(store, 'CA2'), append(store, 'CA1')]);
      await store.append('CA1', 'transcript.partial', { ...final, audioMs: 80 }, ['e'], T);
      const text = await raw.text(TABLES);
      for (const word of WORDS.split(' ').filter((w) => w.length > 4)) expect(text).not.toContain(word);
      expect(await raw.query('SELECT call_sid, key_id FROM outbox_keys ORDER BY call_sid')).toEqual([
        { call_sid: 'CA1', key_id: 'k1' },
        { call_sid: 'CA2', key_id: 'k1' },
      ]);
      const again = await reopen(keyringOf(K1));
      const claimed = await again.claimDue('e', T, 10, lease('a'));
      expect(
        claimed.map((d) => JSON.parse(d.body)).sort((x, y) => x.callSid.localeCompare(y.callSid)),
      ).toEqual([events[0], events[1]]);
      expect(JSON.parse((await again.get(claimed[0].id))?.body ?? '')).toEqual(JSON.parse(claimed[0].body));
      expect((await again.list('pending', 10)).map((d) => JSON.parse(d.body).data.text)).toEqual(
        Array(4).fill(WORDS),
      );
      await done();
    },
  );

  run(
    'sends the clear events appended before the key was set, and seals those after, in one queue',
    async () => {
      const { open, reopen, raw, done } = await place();
      const before = await open();
      const clear = await append(before, 'CA1');
      // What the check for words on disk would find in clear (so that it can find them).
      expect(await raw.text(TABLES)).toContain('marmalade');
      const after = await reopen(keyringOf(K1));
      const sealed = await append(after, 'CA1');
      const bodies = await raw.query('SELECT body FROM events ORDER BY seq');
      expect(bodies.map((r) => String(r.body).slice(0, 4))).toEqual(['{"id', 'vx1:']);
      const [first] = await after.claimDue('e', T, 10, lease('a'));
      expect(JSON.parse(first.body)).toEqual(clear);
      const second = await after.markDeliveredThenClaimNext(first.id, T, {
        endpoint: 'e',
        callSid: 'CA1',
        lease: lease('a'),
      });
      expect(JSON.parse(second?.body ?? '')).toEqual(sealed);
      await done();
    },
  );

  run(
    'after a rotation, events sealed under the retired key still go out; new calls are keyed under the new one',
    async () => {
      const { open, reopen, raw, done } = await place();
      const first = await open(keyringOf(K1));
      const old = await append(first, 'CAold');
      const rotated = await reopen(keyringOf(K2, K1));
      await append(rotated, 'CAnew');
      const claimed = await rotated.claimDue('e', T, 10, lease('a'));
      expect(claimed.find((d) => d.callSid === 'CAold')?.body).toBe(JSON.stringify(old));
      expect(await raw.query('SELECT call_sid, key_id FROM outbox_keys ORDER BY call_sid')).toEqual([
        { call_sid: 'CAnew', key_id: 'k2' },
        { call_sid: 'CAold', key_id: 'k1' },
      ]);
      await done();
    },
  );

  run(
    'a body moved to another event, or whose master key is not configured, is dead-lettered with its error and the claim goes on',
    async () => {
      const { open, reopen, raw, done } = await place();
      const store = await open(keyringOf(K1));
      const ca1 = [await append(store, 'CA1'), await append(store, 'CA1'), await append(store, 'CA1')];
      await append(store, 'CA2');
      // CA1's first event now holds its third's body (same call, same key: only the place differs).
      const [third] = await raw.query('SELECT body FROM events WHERE id = $1', ca1[2].id);
      await raw.run('UPDATE events SET body = $1 WHERE id = $2', third?.body, ca1[0].id);
      const claimed = await store.claimDue('e', T, 10, lease('a'));
      expect(claimed.map((d) => [d.callSid, d.seq]).sort()).toEqual([
        ['CA1', 2],
        ['CA2', 1],
      ]);
      const [dead] = await store.list('failed', 10);
      expect(dead).toMatchObject({ eventId: ca1[0].id, status: 'failed', attempts: 1 });
      expect(dead.lastError).toMatch(/^VL_ERR_DECRYPTION: .*CA1's events row/);
      // The list shows it; reading its body is the error, not garbage.
      expect(() => dead.body).toThrow(expect.objectContaining({ code: 'VL_ERR_DECRYPTION' }));
      // Opened without k1: CA1's next head cannot open either; kept for a requeue once k1 is back.
      const keyless = await reopen(keyringOf(K2));
      const ca2 = claimed.find((d) => d.callSid === 'CA2');
      const next = await keyless.markDeliveredThenClaimNext(
        claimed.find((d) => d.callSid === 'CA1')?.id as number,
        T,
        {
          endpoint: 'e',
          callSid: 'CA1',
          lease: lease('a'),
        },
      );
      expect(next).toBeUndefined();
      const failed = await keyless.list('failed', 10);
      expect(failed.map((d) => [d.seq, d.lastError?.split(':')[0]])).toEqual([
        [3, 'VL_ERR_ENCRYPTION_KEY'],
        [1, 'VL_ERR_DECRYPTION'],
      ]);
      await keyless.markDelivered(ca2?.id as number, T);
      const restored = await reopen(keyringOf(K2, K1));
      expect(await restored.requeue(failed[0].id, T)).toBe(true);
      const [requeued] = await restored.claimDue('e', T, 10, lease('b'));
      expect(JSON.parse(requeued.body)).toEqual(ca1[2]);
      await done();
    },
  );

  run('erasure and retention delete the call’s key row with its last event', async () => {
    const { open, raw, done } = await place();
    const store = await open(keyringOf(K1));
    await append(store, 'CAgone');
    await append(store, 'CAkept');
    await store.append('CAold', 'transcript.final', final, ['e'], T - 20 * 86_400_000);
    const keyed = async () =>
      (await raw.query('SELECT call_sid FROM outbox_keys ORDER BY call_sid')).map((r) => r.call_sid);
    expect(await keyed()).toEqual(['CAgone', 'CAkept', 'CAold']);
    expect(await store.eraseCall('CAgone')).toEqual({ events: 1, deliveries: 1, sequences: 1 });
    expect(await keyed()).toEqual(['CAkept', 'CAold']);
    const [old] = (await store.claimDue('e', T, 10, lease('a'))).filter((d) => d.callSid === 'CAold');
    await store.markDelivered(old.id, T - 20 * 86_400_000);
    expect(await store.prune(T - 7 * 86_400_000)).toEqual({ events: 1, deliveries: 1, sequences: 1 });
    expect(await keyed()).toEqual(['CAkept']);
    // A call erased and then heard of again gets a new key.
    await append(store, 'CAgone');
    expect(await keyed()).toEqual(['CAgone', 'CAkept']);
    await done();
  });
});

describe.skipIf(!hasPostgres)('the sealed PostgreSQL outbox shared by two instances', () => {
  it('an instance whose key row lost the race (the winner committed while it waited) seals under the winner’s key', async () => {
    const url = await database();
    const late = await PostgresOutboxStore.open(openPool(url, 4), keyringOf(K1));
    // The winner: its key row inserted, not committed yet, on a connection of its own.
    const {
      result: event,
      won,
      kept,
    } = await loseTheKeyRace(
      url,
      { table: 'outbox_keys', keyring: keyringOf(K1), context: 'outbox:CAlate', callSid: 'CAlate' },
      () => append(late, 'CAlate'),
    );
    expect(Buffer.compare(kept, won)).toBe(0);
    const other = await PostgresOutboxStore.open(openPool(url, 2), keyringOf(K1));
    const [claimed] = await other.claimDue('e', T, 10, lease('b'));
    expect(JSON.parse(claimed.body)).toEqual(event);
    await Promise.all([late.close(), other.close()]);
  });
});
