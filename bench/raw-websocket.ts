import { connect, type Socket } from 'node:net';

/**
 * A bare WebSocket client for load generation: one TCP socket, a hand-written handshake, and
 * client frames built directly into one Buffer per write (two Twilio messages per 20 ms tick in a
 * single syscall). Frames are masked (as RFC 6455 requires of clients) with a zero key, so no XOR
 * pass is needed here; the server still runs its full unmasking path.
 */
export function openRawWebSocket(
  port: number,
  path: string,
  headers: Record<string, string>,
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', noDelay: true });
    const lines = [
      `GET ${path} HTTP/1.1`,
      `Host: 127.0.0.1:${port}`,
      'Upgrade: websocket',
      'Connection: Upgrade',
      'Sec-WebSocket-Version: 13',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    ];
    socket.once('error', reject);
    socket.once('connect', () => socket.write(`${lines.join('\r\n')}\r\n\r\n`));
    let head = '';
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      if (!head.startsWith('HTTP/1.1 101')) {
        socket.destroy();
        reject(new Error(head.split('\r\n')[0]));
        return;
      }
      socket.on('data', () => undefined); // close frames and the like: not needed here
      resolve(socket);
    };
    socket.on('data', onData);
  });
}

/** Text frames, masked with a zero key, concatenated into one Buffer. */
export function textFrames(texts: readonly string[]): Buffer {
  let size = 0;
  const lengths = texts.map((t) => Buffer.byteLength(t));
  for (const n of lengths) size += n + (n < 126 ? 6 : 8);
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const [i, text] of texts.entries()) {
    const n = lengths[i];
    out[at++] = 0x81; // FIN + text
    if (n < 126) {
      out[at++] = 0x80 | n;
    } else {
      out[at++] = 0x80 | 126;
      out.writeUInt16BE(n, at);
      at += 2;
    }
    out.writeUInt32BE(0, at); // mask key
    at += 4;
    at += out.write(text, at, 'utf8');
  }
  return out;
}
