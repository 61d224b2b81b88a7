import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Ajv } from 'ajv';
import { Webhook } from 'standardwebhooks';
import { EVENT_TYPES } from '../../src/webhooks/event-schemas.js';

/** A valid Standard Webhooks secret (32 bytes). */
export const SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
export const OLD_SECRET = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;

export interface Request {
  readonly id: string;
  readonly timestamp: string;
  readonly signature: string;
  readonly body: string;
  readonly status: number;
  readonly at: number;
}

// biome-ignore lint/suspicious/noExplicitAny: events are checked against the JSON Schemas.
export type Event = { id: string; type: string; callSid: string; seq: number; data: any };

/**
 * A real HTTP webhook receiver on loopback. `respond(n)` decides, per request (n counts from 1),
 * the status to answer and how long to take. Every request is recorded; requests answered 2xx are
 * verified with the `standardwebhooks` package (never with voxline's code) and their events kept,
 * de-duplicated by webhook-id.
 */
export class TestReceiver {
  readonly requests: Request[] = [];
  readonly events: Event[] = [];
  readonly #server: Server;
  readonly #verifier: Webhook;
  respond: (n: number) => { status: number; delayMs?: number } = () => ({ status: 204 });

  constructor(secret = SECRET) {
    this.#verifier = new Webhook(secret);
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const headers = {
          'webhook-id': String(req.headers['webhook-id']),
          'webhook-timestamp': String(req.headers['webhook-timestamp']),
          'webhook-signature': String(req.headers['webhook-signature']),
        };
        const { status, delayMs = 0 } = this.respond(this.requests.length + 1);
        this.requests.push({
          id: headers['webhook-id'],
          timestamp: headers['webhook-timestamp'],
          signature: headers['webhook-signature'],
          body,
          status,
          at: Date.now(),
        });
        setTimeout(() => {
          if (status >= 200 && status < 300) {
            const event = this.#verifier.verify(body, headers) as Event; // throws on a bad signature
            if (!this.events.some((e) => e.id === event.id)) this.events.push(event);
          }
          res.writeHead(status).end();
        }, delayMs);
      });
    });
  }

  async listen(port = 0): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(port, '127.0.0.1', resolve));
    return this.url;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/hooks`;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** Validates events against the committed JSON Schemas in webhooks/schemas/. */
export function schemaValidator(): (event: unknown) => string[] {
  const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
  for (const type of EVENT_TYPES) {
    ajv.addSchema(
      JSON.parse(readFileSync(new URL(`../../webhooks/schemas/${type}.json`, import.meta.url), 'utf8')),
    );
  }
  return (event) => {
    const type = (event as { type?: string }).type;
    const validate = ajv.getSchema(`https://voxline.dev/schemas/${type}.json`);
    if (!validate) return [`no schema for type ${type}`];
    return validate(event)
      ? []
      : (validate.errors ?? []).map(
          (e: { instancePath: string; message?: string }) => `${e.instancePath} ${e.message}`,
        );
  };
}
