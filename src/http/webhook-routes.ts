import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { CallRegistry } from '../calls/call-registry.js';
import type { CallStore } from '../calls/call-store.js';
import { fileSource, isSealedFile } from '../crypto/sealed-source.js';
import { VoxlineError } from '../errors.js';
import { objectSource } from '../recording/object-source.js';
import type { Recordings } from '../recording/recordings.js';
import type { Dispatcher } from '../webhooks/dispatcher.js';
import type { Delivery, OutboxStore } from '../webhooks/outbox-store.js';
import type { AccessGuard } from './access-guard.js';
import { sendSealedRecording } from './sealed-recording-reply.js';

export interface WebhookRoutesOptions {
  readonly outbox: OutboxStore | undefined;
  readonly dispatcher: Dispatcher | undefined;
  readonly recordings: Recordings | undefined;
  readonly registry: CallRegistry;
  /** Who may call these routes: the list needs read, a retry admin, a recording recordings. */
  readonly guard: AccessGuard;
  /** Calls held by other instances: whether one is live, and where its recording is. */
  readonly store?: CallStore;
  readonly instance: string;
  readonly now: () => number;
}

const ListQuery = Type.Object({
  status: Type.Optional(
    Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed')]),
  ),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
});

/**
 * Admin API for the outbox (GET /v1/webhooks/deliveries?status=failed, POST …/:id/retry) and
 * GET /v1/calls/:callSid/recording (the local file, or with RECORDING_STORE=s3://… once uploaded a
 * 302 to a presigned URL; a sealed recording, ENCRYPTION_KEY, is streamed decrypted from either);
 * retries and recording reads are audited.
 */
export async function webhookRoutes(app: FastifyInstance, options: WebhookRoutesOptions): Promise<void> {
  const { outbox, dispatcher, recordings, guard } = options;
  guard.attach(app);

  app.get<{ Querystring: { status?: Delivery['status']; limit?: number } }>(
    '/v1/webhooks/deliveries',
    {
      schema: { querystring: ListQuery },
      preValidation: guard.require({ scope: 'read', action: 'webhooks.list', audited: false }),
    },
    async (request) => {
      const list = (await outbox?.list(request.query.status ?? 'failed', request.query.limit ?? 100)) ?? [];
      return { deliveries: list.map(view) };
    },
  );

  const retry = guard.require({
    scope: 'admin',
    action: 'webhook.retry',
    audited: true,
    target: (request) => `delivery:${(request.params as { id: string }).id}`,
  });
  app.post<{ Params: { id: string } }>(
    '/v1/webhooks/deliveries/:id/retry',
    { preValidation: retry },
    async (request, reply) => {
      const id = Number(request.params.id);
      const delivery = Number.isInteger(id) ? await outbox?.get(id) : undefined;
      if (!outbox || !delivery) throw new VoxlineError('VL_ERR_DELIVERY_NOT_FOUND', request.params.id);
      guard.note(request, { callSid: delivery.callSid });
      if (!(await outbox.requeue(id, Date.now()))) {
        throw new VoxlineError('VL_ERR_DELIVERY_NOT_FAILED', `delivery ${id} is ${delivery.status}`);
      }
      dispatcher?.notify([delivery.endpoint]);
      return reply.code(202).send({ delivery: view((await outbox.get(id)) as Delivery) });
    },
  );

  const readRecording = guard.require({ scope: 'recordings', action: 'recording.read', audited: true });
  app.get<{ Params: { callSid: string } }>(
    '/v1/calls/:callSid/recording',
    { preValidation: readRecording },
    async (request, reply) => {
      const { callSid } = request.params;
      const path = recordings?.pathOf(callSid);
      const call = options.registry.get(callSid);
      if (call?.state === 'live' || recordings?.writing(callSid)) {
        throw new VoxlineError('VL_ERR_RECORDING_NOT_READY', callSid);
      }
      // Not held here: a call live on another instance, or recorded to another instance's disk.
      const stored = call ? undefined : await options.store?.getCall(callSid, options.now());
      if (stored?.state === 'live') throw new VoxlineError('VL_ERR_RECORDING_NOT_READY', callSid);
      const elsewhere =
        stored?.recording && !stored.recording.uploaded && stored.recording.instance !== options.instance
          ? stored.recording.instance
          : undefined;
      const size = path
        ? await stat(path).then(
            (s) => s.size,
            () => undefined,
          )
        : undefined;
      const uploads = recordings?.uploads;
      if (path && size === undefined && uploads) {
        // Uploaded (its local copy is deleted only once the object is confirmed): a short-lived
        // presigned GetObject URL, after checking the object is there (a 404 here, not from the bucket).
        const key = uploads.keyOf(callSid);
        const object = await uploads.store.head(key);
        if (!object) {
          // Recorded on another instance, its upload not confirmed yet: it will be there.
          if (elsewhere)
            throw new VoxlineError('VL_ERR_RECORDING_NOT_READY', `${callSid}: uploading from ${elsewhere}`);
          throw new VoxlineError('VL_ERR_RECORDING_NOT_FOUND', callSid);
        }
        // A sealed object (ENCRYPTION_KEY) is ciphertext to whoever holds a URL: streamed through
        // voxline, decrypted, instead.
        if (object.sealed) {
          const source = objectSource(uploads.store, key, object.bytes);
          return sendSealedRecording(reply, callSid, source, recordings?.keyring);
        }
        const url = await uploads.store.presignGet(key, `${callSid}.wav`);
        return reply.header('cache-control', 'no-store').redirect(url, 302);
      }
      if (elsewhere && size === undefined) {
        throw new VoxlineError('VL_ERR_RECORDING_ELSEWHERE', `${callSid} is recorded on ${elsewhere}`);
      }
      if (!path || size === undefined) throw new VoxlineError('VL_ERR_RECORDING_NOT_FOUND', callSid);
      // On local disk: the default store, or a recording whose upload is not confirmed yet.
      if (await isSealedFile(path).catch(() => false))
        return sendSealedRecording(reply, callSid, await fileSource(path), recordings?.keyring);
      return reply
        .type('audio/wav')
        .header('content-disposition', `attachment; filename="${callSid}.wav"`)
        .send(createReadStream(path));
    },
  );
}

function view(d: Delivery) {
  return {
    id: d.id,
    eventId: d.eventId,
    type: d.type,
    endpoint: d.endpoint,
    callSid: d.callSid,
    seq: d.seq,
    status: d.status,
    attempts: d.attempts,
    lastError: d.lastError,
    createdAt: new Date(d.createdAt).toISOString(),
    nextAttemptAt: d.status === 'pending' ? new Date(d.nextAttemptAt).toISOString() : null,
    deliveredAt: d.deliveredAt ? new Date(d.deliveredAt).toISOString() : null,
  };
}
