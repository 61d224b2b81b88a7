/**
 * The bare relay for bench/engine-latency.ts: a `ws` server that takes Twilio media and, per
 * frame, writes the payload as a vLLM append on an engine socket per leg (parse → base64 →
 * socket write), with no conversion, validation or buffering. Timed exactly like engine-server.ts.
 */
import WebSocket, { WebSocketServer } from 'ws';
import { reportStatsOverIpc } from './server-stats.js';

const samples: [string, string][] = [];
const engineUrl = `${(process.env.VLLM_URL ?? '').replace('http', 'ws')}/v1/realtime`;
const server = new WebSocketServer({ port: Number(process.env.PORT), host: '127.0.0.1' });

server.on('connection', (socket) => {
  let callSid = '';
  const engines: Record<string, WebSocket> = {};
  socket.on('message', (data) => {
    const message = JSON.parse(data.toString());
    if (message.event === 'start') {
      callSid = message.start.callSid;
      for (const track of ['inbound', 'outbound']) engines[track] = new WebSocket(engineUrl);
    } else if (message.event === 'media') {
      const { track, payload, timestamp } = message.media;
      const engine = engines[track];
      if (engine?.readyState !== WebSocket.OPEN) return;
      engine.send(
        `{"type":"input_audio_buffer.append","audio":"${Buffer.from(payload, 'base64').toString('base64')}"}`,
      );
      if (Number(timestamp) % 1000 === 0)
        samples.push([`${callSid}|${track}|${timestamp}`, process.hrtime.bigint().toString()]);
    }
  });
  socket.on('close', () => {
    for (const engine of Object.values(engines)) engine.close();
  });
});

reportStatsOverIpc({
  liveCalls: () => server.clients.size,
  onReset: () => {
    samples.length = 0;
  },
  extra: () => ({ samples }),
  onExit: () => process.exit(0),
});
