import { describe, expect, it } from 'vitest';
import { eventually, openMediaSocket, startGateway } from '../helpers/gateway.js';
import { playDemo } from '../helpers/media.js';

describe('graceful shutdown', () => {
  it('lets live calls finish within SHUTDOWN_DRAIN_MS and refuses new ones meanwhile', async () => {
    const gateway = await startGateway({ SHUTDOWN_DRAIN_MS: '10000' });
    const running = playDemo(gateway, 'greeting', { pace: 'realtime' });
    await eventually(async () => expect((await gateway.get('/healthz')).body.liveCalls).toBe(1));
    const closing = gateway.close();
    await eventually(() => expect(gateway.app.registry.draining).toBe(true));
    const refused = await openMediaSocket(gateway);
    expect((await refused.closed).httpStatus).toBe(503);
    expect(await gateway.get('/healthz')).toEqual({
      status: 503,
      body: { status: 'draining', liveCalls: 1, overload: { overloaded: false } },
    });

    const result = await running;
    await closing;
    expect(result.closeCode).toBe(1000); // finished normally, all 5 s of it
    expect(gateway.app.registry.get(result.callSid)?.snapshot()).toMatchObject({
      endReason: 'stop',
      legs: [{ audioSeconds: 5 }, { audioSeconds: 5 }],
    });
  }, 15_000);

  it('closes calls still live when the drain time is up (1001) and finalizes them', async () => {
    const gateway = await startGateway({ SHUTDOWN_DRAIN_MS: '300' });
    const running = playDemo(gateway, 'support-call', { pace: 'realtime' });
    await eventually(async () => expect((await gateway.get('/healthz')).body.liveCalls).toBe(1));
    const started = performance.now();
    await gateway.close();
    expect(performance.now() - started).toBeLessThan(3000);
    const result = await running;
    expect(result).toMatchObject({ closeCode: 1001, closeReason: 'server shutting down' });
    const snapshot = gateway.app.registry.get(result.callSid)?.snapshot();
    expect(snapshot).toMatchObject({ state: 'ended', endReason: 'shutdown', closeCode: 1001 });
    expect(gateway.tap.legs.get(`${result.callSid}/caller`)?.ended).toBe(true);
  }, 15_000);
});
