/**
 * The floor for bench/load.ts: a bare `ws` server that does only what any Twilio media handler
 * must (JSON.parse and base64-decode each message) and nothing else. Run under the same load as
 * voxline, it shows how much of a core goes to WebSocket framing, the kernel and parsing alone.
 */
import { WebSocketServer } from 'ws';
import { reportStatsOverIpc } from './server-stats.js';

const server = new WebSocketServer({ port: Number(process.env.PORT), host: '127.0.0.1' });
let decodedBytes = 0;
server.on('connection', (socket) =>
  socket.on('message', (data) => {
    const message = JSON.parse(data.toString());
    if (message.media) decodedBytes += Buffer.from(message.media.payload, 'base64').length;
  }),
);

reportStatsOverIpc({
  liveCalls: () => server.clients.size,
  extra: () => ({ decodedBytes }),
  onExit: () => process.exit(0),
});
