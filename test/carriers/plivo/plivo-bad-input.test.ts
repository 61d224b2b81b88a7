import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PLIVO_ACCOUNT, PlivoStream, postAnswer, signV3 } from '../../doubles/plivo-client.js';
import { eventually, type Gateway, startGateway } from '../../helpers/gateway.js';
import { demoCall } from '../../helpers/media.js';

const PLIVO_TOKEN = 'plivo-auth-token-0123456789abcdef';
const greeting = demoCall('greeting');

describe('Plivo: forged, replayed and malformed input is refused or contained', () => {
  let gateway: Gateway;
  beforeAll(async () => {
    gateway = await startGateway({ PLIVO_AUTH_TOKEN: PLIVO_TOKEN, PLIVO_AUTH_ID: PLIVO_ACCOUNT });
  });
  afterAll(() => gateway.close());

  const mediaUrl = () => `${gateway.baseUrl.replace('http', 'ws')}/plivo/media`;
  async function streamUrl(callUuid: string): Promise<string> {
    const answer = await postAnswer(`${gateway.baseUrl}/plivo/answer`, PLIVO_TOKEN, { CallUUID: callUuid });
    return answer.stream?.url ?? '';
  }
  async function metric(pattern: RegExp): Promise<number> {
    const text = (await gateway.get('/metrics')).body as string;
    return Number(pattern.exec(text)?.[1] ?? 0);
  }

  it('a missing or forged stream token gets a plain 403 before the upgrade: no socket, no call', async () => {
    const good = new URL(await streamUrl('forged00-0000-0000-0000-000000000001'));
    const forged = new URL(good);
    forged.searchParams.set('token', 'A'.repeat(43));
    const otherMode = new URL(good);
    otherMode.searchParams.set('mode', 'agent');
    for (const url of [mediaUrl(), forged.toString(), otherMode.toString(), `${mediaUrl()}?call=x&token=y`]) {
      const plivo = await PlivoStream.open({
        url,
        callId: 'forged00-0000-0000-0000-000000000001',
        tracks: ['inbound'],
      });
      expect(await plivo.closed).toMatchObject({ httpStatus: 403 });
    }
    expect(gateway.app.registry.get('forged00-0000-0000-0000-000000000001')).toBeUndefined();
    expect(await metric(/voxline_carrier_signature_rejections_total\{route="plivo_media"\} (\d+)/)).toBe(4);
  });

  it('an upgrade Plivo signed itself (V3 over the wss:// URL) is taken without a token', async () => {
    const nonce = '998877665544332211';
    const callId = 'signed00-0000-0000-0000-000000000001';
    const plivo = await PlivoStream.open({
      url: mediaUrl(),
      callId,
      tracks: ['inbound'],
      headers: {
        'x-plivo-signature-v3': signV3(PLIVO_TOKEN, mediaUrl(), {}, nonce),
        'x-plivo-signature-v3-nonce': nonce,
      },
    });
    plivo.sendStart();
    await plivo.play({ inbound: greeting.caller });
    await plivo.hangUp();
    expect(await gateway.call(callId)).toMatchObject({
      ingress: 'plivo',
      mode: 'transcribe',
      state: 'ended',
    });
  });

  it("a token for one call cannot open another, nor its own call again once it ended; another account's stream is refused", async () => {
    const url = await streamUrl('owncall0-0000-0000-0000-000000000001');
    const other = await PlivoStream.open({
      url,
      callId: 'othercal-0000-0000-0000-000000000001',
      tracks: ['inbound'],
    });
    other.sendStart();
    expect(await other.closed).toMatchObject({
      code: 1008,
      reason: 'the stream token was issued for another call',
    });

    const first = await PlivoStream.open({
      url,
      callId: 'owncall0-0000-0000-0000-000000000001',
      tracks: ['inbound'],
    });
    first.sendStart();
    await first.play({ inbound: greeting.caller });
    await first.hangUp();
    await eventually(async () =>
      expect((await gateway.call('owncall0-0000-0000-0000-000000000001')).state).toBe('ended'),
    );
    const replay = await PlivoStream.open({
      url,
      callId: 'owncall0-0000-0000-0000-000000000001',
      tracks: ['inbound'],
    });
    replay.sendStart();
    expect(await replay.closed).toMatchObject({ code: 1008, reason: 'this call has already had its stream' });

    const account = await PlivoStream.open({
      url: await streamUrl('account0-0000-0000-0000-000000000001'),
      callId: 'account0-0000-0000-0000-000000000001',
      tracks: ['inbound'],
    });
    account.sendStart({ accountId: 'MAOTHERACCOUNT000000' });
    expect(await account.closed).toMatchObject({ code: 1008 });
    expect(await metric(/voxline_calls_refused_total\{reason="stream_token_mismatch"\} (\d+)/)).toBe(1);
    expect(await metric(/voxline_calls_refused_total\{reason="stream_replayed"\} (\d+)/)).toBe(1);
    expect(await metric(/voxline_calls_refused_total\{reason="wrong_account"\} (\d+)/)).toBe(1);
  });

  it('a stream in another format (L16) is closed 1003 and no call opens', async () => {
    const callId = 'l16fmt00-0000-0000-0000-000000000001';
    const plivo = await PlivoStream.open({ url: await streamUrl(callId), callId, tracks: ['inbound'] });
    plivo.sendStart({ mediaFormat: { encoding: 'audio/x-l16', sampleRate: 16000 } });
    expect(await plivo.closed).toMatchObject({ code: 1003 });
    expect(gateway.app.registry.get(callId)).toBeUndefined();
  });

  it('malformed frames are counted on the call, which goes on with its audio whole', async () => {
    const callId = 'badframe-0000-0000-0000-000000000001';
    const plivo = await PlivoStream.open({ url: await streamUrl(callId), callId, tracks: ['inbound'] });
    plivo.sendDtmf('1'); // before start: counted, not fatal
    plivo.sendStart();
    const frame = new Uint8Array(160).fill(0x55);
    plivo.sendMedia('inbound', 0, frame);
    plivo.socket.send('{not json');
    plivo.socket.send(Buffer.from([1, 2, 3]), { binary: true });
    plivo.send({ event: 'hello' });
    plivo.send({
      event: 'media',
      streamId: plivo.streamId,
      media: { track: 'inbound', timestamp: '1', payload: 'ab!d' },
    });
    plivo.send({
      event: 'media',
      streamId: 'another-stream',
      media: { track: 'inbound', timestamp: '1', payload: 'AAAA' },
    });
    plivo.sendMedia('outbound', 20, frame); // a track the start did not announce
    plivo.sendDtmf('x');
    plivo.send({ event: 'start', start: {} });
    plivo.sendMedia('inbound', 20, frame);
    plivo.sendDtmf('5');
    // The last message is in (the key press is on the call) before the hang-up is sent.
    await eventually(async () =>
      expect((await gateway.call(callId)).dtmf.map((d) => d.digit)).toEqual(['5']),
    );
    await plivo.hangUp();
    const snapshot = await eventually(async () => {
      const s = await gateway.call(callId);
      expect(s.state).toBe('ended');
      return s;
    });
    expect(snapshot.malformedMessages).toEqual({
      total: 8,
      byReason: {
        malformed_json: 1,
        binary_frame: 1,
        unknown_event: 1,
        bad_base64: 1,
        invalid_message: 2, // the dtmf digit 'x' and the second (empty) start
        wrong_stream: 1,
        unknown_track: 1,
      },
    });
    expect(snapshot.legs[0]).toMatchObject({ framesReceived: 2, audioSeconds: 0.04, gapFilledMs: 0 });
    expect(snapshot.dtmf.map((d) => d.digit)).toEqual(['5']); // the early one was counted, not kept
  });
});
