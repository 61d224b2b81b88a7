import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, freePort, type Gateway, startGateway } from '../helpers/gateway.js';
import { playDemo } from '../helpers/media.js';
import { SECRET, TestReceiver } from '../helpers/webhooks.js';

let gateway: Gateway | undefined;
let receiver: TestReceiver | undefined;
afterEach(async () => {
  await gateway?.close();
  await receiver?.close();
});

describe('webhooks across a restart', () => {
  it('a receiver down while voxline is stopped and started again: every event arrives, once, in order', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'voxline-restart-'));
    const port = await freePort();
    const env = {
      DATA_DIR: dataDir,
      WEBHOOK_URL: `http://127.0.0.1:${port}/hooks`,
      WEBHOOK_SECRET: SECRET,
      WEBHOOK_RETRY_BASE_MS: '50',
      WEBHOOK_RETRY_MAX_MS: '200',
    };
    gateway = await startGateway(env);
    const call = await playDemo(gateway, 'greeting');
    // The receiver is down: the events wait in the outbox. SIGTERM-style close:
    await eventually(async () => {
      const { body } = await (gateway as Gateway).get('/v1/webhooks/deliveries?status=pending');
      expect(body.deliveries.map((d: { type: string }) => d.type)).toContain('call.ended');
    });
    await gateway.close();

    gateway = await startGateway(env); // a new process's worth of app on the same DATA_DIR
    receiver = new TestReceiver();
    await receiver.listen(port);
    await eventually(() => expect(receiver?.events.at(-1)?.type).toBe('call.ended'), 10_000);
    const events = receiver.events;
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events.every((e) => e.callSid === call.callSid)).toBe(true);
    expect(events.map((e) => e.type)).toEqual(['call.started', 'recording.ready', 'call.ended']);
    const { body } = await gateway.get('/v1/webhooks/deliveries?status=pending');
    expect(body.deliveries).toEqual([]);
  }, 20_000);
});
