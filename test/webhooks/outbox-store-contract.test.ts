import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encryptionConfigFrom } from '../../src/crypto/encryption-config.js';
import { Keyring } from '../../src/crypto/keyring.js';
import { openPool } from '../../src/store/postgres.js';
import type { OutboxStore } from '../../src/webhooks/outbox-store.js';
import { OUTBOX_MIGRATIONS } from '../../src/webhooks/postgres-outbox-schema.js';
import { PostgresOutboxStore } from '../../src/webhooks/postgres-outbox-store.js';
import { SqliteOutboxStore } from '../../src/webhooks/sqlite-outbox-store.js';
import { hasPostgres, startPostgres, type TestPostgres } from '../helpers/postgres.js';

/*
 * One contract, both stores: what the dispatcher, the publisher and the admin API rely on holds
 * the same on the embedded SQLite file and on a shared PostgreSQL database, in clear and sealed
 * (ENCRYPTION_KEY; what sealing adds is test/webhooks/sealed-outbox.test.ts).
 */

const dtmf = { digit: '1', speaker: 'caller', atMs: 0 };
const partial = { speaker: 'caller', utteranceId: 1, text: 'he', startMs: 0, audioMs: 80 };
const T = Date.UTC(2026, 11, 2, 9);
const lease = (owner: string, until = T + 60_000) => ({ owner, until });

/** Opens a store on one place (file or database); a second `open` is another instance on it. */
interface Place {
  open(): Promise<OutboxStore>;
}

let postgres: TestPostgres | undefined;
beforeAll(async () => {
  if (hasPostgres) postgres = await startPostgres();
}, 120_000);
afterAll(async () => {
  await postgres?.stop();
});

const encryption = encryptionConfigFrom({ ENCRYPTION_KEY: `k1:${randomBytes(32).toString('base64')}` }).value;
if (!encryption) throw new Error('bad test key');

const kinds: [string, boolean, () => Promise<Place>][] = [undefined, new Keyring(encryption)].flatMap(
  (keyring): [string, boolean, () => Promise<Place>][] => [
    [
      keyring ? 'SQLite (sealed)' : 'SQLite',
      true,
      async () => {
        const path = join(mkdtempSync(join(tmpdir(), 'voxline-contract-')), 'voxline.db');
        return { open: async () => new SqliteOutboxStore(path, 'full', keyring) };
      },
    ],
    [
      keyring ? 'PostgreSQL (sealed)' : 'PostgreSQL',
      hasPostgres,
      async () => {
        const url = await (postgres as TestPostgres).database();
        return { open: () => PostgresOutboxStore.open(openPool(url, 4), keyring) };
      },
    ],
  ],
);

describe.each(kinds)('the %s outbox store', (_name, available, place) => {
  const run = available ? it : it.skip;

  run(
    'numbers each call’s events gaplessly in the order they were appended, all at once or not, across a reopen',
    async () => {
      const where = await place();
      let store = await where.open();
      // Fired together, as many calls' events are in one event-loop turn: one group commit.
      const appended = await Promise.all([
        store.append('CA1', 'dtmf', dtmf, ['e1', 'e2'], T),
        store.append('CA2', 'dtmf', dtmf, ['e1'], T),
        store.append('CA1', 'transcript.partial', partial, ['e1'], T),
        store.append('CA1', 'dtmf', dtmf, ['e1'], T),
      ]);
      expect(appended.map((e) => [e.callSid, e.seq])).toEqual([
        ['CA1', 1],
        ['CA2', 1],
        ['CA1', 2],
        ['CA1', 3],
      ]);
      // Partials alone in a batch (committed without an fsync) share the call's numbering.
      expect((await store.append('CA1', 'transcript.partial', partial, ['e1'], T)).seq).toBe(4);
      await store.close();
      store = await where.open();
      expect((await store.append('CA1', 'dtmf', dtmf, ['e1'], T)).seq).toBe(5);
      const [head] = await store.claimDue('e2', T, 10, lease('a'));
      expect(head).toMatchObject({
        eventId: appended[0].id,
        callSid: 'CA1',
        seq: 1,
        attempts: 0,
        status: 'pending',
      });
      expect(JSON.parse(head.body)).toEqual(appended[0]);
      await store.close();
    },
  );

  run('hands out only the head of each call’s queue, to one holder at a time, in order', async () => {
    const store = await (await place()).open();
    const a1 = await store.append('CA1', 'dtmf', dtmf, ['e'], T);
    const a2 = await store.append('CA1', 'dtmf', dtmf, ['e'], T);
    const b1 = await store.append('CA2', 'dtmf', dtmf, ['e'], T);
    const claimed = await store.claimDue('e', T, 10, lease('a'));
    expect(claimed.map((d) => d.eventId).sort()).toEqual([a1.id, b1.id].sort());
    // Held: nobody else gets them, and CA1's second event waits behind its first.
    expect(await store.claimDue('e', T, 10, lease('b'))).toEqual([]);
    const head = claimed.find((d) => d.eventId === a1.id);
    await store.markDelivered(head?.id as number, T + 5);
    const next = await store.claimDue('e', T + 5, 10, lease('b'));
    expect(next.map((d) => [d.eventId, d.seq])).toEqual([[a2.id, 2]]);
    expect(await store.get(head?.id as number)).toMatchObject({
      status: 'delivered',
      attempts: 1,
      deliveredAt: T + 5,
    });
    await store.close();
  });

  run(
    'claimNext hands out one call’s head on the same terms: due, nobody holding it, after its predecessor',
    async () => {
      const store = await (await place()).open();
      await store.append('CA1', 'dtmf', dtmf, ['e'], T);
      const a2 = await store.append('CA1', 'dtmf', dtmf, ['e'], T);
      await store.append('CA2', 'dtmf', dtmf, ['e'], T);
      const first = await store.claimNext('e', 'CA1', T, lease('a'));
      expect(first?.seq).toBe(1);
      // Its head is held: nothing more for CA1 until it is marked.
      expect(await store.claimNext('e', 'CA1', T, lease('b'))).toBeUndefined();
      await store.markDelivered(first?.id as number, T);
      const second = await store.claimNext('e', 'CA1', T, lease('a'));
      expect(second).toMatchObject({ eventId: a2.id, seq: 2, callSid: 'CA1' });
      await store.markRetry(second?.id as number, T + 1_000, 'HTTP 500');
      expect(await store.claimNext('e', 'CA1', T + 999, lease('a'))).toBeUndefined(); // not due yet
      expect((await store.claimNext('e', 'CA1', T + 1_000, lease('a')))?.id).toBe(second?.id);
      expect(await store.claimNext('e', 'CAnone', T, lease('a'))).toBeUndefined();
      // CA2 was never touched by any of that.
      expect((await store.claimDue('e', T, 10, lease('c'))).map((d) => d.callSid)).toEqual(['CA2']);
      await store.close();
    },
  );

  run(
    'markDeliveredThenClaimNext marks one delivered and takes the call’s new head, a requeued earlier one first',
    async () => {
      const store = await (await place()).open();
      const events = [];
      for (let i = 0; i < 4; i++) events.push(await store.append('CA1', 'dtmf', dtmf, ['e', 'f'], T));
      const next = (owner: string) => ({ endpoint: 'e', callSid: 'CA1', lease: lease(owner) });
      const [first] = await store.claimDue('e', T, 10, lease('a'));
      const second = await store.markDeliveredThenClaimNext(first.id, T + 1, next('a'));
      expect(second).toMatchObject({ eventId: events[1].id, seq: 2, endpoint: 'e' });
      expect(await store.get(first.id)).toMatchObject({
        status: 'delivered',
        deliveredAt: T + 1,
        attempts: 1,
      });
      // Endpoint f's queue for the same call is its own: still at seq 1.
      expect((await store.claimDue('f', T, 10, lease('a'))).map((d) => d.seq)).toEqual([1]);
      // Seq 2 dead-lettered, seq 3 taken; then 2 requeued: after 3 comes 2 again, before 4.
      await store.markFailed(second?.id as number, 'HTTP 410 Gone', T + 2);
      const third = await store.claimNext('e', 'CA1', T + 2, lease('a'));
      expect(third?.seq).toBe(3);
      expect(await store.requeue(second?.id as number, T + 3)).toBe(true);
      const again = await store.markDeliveredThenClaimNext(third?.id as number, T + 4, next('a'));
      expect(again).toMatchObject({ id: second?.id, seq: 2 });
      // A takeover race: a's lease on CA2's head ran out and b took it; a, late, finishes it and
      // takes the next; b finishes too (at least once): marked, but the next is a's, so nothing.
      await store.append('CA2', 'dtmf', dtmf, ['e'], T);
      const late = await store.append('CA2', 'dtmf', dtmf, ['e'], T);
      const ca2 = (owner: string, until: number) => ({
        endpoint: 'e',
        callSid: 'CA2',
        lease: lease(owner, until),
      });
      const [slow] = (await store.claimDue('e', T, 10, lease('a', T + 10))).filter(
        (d) => d.callSid === 'CA2',
      );
      const [taken] = (await store.claimDue('e', T + 20, 10, lease('b', T + 100))).filter(
        (d) => d.callSid === 'CA2',
      );
      expect(taken.id).toBe(slow.id);
      const aNext = await store.markDeliveredThenClaimNext(slow.id, T + 30, ca2('a', T + 1_000));
      expect(aNext?.eventId).toBe(late.id);
      expect(await store.markDeliveredThenClaimNext(taken.id, T + 40, ca2('b', T + 1_000))).toBeUndefined();
      await store.close();
    },
  );

  run('a lease that runs out lets another holder take the delivery, with the same event id', async () => {
    const store = await (await place()).open();
    const event = await store.append('CA1', 'dtmf', dtmf, ['e'], T);
    const [first] = await store.claimDue('e', T, 10, lease('dead-instance', T + 30_000));
    // Another's lease is when it may come free; the holder itself waits on its own attempt instead.
    expect(await store.nextDueAt('e', T, 'b')).toBe(T + 30_000);
    expect(await store.nextDueAt('e', T, 'dead-instance')).toBeUndefined();
    expect(await store.claimDue('e', T + 29_999, 10, lease('b'))).toEqual([]);
    const [taken] = await store.claimDue('e', T + 30_000, 10, lease('b', T + 90_000));
    expect(taken).toMatchObject({ id: first.id, eventId: event.id });
    await store.close();
  });

  run('release gives a delivery back to anyone at once, but only its holder can release it', async () => {
    const store = await (await place()).open();
    await store.append('CA1', 'dtmf', dtmf, ['e'], T);
    const [held] = await store.claimDue('e', T, 10, lease('a'));
    await store.release(held.id, 'someone-else');
    expect(await store.claimDue('e', T, 10, lease('b'))).toEqual([]);
    await store.release(held.id, 'a');
    expect((await store.claimDue('e', T, 10, lease('b'))).map((d) => d.id)).toEqual([held.id]);
    await store.close();
  });

  run(
    'a retry waits until it is due; a dead letter is listed, requeued with a fresh age, and requeued once',
    async () => {
      const store = await (await place()).open();
      await store.append('CA1', 'dtmf', dtmf, ['e'], T);
      const [d] = await store.claimDue('e', T, 10, lease('a'));
      await store.markRetry(d.id, T + 1_000, 'HTTP 500');
      expect(await store.nextDueAt('e', T, 'a')).toBe(T + 1_000);
      // Once due it is for a claim to take, not a time to wait for.
      expect(await store.nextDueAt('e', T + 1_000, 'a')).toBeUndefined();
      expect(await store.claimDue('e', T + 999, 10, lease('a'))).toEqual([]);
      const [again] = await store.claimDue('e', T + 1_000, 10, lease('a'));
      expect(again).toMatchObject({ id: d.id, attempts: 1, lastError: 'HTTP 500' });
      await store.markFailed(d.id, 'HTTP 410 Gone', T + 2_000);
      expect(await store.nextDueAt('e', T, 'a')).toBeUndefined();
      expect((await store.list('failed', 10)).map((x) => [x.id, x.lastError])).toEqual([
        [d.id, 'HTTP 410 Gone'],
      ]);
      expect(await store.counts()).toEqual([{ endpoint: 'e', status: 'failed', n: 1 }]);
      expect(await store.requeue(d.id, T + 3_000)).toBe(true);
      expect(await store.requeue(d.id, T + 3_000)).toBe(false);
      expect(await store.get(d.id)).toMatchObject({
        status: 'pending',
        attempts: 0,
        createdAt: T + 3_000,
        lastError: null,
      });
      expect(await store.get(999_999)).toBeUndefined();
      await store.close();
    },
  );

  run(
    'retention deletes finished events older than the cutoff, in batches, and nothing pending or recent',
    async () => {
      const store = await (await place()).open();
      const DAY = 86_400_000;
      const finish = async (callSid: string, at: number) => {
        await store.append(callSid, 'dtmf', dtmf, ['e'], at);
        const [d] = await store.claimDue('e', at, 1, lease('a', at + 60_000));
        await store.markDelivered(d.id, at);
      };
      for (let i = 0; i < 5; i++) await finish(`CAold${i}`, T - 10 * DAY + i);
      await finish('CArecent', T - DAY);
      await store.append('CApending', 'dtmf', dtmf, ['e'], T - 20 * DAY);
      const pruned = await store.prune(T - 7 * DAY, { batchSize: 2 });
      expect(pruned).toEqual({ events: 5, deliveries: 5, sequences: 5 });
      expect(await store.counts()).toEqual(
        expect.arrayContaining([
          { endpoint: 'e', status: 'delivered', n: 1 },
          { endpoint: 'e', status: 'pending', n: 1 },
        ]),
      );
      // A pruned call's numbering is gone with it; the pending call's is kept.
      expect((await store.append('CApending', 'dtmf', dtmf, ['e'], T)).seq).toBe(2);
      await store.close();
    },
  );

  run('commits what was appended before it closes, and refuses appends after', async () => {
    const where = await place();
    const store = await where.open();
    const pending = Array.from({ length: 50 }, (_, i) => store.append(`CA${i % 5}`, 'dtmf', dtmf, ['e'], T));
    await store.close();
    expect((await Promise.all(pending)).length).toBe(50);
    await expect(store.append('CA1', 'dtmf', dtmf, ['e'], T)).rejects.toThrow(/closed/);
    const reopened = await where.open();
    expect(await reopened.counts()).toEqual([{ endpoint: 'e', status: 'pending', n: 50 }]);
    await reopened.close();
  });
  run(
    'erasure deletes every event of one call, pending or not, with its deliveries and numbering, after the appends already made',
    async () => {
      const store = await (await place()).open();
      await store.append('CAgone', 'dtmf', dtmf, ['e', 'f'], T);
      const [head] = await store.claimDue('e', T, 1, lease('a'));
      await store.markDelivered(head.id, T);
      await store.append('CAkept', 'dtmf', dtmf, ['e'], T);
      // Not awaited: erasure waits for it to be committed, so it cannot land after.
      const late = store.append('CAgone', 'transcript.partial', partial, ['e'], T);
      expect(await store.eraseCall('CAgone')).toEqual({ events: 2, deliveries: 3, sequences: 1 });
      await late;
      expect(await store.counts()).toEqual([{ endpoint: 'e', status: 'pending', n: 1 }]);
      expect((await store.list('pending', 10)).map((d) => d.callSid)).toEqual(['CAkept']);
      expect(await store.eraseCall('CAgone')).toEqual({ events: 0, deliveries: 0, sequences: 0 });
      await store.close();
    },
  );
});

describe.skipIf(!hasPostgres)('the PostgreSQL outbox shared by several instances', () => {
  it('runs its migrations once when instances start at the same moment', async () => {
    const url = await (postgres as TestPostgres).database();
    const stores = await Promise.all([1, 2, 3].map(() => PostgresOutboxStore.open(openPool(url, 2))));
    const check = openPool(url, 1);
    const { rows } = await check.query('SELECT version FROM voxline_migrations ORDER BY version');
    // Each version once: the later starters found nothing left to do.
    expect(rows).toEqual(OUTBOX_MIGRATIONS.map((m) => ({ version: m.version })));
    await check.end();
    await Promise.all(stores.map((s) => s.close()));
  });

  it.each([
    ['in clear', false],
    ['sealed', true],
  ])('two instances claiming at once never both hold one delivery, and between them (then after) take every head, %s', async (_name, sealing) => {
    const url = await (postgres as TestPostgres).database();
    const ring = () => (sealing ? new Keyring(encryption) : undefined);
    const a = await PostgresOutboxStore.open(openPool(url, 4), ring());
    const b = await PostgresOutboxStore.open(openPool(url, 4), ring());
    await Promise.all(Array.from({ length: 200 }, (_, i) => a.append(`CA${i}`, 'dtmf', dtmf, ['e'], T)));
    const claims = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).claimDue('e', T, 15, lease(`owner${i}`))),
    );
    // SKIP LOCKED: a claim passes over rows another claim has locked at that moment, so a burst
    // may leave some heads for later; whatever is left, claiming on goes on to take.
    const ids = claims.flat().map((d) => d.id);
    for (let round = 0; round < 50; round++) {
      const more = await (round % 2 ? a : b).claimDue('e', T, 15, lease(`late${round}`));
      if (more.length === 0) break;
      ids.push(...more.map((d) => d.id));
    }
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBe(200);
    await Promise.all([a.close(), b.close()]);
  });
});
