import { afterEach, describe, expect, it } from 'vitest';
import type { LegConsumerFactory } from '../../src/calls/call-registry.js';
import {
  eventually,
  type Gateway,
  mediaMessage,
  openMediaSocket,
  startGateway,
  startMessage,
} from '../helpers/gateway.js';

let gateway: Gateway | undefined;

afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
});

describe('a consumer that cannot start', () => {
  it('costs the call nothing else: the other consumers get every frame, the error is counted on the leg, the call ends normally', async () => {
    // A recorder whose disk is full, say: its factory throws for every leg.
    const broken: LegConsumerFactory = () => {
      throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    };
    gateway = await startGateway({}, [broken]);
    const callSid = 'CA00000000000000000000000000000c01';
    const media = await openMediaSocket(gateway);
    media.send(startMessage(callSid));
    for (let i = 0; i < 10; i++)
      media.send(mediaMessage(callSid, i + 2, 'inbound', i * 20, new Uint8Array(160)));
    media.send({
      event: 'stop',
      sequenceNumber: '12',
      streamSid: `MZ${callSid.slice(2)}`,
      stop: { accountSid: 'ACtest', callSid },
    });
    await eventually(async () => expect((await gateway?.call(callSid))?.state).toBe('ended'));
    const call = gateway.app.registry.get(callSid);
    expect(call?.endReason).toBe('stop');
    expect([...(call?.legs.values() ?? [])].map((leg) => leg.consumerErrors)).toEqual([1, 1]);
    expect(gateway.tap.frames(callSid, 'caller')).toHaveLength(10);
    expect(gateway.app.registry.liveCount).toBe(0);
  });
});
