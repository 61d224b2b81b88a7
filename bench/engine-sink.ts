import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

/**
 * The far end of the engine-latency benchmark: accepts vLLM /v1/realtime sessions, swallows the
 * audio and ends each utterance with an empty `transcription.done` (it transcribes nothing; what
 * is measured is the gateway's side of the socket).
 */
export async function startEngineSink(): Promise<{ url: string; messages: () => number; close: () => void }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', path: '/v1/realtime' });
  await new Promise((resolve) => wss.once('listening', resolve));
  let messages = 0;
  wss.on('connection', (ws) => {
    ws.send(JSON.stringify({ type: 'session.created', id: 'sess-bench', created: 0 }));
    ws.on('message', (data: Buffer) => {
      messages++;
      // Finish each utterance as vLLM would, so voxline frees its audio and moves on.
      if (data.length < 100 && data.includes('"final":true')) {
        ws.send('{"type":"transcription.done","text":"","usage":null}');
      }
    });
  });
  return {
    url: `http://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    messages: () => messages,
    close: () => wss.close(),
  };
}
