import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

/** What the sink says: nothing (an empty `done` per utterance), or words as a model would. */
export interface EngineSinkOptions {
  /** A word of delta every `deltaEvery` appends (25: half a second of 20 ms frames), and a done with them. */
  readonly words?: boolean;
  readonly deltaEvery?: number;
}

const WORDS = 'thank you for calling how can I help you today'.split(' ');

/**
 * The far end of the engine benchmarks: accepts vLLM /v1/realtime sessions, swallows the audio and
 * ends each utterance with a `transcription.done`, empty by default (what is measured is the
 * gateway's side of the socket); with `words`, deltas along the way and their text in the done,
 * so that voxline emits partials and finals (and webhooks) as it would with a real model.
 */
export async function startEngineSink(
  options: EngineSinkOptions = {},
): Promise<{ url: string; messages: () => number; close: () => void }> {
  const deltaEvery = options.deltaEvery ?? 25;
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', path: '/v1/realtime' });
  await new Promise((resolve) => wss.once('listening', resolve));
  let messages = 0;
  wss.on('connection', (ws) => {
    ws.send(JSON.stringify({ type: 'session.created', id: 'sess-bench', created: 0 }));
    let appends = 0;
    let said: string[] = [];
    ws.on('message', (data: Buffer) => {
      messages++;
      // Finish each utterance as vLLM would, so voxline frees its audio and moves on.
      if (data.length < 100 && data.includes('"final":true')) {
        ws.send(JSON.stringify({ type: 'transcription.done', text: said.join(' '), usage: null }));
        said = [];
        appends = 0;
      } else if (options.words && ++appends % deltaEvery === 0) {
        const word = WORDS[said.length % WORDS.length];
        ws.send(JSON.stringify({ type: 'transcription.delta', delta: `${said.length ? ' ' : ''}${word}` }));
        said.push(word);
      }
    });
  });
  return {
    url: `http://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    messages: () => messages,
    close: () => wss.close(),
  };
}
