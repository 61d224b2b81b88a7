/** RTP packets (RFC 3550 §5.1) and RFC 4733 telephone events. Pure. */

export interface RtpPacket {
  readonly marker: boolean;
  readonly payloadType: number;
  readonly sequence: number;
  readonly timestamp: number;
  readonly ssrc: number;
  readonly payload: Uint8Array;
}

/** Parses a datagram; undefined when it is not RTP version 2 or is cut short. */
export function parseRtp(data: Uint8Array): RtpPacket | undefined {
  if (data.length < 12 || data[0] >> 6 !== 2) return undefined;
  const csrcCount = data[0] & 0x0f;
  let offset = 12 + 4 * csrcCount;
  if (data[0] & 0x10) {
    if (data.length < offset + 4) return undefined;
    offset += 4 + 4 * ((data[offset + 2] << 8) | data[offset + 3]);
  }
  let end = data.length;
  if (data[0] & 0x20) end -= data[data.length - 1];
  if (offset > end) return undefined;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return {
    marker: (data[1] & 0x80) !== 0,
    payloadType: data[1] & 0x7f,
    sequence: view.getUint16(2),
    timestamp: view.getUint32(4),
    ssrc: view.getUint32(8),
    payload: data.subarray(offset, end),
  };
}

/** Writes a 12-byte header and the payload into one buffer. */
export function buildRtp(
  payloadType: number,
  sequence: number,
  timestamp: number,
  ssrc: number,
  payload: Uint8Array,
  marker = false,
): Buffer {
  const packet = Buffer.allocUnsafe(12 + payload.length);
  packet[0] = 0x80;
  packet[1] = (marker ? 0x80 : 0) | (payloadType & 0x7f);
  packet.writeUInt16BE(sequence & 0xffff, 2);
  packet.writeUInt32BE(timestamp >>> 0, 4);
  packet.writeUInt32BE(ssrc >>> 0, 8);
  packet.set(payload, 12);
  return packet;
}

const DIGITS = '0123456789*#ABCD';

export interface TelephoneEvent {
  /** `0`–`9`, `*`, `#`, `A`–`D`; undefined for events that are not keys (flash, tones). */
  readonly digit: string | undefined;
  readonly end: boolean;
  /** In RTP timestamp units (8 per ms). */
  readonly duration: number;
}

/** An RFC 4733 §2.3 payload: event, E bit, volume (−dBm0), duration in RTP timestamp units. */
export function telephoneEventPayload(
  event: number,
  end: boolean,
  volume: number,
  duration: number,
): Uint8Array {
  return Uint8Array.of(
    event & 0xff,
    (end ? 0x80 : 0) | (volume & 0x3f),
    (duration >> 8) & 0xff,
    duration & 0xff,
  );
}

export function parseTelephoneEvent(payload: Uint8Array): TelephoneEvent | undefined {
  if (payload.length < 4) return undefined;
  return {
    digit: DIGITS[payload[0]],
    end: (payload[1] & 0x80) !== 0,
    duration: (payload[2] << 8) | payload[3],
  };
}
