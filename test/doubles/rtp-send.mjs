// A second RTP sender for SIPp scenarios (SIPp plays into the first m-line only):
// node rtp-send.mjs <host> <port> <raw G.711 file> <payload type>
// Sends the file as 20 ms packets (160 bytes) at real time, from its own socket, then exits.
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';

const [host, port, file, pt] = process.argv.slice(2);
const audio = readFileSync(file);
const socket = createSocket('udp4');
const ssrc = 0x5ec0_0002;
let sequence = 1;
let timestamp = 0;
const started = performance.now();
for (let at = 0, n = 0; at < audio.length; at += 160, n++) {
  const packet = Buffer.alloc(12 + 160, 0xff);
  packet[0] = 0x80;
  packet[1] = (n === 0 ? 0x80 : 0) | Number(pt);
  packet.writeUInt16BE(sequence++ & 0xffff, 2);
  packet.writeUInt32BE(timestamp >>> 0, 4);
  packet.writeUInt32BE(ssrc, 8);
  audio.copy(packet, 12, at, Math.min(at + 160, audio.length));
  timestamp += 160;
  await new Promise((resolve) => socket.send(packet, Number(port), host, resolve));
  const due = started + (n + 1) * 20;
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - performance.now())));
}
socket.close();
