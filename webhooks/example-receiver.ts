/**
 * An example voxline webhook receiver: verifies every request with the `standardwebhooks` package
 * (signature and a 5-minute timestamp tolerance), answers 2xx quickly, and de-duplicates on
 * `webhook-id` (voxline retries until it gets a 2xx, so a request may arrive twice).
 *
 *   npm install standardwebhooks
 *   WEBHOOK_SECRET=whsec_… npx tsx webhooks/example-receiver.ts      # listens on :3000
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';

export interface ReceivedEvent {
  readonly id: string;
  readonly type: string;
  readonly callSid: string;
  readonly seq: number;
  readonly data: Record<string, unknown>;
}

export interface ReceiverOptions {
  readonly secret: string;
  /** Called once per event id, in arrival order. */
  readonly onEvent: (event: ReceivedEvent) => void;
  /** How many recent ids to remember for de-duplication. */
  readonly rememberIds?: number;
}

export function createReceiver(options: ReceiverOptions): Server {
  const webhook = new Webhook(options.secret);
  const seen = new Set<string>();
  const remember = options.rememberIds ?? 100_000;
  return createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let event: ReceivedEvent;
      try {
        event = webhook.verify(body, headers(req.headers)) as ReceivedEvent;
      } catch (err) {
        res.writeHead(err instanceof WebhookVerificationError ? 401 : 400).end();
        return;
      }
      const id = String(req.headers['webhook-id']);
      if (!seen.has(id)) {
        seen.add(id);
        if (seen.size > remember) seen.delete(seen.values().next().value as string);
        options.onEvent(event);
      }
      res.writeHead(204).end();
    });
  });
}

function headers(h: IncomingHttpHeaders): Record<string, string> {
  return {
    'webhook-id': String(h['webhook-id'] ?? ''),
    'webhook-timestamp': String(h['webhook-timestamp'] ?? ''),
    'webhook-signature': String(h['webhook-signature'] ?? ''),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const secret = process.env.WEBHOOK_SECRET;
  if (!secret) throw new Error('set WEBHOOK_SECRET to the endpoint’s whsec_… secret');
  const port = Number(process.env.PORT ?? 3000);
  createReceiver({
    secret,
    onEvent: (e) =>
      process.stdout.write(`${e.callSid} #${e.seq} ${e.type} ${JSON.stringify(e.data).slice(0, 120)}\n`),
  }).listen(port, () => process.stdout.write(`listening on :${port}\n`));
}
