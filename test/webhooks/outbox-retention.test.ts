import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { Outbox } from '../../src/webhooks/outbox.js';
import { createWebhookService, OUTBOX_PRUNE_INTERVAL_MS } from '../../src/webhooks/webhook-service.js';
import { configError } from '../helpers/config.js';
import { SECRET } from '../helpers/webhooks.js';

const DAY = 86_400_000;
const T = Date.UTC(2026, 5, 1); // "now" for every test: time is passed in, never waited for
const RETENTION = 7 * DAY;
const dtmf = { digit: '1', speaker: 'caller', atMs: 0 };

const newPath = () => join(mkdtempSync(join(tmpdir(), 'voxline-retention-')), 'voxline.db');

/** What is in the file, each count read over a connection of its own (not the outbox's). */
function rows(path: string) {
  const count = (sql: string, ...params: unknown[]) => {
    const db = new Database(path, { readonly: true });
    try {
      return (db.prepare(sql).get(...params) as { n: number }).n;
    } finally {
      db.close();
    }
  };
  return {
    events: (callSid: string) => count('SELECT COUNT(*) AS n FROM events WHERE call_sid = ?', callSid),
    deliveries: (callSid: string) =>
      count('SELECT COUNT(*) AS n FROM deliveries WHERE call_sid = ?', callSid),
    sequence: (callSid: string) => count('SELECT COUNT(*) AS n FROM call_seq WHERE call_sid = ?', callSid),
    total: (table: 'events' | 'deliveries' | 'call_seq') => count(`SELECT COUNT(*) AS n FROM ${table}`),
  };
}

/** The pending deliveries of `eventId`, by endpoint. */
function deliveriesOf(outbox: Outbox, eventId: string): Record<string, number> {
  return Object.fromEntries(
    outbox
      .list('pending', 10_000)
      .filter((d) => d.eventId === eventId)
      .map((d) => [d.endpoint, d.id]),
  );
}

/** Appends one event at `at` for `endpoints` and delivers it to each at `deliveredAt`. */
function delivered(outbox: Outbox, callSid: string, at: number, deliveredAt = at, endpoints = ['e1', 'e2']) {
  const event = outbox.append(callSid, 'dtmf', dtmf, endpoints, at);
  for (const id of Object.values(deliveriesOf(outbox, event.id))) outbox.markDelivered(id, deliveredAt);
  return event;
}

describe('webhook outbox retention', () => {
  it('deletes finished events older than the retention with their deliveries, and keeps the rest', async () => {
    const path = newPath();
    const outbox = new Outbox(path, 'normal');
    // Gone: delivered everywhere 10 days ago; dead-lettered 8 days ago (its retention is over too).
    delivered(outbox, 'CAold', T - 10 * DAY);
    delivered(outbox, 'CAold', T - 10 * DAY + 1000);
    const dead = outbox.append('CAdead', 'dtmf', dtmf, ['e1'], T - 10 * DAY);
    outbox.markFailed(deliveriesOf(outbox, dead.id).e1, 'HTTP 410 Gone', T - 8 * DAY);
    // Kept: delivered yesterday.
    delivered(outbox, 'CAnew', T - DAY);
    // Kept: a month old, but still retrying.
    const retrying = outbox.append('CAretry', 'dtmf', dtmf, ['e1'], T - 30 * DAY);
    outbox.markRetry(deliveriesOf(outbox, retrying.id).e1, T + 60_000, 'HTTP 503');
    // Kept: 10 days old, delivered to e1 but never yet to e2.
    const half = outbox.append('CAhalf', 'dtmf', dtmf, ['e1', 'e2'], T - 10 * DAY);
    outbox.markDelivered(deliveriesOf(outbox, half.id).e1, T - 10 * DAY);
    // Kept: dead-lettered 3 days ago, so still listed (and retryable) in the admin API.
    const recentDead = outbox.append('CArecentdead', 'dtmf', dtmf, ['e1'], T - 10 * DAY);
    outbox.markFailed(deliveriesOf(outbox, recentDead.id).e1, 'HTTP 410 Gone', T - 3 * DAY);
    // Kept: 10 days old, dead-lettered, retried by hand 2 days ago and delivered then.
    const retried = outbox.append('CAretried', 'dtmf', dtmf, ['e1'], T - 10 * DAY);
    const retriedId = deliveriesOf(outbox, retried.id).e1;
    outbox.markFailed(retriedId, 'HTTP 500', T - 9 * DAY);
    expect(outbox.requeue(retriedId, T - 2 * DAY)).toBe(true);
    outbox.markDelivered(retriedId, T - 2 * DAY);

    const before = rows(path);
    expect([before.events('CAold'), before.deliveries('CAold'), before.events('CAdead')]).toEqual([2, 4, 1]);

    expect(await outbox.prune(T - RETENTION)).toEqual({ events: 3, deliveries: 5, sequences: 2 });

    const after = rows(path);
    for (const callSid of ['CAold', 'CAdead']) {
      expect([after.events(callSid), after.deliveries(callSid)]).toEqual([0, 0]);
    }
    expect([after.events('CAnew'), after.deliveries('CAnew')]).toEqual([1, 2]);
    expect([after.events('CAretry'), after.deliveries('CAretry')]).toEqual([1, 1]);
    expect([after.events('CAhalf'), after.deliveries('CAhalf')]).toEqual([1, 2]);
    expect([after.events('CAretried'), after.deliveries('CAretried')]).toEqual([1, 1]);
    expect(outbox.list('failed', 100).map((d) => d.eventId)).toEqual([recentDead.id]);
    expect(outbox.due('e1', T + 60_000, 10).map((d) => d.eventId)).toEqual([retrying.id]);
    expect(outbox.due('e2', T, 10).map((d) => d.eventId)).toEqual([half.id]);

    // Another pass finds nothing more; a week on, the finished ones go too, never the other two.
    expect(await outbox.prune(T - RETENTION)).toEqual({ events: 0, deliveries: 0, sequences: 0 });
    expect(await outbox.prune(T + 7 * DAY - RETENTION)).toEqual({ events: 3, deliveries: 4, sequences: 3 });
    expect(rows(path).total('events')).toBe(2); // the retrying one and the half-delivered one
    outbox.close();
  });

  it('deletes a call’s sequence row with its last event, and keeps the numbering of a call still in the outbox', async () => {
    const path = newPath();
    const outbox = new Outbox(path, 'normal');
    delivered(outbox, 'CAended', T - 9 * DAY);
    delivered(outbox, 'CAended', T - 8 * DAY); // call.ended, say
    // A call with an old delivered event and a recent one: the old one goes, the numbering stays.
    delivered(outbox, 'CAspans', T - 9 * DAY);
    delivered(outbox, 'CAspans', T - DAY);
    // A call whose only event is old but undelivered: its numbering stays with it.
    outbox.append('CApending', 'dtmf', dtmf, ['e1'], T - 9 * DAY);

    const before = rows(path);
    expect(['CAended', 'CAspans', 'CApending'].map(before.sequence)).toEqual([1, 1, 1]);

    expect(await outbox.prune(T - RETENTION)).toEqual({ events: 3, deliveries: 6, sequences: 1 });

    const after = rows(path);
    expect(['CAended', 'CAspans', 'CApending'].map(after.sequence)).toEqual([0, 1, 1]);
    expect(after.events('CAspans')).toBe(1);
    expect(outbox.append('CAspans', 'dtmf', dtmf, ['e1'], T).seq).toBe(3);
    expect(outbox.append('CApending', 'dtmf', dtmf, ['e1'], T).seq).toBe(2);
    outbox.close();
  });

  it('works in bounded batches, moving past events it must keep', async () => {
    const path = newPath();
    const outbox = new Outbox(path, 'normal');
    for (let i = 0; i < 100; i++) {
      // Every tenth old event is still pending: the pass goes past them, not round them again.
      if (i % 10 === 0) outbox.append(`CA${i}`, 'dtmf', dtmf, ['e1'], T - 20 * DAY + i);
      else delivered(outbox, `CA${i}`, T - 20 * DAY + i);
    }
    let batch = outbox.pruneBatch(T - RETENTION, 7);
    expect(batch.events).toBeLessThanOrEqual(7);
    let batches = 1;
    while (batch.next) {
      batch = outbox.pruneBatch(T - RETENTION, 7, batch.next);
      expect(batch.events).toBeLessThanOrEqual(7);
      batches++;
    }
    expect(batches).toBe(15); // 100 events, 7 at a time
    expect(rows(path).total('events')).toBe(10);
    expect(rows(path).total('call_seq')).toBe(10);

    // The async pass does the same, yielding between batches, and stops when asked to.
    for (let i = 0; i < 50; i++) delivered(outbox, `CB${i}`, T - 30 * DAY); // the oldest: first in line
    const stop = new AbortController();
    const pass = outbox.prune(T - RETENTION, { batchSize: 10, signal: stop.signal });
    stop.abort(); // after its first batch, which ran before prune() returned
    expect(await pass).toMatchObject({ events: 10 });
    expect(await outbox.prune(T - RETENTION, { batchSize: 10 })).toMatchObject({ events: 40 });
    outbox.close();
  });

  it('stops the file growing: 20 days of 500 events a day, delivered, pruned to 2 days', async () => {
    const path = newPath();
    const outbox = new Outbox(path, 'normal'); // fsyncs change nothing here but the time taken
    const text = 'so I was calling about the invoice from last month, the one with the wrong address on it';
    const partial = { speaker: 'caller', utteranceId: 1, text, startMs: 0, audioMs: 4_000 };
    const sizeOf = (file: string) => statSync(file, { throwIfNoEntry: false })?.size ?? 0;
    const db: number[] = [];
    const wal: number[] = [];
    for (let day = 1; day <= 20; day++) {
      const now = T + day * DAY;
      for (let i = 0; i < 500; i++) {
        const callSid = `CA${day}x${i % 50}`; // 50 calls a day, 10 events each
        if (i % 2) outbox.append(callSid, 'dtmf', dtmf, ['e1'], now + i);
        else outbox.append(callSid, 'transcript.partial', partial, ['e1'], now + i);
      }
      for (const d of outbox.list('pending', 10_000)) outbox.markDelivered(d.id, now + 600);
      await outbox.prune(now - 2 * DAY);
      db.push(sizeOf(path));
      wal.push(sizeOf(`${path}-wal`));
    }
    // Freed pages are reused: once three days are held (day 3), the database file stays put;
    // without the prune it would be 4× day 5's by day 20.
    expect(db[19]).toBeLessThanOrEqual(db[4] * 1.1);
    // The WAL is bounded by its checkpoints (every 1,000 pages), not by what the outbox holds.
    const probe = new Database(path, { readonly: true });
    const frameBytes = (probe.pragma('page_size', { simple: true }) as number) + 24;
    probe.close();
    for (const size of wal) expect(size).toBeLessThanOrEqual(1_500 * frameBytes);
    expect(db[19] + wal[19]).toBeLessThanOrEqual((db[4] + wal[4]) * 1.15);
    // Three days' events are kept (today's and the two before), nothing older.
    const left = rows(path);
    expect(left.total('events')).toBe(1_500);
    expect(left.total('deliveries')).toBe(1_500);
    expect(left.total('call_seq')).toBe(150);
    outbox.close();
  }, 30_000);

  it('upgrades an outbox written before retention existed, and prunes its rows too', async () => {
    const path = newPath();
    const legacy = new Database(path);
    legacy.exec(`
      CREATE TABLE call_seq (call_sid TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);
      CREATE TABLE events (id TEXT PRIMARY KEY, call_sid TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL,
        body TEXT NOT NULL, created_at INTEGER NOT NULL);
      CREATE TABLE deliveries (id INTEGER PRIMARY KEY, event_id TEXT NOT NULL REFERENCES events(id),
        endpoint TEXT NOT NULL, call_sid TEXT NOT NULL, seq INTEGER NOT NULL, status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, next_attempt_at INTEGER NOT NULL,
        last_error TEXT, delivered_at INTEGER);
      INSERT INTO call_seq VALUES ('CAlegacy', 2);
      INSERT INTO events VALUES ('evt_a', 'CAlegacy', 1, 'dtmf', '{}', ${T - 20 * DAY});
      INSERT INTO events VALUES ('evt_b', 'CAlegacy', 2, 'dtmf', '{}', ${T - 20 * DAY});
      INSERT INTO deliveries (event_id, endpoint, call_sid, seq, status, attempts, created_at, next_attempt_at,
        last_error, delivered_at) VALUES
        ('evt_a', 'e1', 'CAlegacy', 1, 'delivered', 1, ${T - 20 * DAY}, ${T - 20 * DAY}, NULL, ${T - 20 * DAY}),
        ('evt_b', 'e1', 'CAlegacy', 2, 'failed', 9, ${T - 20 * DAY}, ${T - 19 * DAY}, 'HTTP 500', NULL);
    `);
    legacy.close();

    const outbox = new Outbox(path, 'normal');
    expect(await outbox.prune(T - RETENTION)).toEqual({ events: 2, deliveries: 2, sequences: 1 });
    expect(rows(path).total('call_seq')).toBe(0);
    outbox.close();
  });
});

describe('the webhook service prunes the outbox', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('at start and then every hour, by its injected clock, and stops on close', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'voxline-retention-'));
    const config = loadConfig({
      DATA_DIR: dataDir,
      WEBHOOK_URL: 'http://127.0.0.1:9/never-called',
      WEBHOOK_SECRET: SECRET,
      RECORDING_FORMAT: 'none',
      OUTBOX_RETENTION_DAYS: '7',
    });
    let now = T;
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const service = await createWebhookService(config, new Registry(), pino({ level: 'silent' }), {
      now: () => now,
    });
    const path = join(dataDir, 'voxline.db');
    // Written beside the service's store (a second connection on the file). Everything here is
    // delivered already, so the dispatcher has nothing to send.
    const outbox = new Outbox(path, 'normal');
    delivered(outbox, 'CAlastweek', T - 8 * DAY, T - 8 * DAY, ['env']);
    delivered(outbox, 'CAyesterday', T - DAY, T - DAY, ['env']);
    outbox.close();

    service.start();
    expect(await service.pruneOutbox()).toEqual({ events: 1, deliveries: 1, sequences: 1 });
    expect(rows(path).total('events')).toBe(1);
    expect(vi.getTimerCount()).toBe(1);

    // A week on, the next hourly run takes yesterday's event.
    now = T + 7 * DAY;
    vi.advanceTimersByTime(OUTBOX_PRUNE_INTERVAL_MS);
    await new Promise((resolve) => setImmediate(resolve));
    expect(rows(path).total('events')).toBe(0);
    expect(rows(path).total('call_seq')).toBe(0);

    await service.close(100);
    expect(vi.getTimerCount()).toBe(0);
    expect(await service.pruneOutbox()).toBeUndefined();
  });
});

describe('OUTBOX_RETENTION_DAYS', () => {
  it('defaults to 7 days and takes any positive number of days', () => {
    expect(loadConfig({}).outbox).toEqual({ retentionDays: 7 });
    expect(loadConfig({ OUTBOX_RETENTION_DAYS: '30' }).outbox.retentionDays).toBe(30);
    expect(loadConfig({ OUTBOX_RETENTION_DAYS: ' 0.5 ' }).outbox.retentionDays).toBe(0.5);
  });

  it('refuses zero, negative and non-numbers, saying what it got', () => {
    expect(configError({ OUTBOX_RETENTION_DAYS: '0' })).toContain(
      'OUTBOX_RETENTION_DAYS: expected a number above 0 and at most 36500 (got 0)',
    );
    expect(configError({ OUTBOX_RETENTION_DAYS: '-3' })).toContain(
      'OUTBOX_RETENTION_DAYS: expected a number above 0 and at most 36500 (got -3)',
    );
    expect(configError({ OUTBOX_RETENTION_DAYS: 'a week' })).toContain(
      'OUTBOX_RETENTION_DAYS: expected a number above 0 and at most 36500 (got "a week")',
    );
  });
});
