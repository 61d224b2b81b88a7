import { createServer, type Server } from 'node:http';
import { listenLoopback } from './loopback-server.js';

export interface CallUpdate {
  readonly accountSid: string;
  readonly callSid: string;
  /** The form fields, as Twilio's API receives them (Status, Twiml, …). */
  readonly params: Record<string, string>;
  /** Basic auth user (the account SID) and password (the auth token). */
  readonly user: string;
  readonly password: string;
}

/**
 * Twilio's REST API for what voxline uses of it: POST /2010-04-01/Accounts/{AC}/Calls/{CA}.json
 * (a Call update) with a form body and basic auth, answering the call resource as JSON. `failWith`
 * makes it answer an error, as Twilio does for a call that has already ended.
 */
export class TwilioRestDouble {
  readonly updates: CallUpdate[] = [];
  failWith: number | undefined;
  url = '';
  readonly #http: Server;

  constructor() {
    this.#http = createServer(async (req, res) => {
      const match = /^\/2010-04-01\/Accounts\/(AC\w+)\/Calls\/(CA\w+)\.json$/.exec(req.url ?? '');
      if (req.method !== 'POST' || !match) {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"code":20404,"status":404}');
        return;
      }
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const params = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString()));
      const [user, password] = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64')
        .toString()
        .split(':');
      this.updates.push({ accountSid: match[1], callSid: match[2], params, user, password });
      if (this.failWith) {
        res.writeHead(this.failWith, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ code: 21220, message: 'Call is not in-progress', status: this.failWith }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ sid: match[2], account_sid: match[1], status: params.Status ?? 'in-progress' }),
      );
    });
  }

  async listen(): Promise<string> {
    this.url = await listenLoopback(this.#http);
    return this.url;
  }

  async close(): Promise<void> {
    this.#http.closeAllConnections();
    await new Promise<void>((resolve) => this.#http.close(() => resolve()));
  }
}
