/**
 * The floor for bench/load.ts: a bare `ws` server that does only what any Twilio media handler
 * must (JSON.parse and base64-decode each message) and nothing else. Run under the same load as
 * voxline, it shows how much of a core goes to WebSocket framing, the kernel and parsing alone.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { WebSocketServer } from 'ws';

const server = new WebSocketServer({ port: Number(process.env.PORT), host: '127.0.0.1' });
let decoded = 0;
server.on('connection', (socket) =>
  socket.on('message', (data) => {
    const message = JSON.parse(data.toString());
    if (message.media) decoded += Buffer.from(message.media.payload, 'base64').length;
  }),
);

const lag = monitorEventLoopDelay({ resolution: 1 });
lag.enable();
let cpuStart = process.cpuUsage();
let wallStart = performance.now();
process.on('message', (message: { cmd: string }) => {
  if (message.cmd === 'reset') {
    lag.reset();
    cpuStart = process.cpuUsage();
    wallStart = performance.now();
    process.send?.({ cmd: 'reset' });
  } else if (message.cmd === 'report') {
    const cpu = process.cpuUsage(cpuStart);
    const wallMs = performance.now() - wallStart;
    globalThis.gc?.();
    const memory = process.memoryUsage();
    process.send?.({
      cmd: 'report',
      liveCalls: server.clients.size,
      lagP50Ms: lag.percentile(50) / 1e6,
      lagP99Ms: lag.percentile(99) / 1e6,
      lagMaxMs: lag.max / 1e6,
      cpuPercent: (100 * (cpu.user + cpu.system)) / 1000 / wallMs,
      userPercent: (100 * cpu.user) / 1000 / wallMs,
      rss: memory.rss,
      heapUsed: memory.heapUsed,
      external: memory.external + memory.arrayBuffers,
      samples: [],
      decoded,
    });
  } else if (message.cmd === 'exit') {
    process.exit(0);
  }
});
process.send?.({ cmd: 'ready' });
