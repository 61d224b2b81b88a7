import type { FastifyInstance } from 'fastify';
import type { CallRegistry } from '../calls/call-registry.js';
import { VoxlineError } from '../errors.js';
import type { SequencedEvent } from '../transcripts/call-transcript.js';
import { requireAdminToken } from './admin-auth.js';

export interface TranscriptRoutesOptions {
  readonly registry: CallRegistry;
  readonly adminToken: string | undefined;
}

const HEARTBEAT_MS = 15_000;
/** An SSE client this far behind is disconnected (it can resume with Last-Event-ID). */
const MAX_SSE_BUFFER_BYTES = 1024 * 1024;

/**
 * GET /v1/calls/:callSid/transcript: both legs merged on the call clock, speaker-labelled, finals
 * and current partials. GET /v1/calls/:callSid/events: the same as a live Server-Sent Events stream
 * (`partial`, `final`, `error`, then `end`), resumable with Last-Event-ID.
 */
export async function transcriptRoutes(
  app: FastifyInstance,
  options: TranscriptRoutesOptions,
): Promise<void> {
  const { registry } = options;
  app.addHook('preValidation', requireAdminToken(options.adminToken));

  app.get<{ Params: { callSid: string } }>('/v1/calls/:callSid/transcript', async (request) => {
    const call = registry.get(request.params.callSid);
    if (!call) throw new VoxlineError('VL_ERR_CALL_NOT_FOUND', request.params.callSid);
    return { callSid: call.callSid, state: call.state, ...call.transcript.snapshot() };
  });

  app.get<{ Params: { callSid: string } }>('/v1/calls/:callSid/events', async (request, reply) => {
    const call = registry.get(request.params.callSid);
    if (!call) throw new VoxlineError('VL_ERR_CALL_NOT_FOUND', request.params.callSid);
    const lastId = Number(request.headers['last-event-id'] ?? 0);
    const transcript = call.transcript;
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const write = (event: SequencedEvent) => {
      res.write(`id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
      if (res.writableLength > MAX_SSE_BUFFER_BYTES) {
        request.log.warn({ callSid: call.callSid }, 'SSE client too slow: disconnected (it may resume)');
        close();
      }
    };
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
    heartbeat.unref();
    let unsubscribe = () => {};
    const close = () => {
      clearInterval(heartbeat);
      unsubscribe();
      res.end();
    };
    for (const event of transcript.replay(Number.isFinite(lastId) ? lastId : 0)) write(event);
    if (transcript.complete) {
      res.write('event: end\ndata: {}\n\n');
      close();
      return;
    }
    unsubscribe = transcript.subscribe((event) => {
      if (event.type === 'end') {
        res.write('event: end\ndata: {}\n\n');
        close();
      } else write(event);
    });
    res.on('close', close);
  });
}
