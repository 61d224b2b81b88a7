import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { CallRegistry } from '../calls/call-registry.js';
import type { CallFeedEvent, CallStore } from '../calls/call-store.js';
import { VoxlineError } from '../errors.js';
import type { RefinedTranscript } from '../postcall/refined-transcript.js';
import { CallTranscript, type SequencedEvent } from '../transcripts/call-transcript.js';
import { parseTranscriptFormat } from '../transcripts/export/export-utterance.js';
import { exportTranscript } from '../transcripts/export/transcript-export.js';
import type { AccessGuard } from './access-guard.js';

export interface TranscriptRoutesOptions {
  readonly registry: CallRegistry;
  /** Who may call these routes: scope read, and every read is audited. */
  readonly guard: AccessGuard;
  /** Transcripts of calls held by other instances (or by this one before a restart). */
  readonly store?: CallStore;
  /** Wall clock (ms) a stored record's age is judged by. */
  readonly now?: () => number;
}

const HEARTBEAT_MS = 15_000;
/** An SSE client this far behind is disconnected (it can resume with Last-Event-ID). */
const MAX_SSE_BUFFER_BYTES = 1024 * 1024;

/** `?version=`: live (the default) or refined (the batch engine's, after the call). */
function transcriptVersion(value: string | undefined): 'live' | 'refined' {
  if (value === undefined || value === 'live' || value === 'refined') return value ?? 'live';
  throw new VoxlineError(
    'VL_ERR_BAD_REQUEST',
    `version: live or refined (got ${JSON.stringify(value.slice(0, 32))})`,
  );
}

/**
 * GET /v1/calls/:callSid/transcript: both legs merged on the call clock, speaker-labelled, finals
 * and current partials; `?version=refined` the post-call one; `?format=vtt|srt|txt|json` an
 * export of either. GET /v1/calls/:callSid/analysis: the post-call analysis. GET /v1/calls/:callSid/events: the same as a live Server-Sent Events stream
 * (`partial`, `final`, `error`, then `end`), resumable with Last-Event-ID.
 */
export async function transcriptRoutes(
  app: FastifyInstance,
  options: TranscriptRoutesOptions,
): Promise<void> {
  const { registry, store, guard } = options;
  const now = options.now ?? Date.now;
  guard.attach(app);
  const read = guard.require({ scope: 'read', action: 'transcript.read', audited: true });
  const stream = guard.require({ scope: 'read', action: 'transcript.stream', audited: true });

  app.get<{ Params: { callSid: string }; Querystring: { version?: string; format?: string } }>(
    '/v1/calls/:callSid/transcript',
    { preValidation: read },
    async (request, reply) => {
      const { callSid } = request.params;
      const version = transcriptVersion(request.query.version);
      const format =
        request.query.format === undefined ? undefined : parseTranscriptFormat(request.query.format);
      const transcript =
        version === 'refined' ? await refinedTranscript(callSid) : await liveTranscript(callSid);
      if (format === undefined || format === 'json') return transcript;
      const { contentType, body } = exportTranscript(format, transcript.utterances, { callSid, version });
      // Inline: a console <track> (and a player) reads it from here.
      return reply.type(contentType).header('cache-control', 'no-store').send(body);
    },
  );

  const readAnalysis = guard.require({ scope: 'read', action: 'analysis.read', audited: true });
  app.get<{ Params: { callSid: string } }>(
    '/v1/calls/:callSid/analysis',
    { preValidation: readAnalysis },
    async (request) => {
      const { callSid } = request.params;
      const body = await store?.document(callSid, 'analysis');
      if (body === undefined) {
        await callExists(callSid);
        throw new VoxlineError('VL_ERR_ANALYSIS_NOT_READY', callSid);
      }
      return { callSid, ...(JSON.parse(body) as object) };
    },
  );

  async function liveTranscript(callSid: string) {
    const call = registry.get(callSid);
    if (call) return { callSid, version: 'live' as const, state: call.state, ...call.transcript.snapshot() };
    const [record, stored] =
      (await Promise.all([store?.getCall(callSid, now()), store?.transcript(callSid, 0)])) ?? [];
    if (!record || !stored) throw new VoxlineError('VL_ERR_CALL_NOT_FOUND', callSid);
    return {
      callSid,
      version: 'live' as const,
      state: record.state,
      ...CallTranscript.fromEvents(stored.events, stored.complete).snapshot(),
    };
  }

  async function refinedTranscript(callSid: string) {
    const body = await store?.document(callSid, 'refined');
    if (body === undefined) {
      await callExists(callSid);
      throw new VoxlineError('VL_ERR_TRANSCRIPT_NOT_READY', `${callSid}: no refined transcript yet`);
    }
    return { callSid, version: 'refined' as const, ...(JSON.parse(body) as RefinedTranscript) };
  }

  async function callExists(callSid: string): Promise<void> {
    if (registry.get(callSid)) return;
    if (!(await store?.locateCall(callSid, now()))) throw new VoxlineError('VL_ERR_CALL_NOT_FOUND', callSid);
  }

  app.get<{ Params: { callSid: string } }>(
    '/v1/calls/:callSid/events',
    { preValidation: stream },
    async (request, reply) => {
      const call = registry.get(request.params.callSid);
      const lastHeader = Number(request.headers['last-event-id'] ?? 0);
      const lastId = Number.isFinite(lastHeader) ? lastHeader : 0;
      if (!call) {
        // Held by another instance (or before a restart): follow it through the store.
        const held = store && (await store.getCall(request.params.callSid, now()));
        if (!store || !held) throw new VoxlineError('VL_ERR_CALL_NOT_FOUND', request.params.callSid);
        // The stream bypasses onSend: its entry is completed before the first byte.
        await guard.settle(request, 200);
        await followElsewhere(store, request.params.callSid, lastId, reply);
        return;
      }
      const transcript = call.transcript;
      await guard.settle(request, 200);
      const res = openStream(reply);
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
      for (const event of transcript.replay(lastId)) write(event);
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
    },
  );
}

function openStream(reply: FastifyReply): ServerResponse {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  return res;
}

/** SSE for a call held elsewhere: stored events after `lastId`, then each new one, then `end`. */
async function followElsewhere(
  store: CallStore,
  callSid: string,
  lastId: number,
  reply: FastifyReply,
): Promise<void> {
  const res = openStream(reply);
  let closed = false;
  let unfollow = () => {};
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
  heartbeat.unref();
  const close = () => {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    unfollow();
    res.end();
  };
  res.on('close', close);
  const onEvent = (event: CallFeedEvent) => {
    if (closed) return;
    if (event.type === 'end') {
      res.write('event: end\ndata: {}\n\n');
      close();
      return;
    }
    res.write(`id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
    if (res.writableLength > MAX_SSE_BUFFER_BYTES) close();
  };
  try {
    unfollow = await store.follow(callSid, lastId, onEvent);
  } catch {
    close();
    return;
  }
  if (closed) unfollow();
}
