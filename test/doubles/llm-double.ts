import { createServer, type IncomingMessage, type Server } from 'node:http';
import { listenLoopback } from './loopback-server.js';

export interface ChatRequest {
  readonly model: string;
  readonly stream?: boolean;
  readonly messages: {
    role: string;
    content?: string | null;
    tool_calls?: unknown[];
    tool_call_id?: string;
  }[];
  readonly tools?: { type: string; function: { name: string; parameters: unknown } }[];
  readonly temperature?: number;
  /** Structured output: `{ type: 'json_schema', json_schema: { name, strict, schema } }` or `json_object`. */
  readonly response_format?: {
    readonly type: string;
    readonly json_schema?: { readonly name: string; readonly strict?: boolean; readonly schema?: unknown };
  };
}

/** What the double answers: streamed text, then tool calls, each piece after `tokenDelayMs`. */
export interface ScriptedReply {
  readonly text?: string;
  /** The content as this value's JSON (structured output); instead of `text`. */
  readonly json?: unknown;
  readonly toolCalls?: readonly { readonly name: string; readonly arguments: Record<string, unknown> }[];
  /** Before the first chunk (the model "thinking"). */
  readonly firstTokenDelayMs?: number;
  readonly tokenDelayMs?: number;
  /** Answer this HTTP status instead (an error body, as OpenAI sends). */
  readonly status?: number;
  /** The error body's message with `status` ('scripted failure' by default). */
  readonly errorMessage?: string;
  /** Response headers with `status`, e.g. `{ 'retry-after': '7' }` on a 429. */
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * An OpenAI-compatible chat-completions server for tests: POST /v1/chat/completions with
 * `stream: true` answers Server-Sent Events of `chat.completion.chunk` objects, text a word at a
 * time and tool calls split into pieces by index (id and name first, then the arguments in two
 * parts), then `data: [DONE]`, as OpenAI and vLLM stream them. Without `stream` it answers one
 * `chat.completion` object after `firstTokenDelayMs` (the whole text, or `json` as a JSON string,
 * as structured output returns it). Every request is kept for the test.
 */
export class LlmDouble {
  readonly requests: ChatRequest[] = [];
  /** Requests whose client went away before the reply finished (a cancelled turn). */
  aborted = 0;
  url = '';
  readonly #http: Server;
  readonly #script: (request: ChatRequest) => ScriptedReply;

  constructor(script: (request: ChatRequest) => ScriptedReply) {
    this.#script = script;
    this.#http = createServer((req, res) => {
      void this.#handle(req, res);
    });
  }

  async listen(): Promise<string> {
    this.url = `${await listenLoopback(this.#http)}/v1`;
    return this.url;
  }

  async close(): Promise<void> {
    this.#http.closeAllConnections();
    await new Promise<void>((resolve) => this.#http.close(() => resolve()));
  }

  /** The last user message of each request, in order. */
  userTurns(): string[] {
    return this.requests.map((r) =>
      String(r.messages.filter((m) => m.role === 'user').at(-1)?.content ?? ''),
    );
  }

  async #handle(req: IncomingMessage, res: import('node:http').ServerResponse): Promise<void> {
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
      res.writeHead(404).end();
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const request = JSON.parse(Buffer.concat(chunks).toString()) as ChatRequest;
    this.requests.push(request);
    const reply = this.#script(request);
    if (reply.status) {
      res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
      res.end(
        JSON.stringify({
          error: { message: reply.errorMessage ?? 'scripted failure', type: 'server_error' },
        }),
      );
      return;
    }
    let closed = false;
    res.on('close', () => {
      if (!res.writableFinished) {
        closed = true;
        this.aborted++;
      }
    });
    const id = `chatcmpl-${this.requests.length}`;
    const text = reply.json !== undefined ? JSON.stringify(reply.json) : (reply.text ?? '');
    if (!request.stream) {
      await this.#complete(res, id, request, reply, text, () => closed);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const send = (delta: object, finish: string | null = null) =>
      res.write(
        `data: ${JSON.stringify({
          id,
          object: 'chat.completion.chunk',
          created: Math.floor(Date.now() / 1000),
          model: request.model,
          choices: [{ index: 0, delta, finish_reason: finish }],
        })}\n\n`,
      );
    const pause = (ms: number | undefined) => new Promise((resolve) => setTimeout(resolve, ms ?? 0));
    await pause(reply.firstTokenDelayMs);
    send({ role: 'assistant', content: '' });
    for (const word of text.match(/\S+\s*/g) ?? []) {
      if (closed) return;
      send({ content: word });
      await pause(reply.tokenDelayMs);
    }
    for (const [index, call] of (reply.toolCalls ?? []).entries()) {
      const args = JSON.stringify(call.arguments);
      const half = Math.floor(args.length / 2);
      send({
        tool_calls: [
          {
            index,
            id: `call_${index}_${this.requests.length}`,
            type: 'function',
            function: { name: call.name, arguments: '' },
          },
        ],
      });
      send({ tool_calls: [{ index, function: { arguments: args.slice(0, half) } }] });
      send({ tool_calls: [{ index, function: { arguments: args.slice(half) } }] });
    }
    if (closed) return;
    send({}, reply.toolCalls?.length ? 'tool_calls' : 'stop');
    res.end('data: [DONE]\n\n');
  }

  /** A non-streaming reply: one `chat.completion`, as OpenAI answers without `stream`. */
  async #complete(
    res: import('node:http').ServerResponse,
    id: string,
    request: ChatRequest,
    reply: ScriptedReply,
    text: string,
    closed: () => boolean,
  ): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, reply.firstTokenDelayMs ?? 0));
    if (closed()) return;
    const toolCalls = (reply.toolCalls ?? []).map((call, index) => ({
      id: `call_${index}_${this.requests.length}`,
      type: 'function',
      function: { name: call.name, arguments: JSON.stringify(call.arguments) },
    }));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        id,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: request.model,
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: text,
              refusal: null,
              ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
            },
            logprobs: null,
            finish_reason: toolCalls.length > 0 ? 'tool_calls' : 'stop',
          },
        ],
        usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
      }),
    );
  }
}
