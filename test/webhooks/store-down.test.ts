import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway } from '../helpers/gateway.js';
import { playDemo } from '../helpers/media.js';
import { hasPostgres, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { SECRET } from '../helpers/webhooks.js';

/*
 * The shared database goes away under a running instance: calls go on (their audio and live
 * transcript never wait on it), every event that cannot be stored is counted, and the log says
 * so a bounded number of times instead of once per event.
 */
describe.skipIf(!hasPostgres)('PostgreSQL gone while voxline runs', { timeout: 120_000 }, () => {
  let postgres: TestPostgres;
  beforeAll(async () => {
    postgres = await startPostgres();
  }, 120_000);
  afterAll(async () => {
    await postgres?.stop();
  });

  it('calls still complete; lost events are counted, and logged at error at most ten times a minute', async () => {
    const gateway = await startGateway({
      DATABASE_URL: await postgres.database(),
      WEBHOOK_URL: 'http://127.0.0.1:9/hooks',
      WEBHOOK_SECRET: SECRET,
      RECORDING_FORMAT: 'none',
    });
    try {
      await postgres.stop();
      const results = [];
      // Twelve calls with two key presses each: 48 events, none of which can be stored.
      for (let i = 0; i < 12; i++) {
        results.push(
          await playDemo(gateway, 'greeting', {
            dtmf: [
              { atMs: 100, digit: '1' },
              { atMs: 200, digit: '2' },
            ],
          }),
        );
      }
      for (const result of results) {
        expect(result.refused).toBeUndefined();
        const call = await gateway.call(result.callSid);
        expect(call.state).toBe('ended');
        expect(call.dtmf.length).toBe(2);
      }
      const metrics = (await fetch(`${gateway.baseUrl}/metrics`).then((r) => r.text())).split('\n');
      const failures = Number(
        metrics.find((l) => l.startsWith('voxline_webhook_store_failures_total '))?.split(' ')[1],
      );
      expect(failures).toBeGreaterThanOrEqual(36);
      const errors = gateway.logs.filter((l) => l.msg === 'webhook event could not be stored');
      expect(errors.filter((l) => l.level === 50).length).toBe(10);
      expect(errors.length).toBe(failures);
    } finally {
      await gateway.close();
    }
  });
});
