import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulateTwilioCall } from '../../src/simulator/twilio-call-simulator.js';
import { AUTH_TOKEN, type Gateway, startGateway } from '../helpers/gateway.js';
import { demoCall, playDemo } from '../helpers/media.js';

const ADMIN_TOKEN = 'admin-token-0123456789';

describe('/v1/calls', () => {
  let gateway: Gateway;
  let callSid: string;
  beforeAll(async () => {
    gateway = await startGateway({ ADMIN_TOKEN });
    ({ callSid } = await playDemo(gateway));
  });
  afterAll(() => gateway.close());

  const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };

  it('requires the admin bearer token when one is configured', async () => {
    const attempts: Record<string, string>[] = [
      {},
      { authorization: 'Bearer wrong-token-0123456789' },
      { authorization: ADMIN_TOKEN }, // the token without the Bearer scheme
    ];
    for (const headers of attempts) {
      const { status, body } = await gateway.get('/v1/calls', headers);
      expect(status).toBe(401);
      expect(body.error.code).toBe('VL_ERR_UNAUTHORIZED');
    }
    expect((await gateway.get(`/v1/calls/${callSid}`)).status).toBe(401);
  });

  it('lists live calls by default, ended ones on request', async () => {
    expect((await gateway.get('/v1/calls', auth)).body).toEqual({ calls: [] });
    const ended = await gateway.get('/v1/calls?state=ended', auth);
    expect(ended.body.calls.map((c: { callSid: string }) => c.callSid)).toEqual([callSid]);
    expect((await gateway.get('/v1/calls?state=all', auth)).body.calls).toHaveLength(1);
    expect((await gateway.get('/v1/calls?state=zombie', auth)).status).toBe(400);
  });

  it('gives one call in full, and a clear 404 for an unknown one', async () => {
    const { status, body } = await gateway.get(`/v1/calls/${callSid}`, auth);
    expect(status).toBe(200);
    expect(body).toMatchObject({
      callSid,
      ingress: 'twilio',
      state: 'ended',
      legs: [{ label: 'caller' }, { label: 'agent' }],
    });
    const missing = await gateway.get('/v1/calls/CAnope', auth);
    expect(missing).toEqual({
      status: 404,
      body: { error: { code: 'VL_ERR_CALL_NOT_FOUND', message: 'no such call: CAnope' } },
    });
  });
});

describe('/v1/calls history', () => {
  it('keeps at most CALL_HISTORY_LIMIT ended calls in memory; older ones are answered from the call store', async () => {
    const gateway = await startGateway({ CALL_HISTORY_LIMIT: '2' });
    try {
      const call = demoCall('greeting');
      const sids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const result = await simulateTwilioCall({
          url: gateway.mediaUrl,
          authToken: AUTH_TOKEN,
          caller: call.caller,
          pace: 'fast',
        });
        sids.push(result.callSid);
      }
      const { body } = await gateway.get('/v1/calls?state=ended');
      // Memory first (the two newest), then what only the store still has.
      expect(body.calls.map((c: { callSid: string }) => c.callSid)).toEqual([...sids.slice(1), sids[0]]);
      const forgotten = await gateway.get(`/v1/calls/${sids[0]}`);
      expect(forgotten.status).toBe(200);
      expect(forgotten.body).toMatchObject({
        callSid: sids[0],
        state: 'ended',
        instance: { id: expect.any(String) },
      });
      expect((await gateway.get('/v1/calls/CAnever')).status).toBe(404);
    } finally {
      await gateway.close();
    }
  });
});
