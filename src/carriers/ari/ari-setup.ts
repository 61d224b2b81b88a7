import { randomUUID } from 'node:crypto';
import type { AriClient } from './ari-client.js';
import type { AriOptions } from './ari-config.js';

/** Ids of everything voxline creates start with this, so their own StasisStart is not a call. */
export const OWN_PREFIX = 'voxline-';

/** Where one externalMedia channel sends its RTP from (and takes agent audio back). */
export interface AriRemote {
  readonly track: string;
  readonly channelId: string;
  readonly address: string;
  readonly port: number;
}

/**
 * What voxline made on Asterisk for one call. Each id is pushed as soon as Asterisk has made it,
 * so a call that ends while set-up still waits on Asterisk can delete what exists so far.
 */
export interface AriMade {
  readonly bridges: string[];
  readonly channels: string[];
}

/**
 * The REST half of a call's set-up: answers the caller's channel and bridges it with one
 * externalMedia channel (`ARI_LEGS=mixed`), or snoops spy=in and spy=out, each into its own
 * bridge with its own externalMedia (`separate`). Resolves with each stream's RTP source,
 * UNICASTRTP_LOCAL_ADDRESS:PORT, from the reply's channelvars or else read off the channel.
 * Rejects (an AriRequestError, or no address/port) as soon as a step fails; what was made until
 * then is in `made` either way.
 */
export async function setUpAriMedia(
  rest: AriClient,
  options: Pick<AriOptions, 'app' | 'format' | 'legs'>,
  /** Where Asterisk sends the RTP: voxline's `host:port`. */
  externalHost: string,
  callerId: string,
  made: AriMade,
): Promise<AriRemote[]> {
  const { app, format, legs: legMode } = options;
  await rest.request('POST', `/channels/${enc(callerId)}/answer`);
  const sources: { track: string; channelId: string; vars: Record<string, unknown> }[] = [];
  const media = async (track: string, bridgeId: string, members: string[]) => {
    const mediaId = `${OWN_PREFIX}m-${track}-${randomUUID()}`;
    await rest.request('POST', '/bridges', { type: 'mixing', bridgeId });
    made.bridges.push(bridgeId);
    const created = await rest.request('POST', '/channels/externalMedia', {
      app,
      channelId: mediaId,
      external_host: externalHost,
      format,
      encapsulation: 'rtp',
      transport: 'udp',
      direction: 'both',
      data: 'voxline',
    });
    made.channels.push(mediaId);
    await rest.request('POST', `/bridges/${enc(bridgeId)}/addChannel`, {
      channel: [...members, mediaId].join(','),
    });
    const vars = (created as { channelvars?: Record<string, unknown> } | undefined)?.channelvars;
    sources.push({ track, channelId: mediaId, vars: vars ?? {} });
  };
  if (legMode === 'mixed') {
    await media('inbound', `${OWN_PREFIX}b-${randomUUID()}`, [callerId]);
  } else {
    for (const [track, spy] of [
      ['inbound', 'in'],
      ['outbound', 'out'],
    ] as const) {
      const snoopId = `${OWN_PREFIX}s-${track}-${randomUUID()}`;
      await rest.request('POST', `/channels/${enc(callerId)}/snoop`, { spy, app, snoopId });
      made.channels.push(snoopId);
      await media(track, `${OWN_PREFIX}b-${track}-${randomUUID()}`, [snoopId]);
    }
  }
  const remotes: AriRemote[] = [];
  for (const s of sources) {
    // The reply's channelvars carry them; older Asterisks: read them off the channel.
    const read = async (name: string) =>
      typeof s.vars[name] === 'string' ? s.vars[name] : await variable(rest, s.channelId, name);
    const address = await read('UNICASTRTP_LOCAL_ADDRESS');
    const port = Number(await read('UNICASTRTP_LOCAL_PORT'));
    if (!address || !Number.isInteger(port) || port <= 0 || port > 65535)
      throw new Error(`externalMedia ${s.channelId}: no UNICASTRTP_LOCAL_ADDRESS/PORT`);
    remotes.push({ track: s.track, channelId: s.channelId, address, port });
  }
  return remotes;
}

async function variable(rest: AriClient, channelId: string, name: string): Promise<string | undefined> {
  const reply = await rest.request('GET', `/channels/${enc(channelId)}/variable`, { variable: name });
  const value = (reply as { value?: unknown } | undefined)?.value;
  return typeof value === 'string' ? value : undefined;
}

/** An ARI id as one path segment. */
export function enc(id: string): string {
  return encodeURIComponent(id);
}
