/**
 * What pino blanks out of every log line: credentials in request headers, secrets in config
 * dumps, and the auth an HTTP client error (Twilio REST goes through axios) carries with it.
 *
 * Paths are explicit where the depth is known: each leading `*` makes pino walk every key of the
 * logged object, and about a dozen of them already make a log line several times dearer.
 */

const SECRET_KEYS = [
  'token',
  'accessToken',
  'authToken',
  'apiKey',
  'password',
  'secret',
  'secrets',
  'adminToken',
  'signingSecret',
  'authorization',
] as const;

/** Lower case as Node gives incoming headers; `Authorization` as HTTP clients set it. */
const SECRET_HEADERS = [
  'authorization',
  'Authorization',
  'cookie',
  '["set-cookie"]',
  '["x-twilio-signature"]',
  '["x-api-key"]',
  '["webhook-signature"]',
] as const;

/** Where headers sit in what voxline logs: Fastify's req/res, a bare `headers`, client errors. */
const HEADER_HOLDERS = [
  'headers',
  'req.headers',
  'res.headers',
  'request.headers',
  'err.headers',
  'err.config.headers',
  'err.request.headers',
  'err.cause.headers',
  'err.cause.config.headers',
] as const;

/** Every secret the Config holds, for a `{ config }` dump. */
const CONFIG_SECRETS = [
  'adminToken',
  'twilio.authToken',
  'asr.vllm.apiKey',
  'asr.mistral.apiKey',
  'agent.llm.apiKey',
  'agent.tts.apiKey',
  'agent.signingSecret',
  'agent.webhook.secret',
  'agent.twilioRest.authToken',
  // HTTP tools' headers are there to carry credentials (Authorization, X-Api-Key, …).
  'agent.tools[*].headers',
  'webhooks.endpoints[*].secrets',
  'encryption.current.base64',
  'encryption.retired[*].base64',
  // Carriers' signing keys and shared secrets, two levels down.
  'telnyx.streamSecret',
  'plivo.authToken',
  'vonage.signatureSecret',
  'freeswitch.secret',
  'asteriskWs.secret',
  'signalwire.signingKey',
  'signalwire.streamToken',
  'jambonz.secret',
  'ari.password',
  'exotel.secret',
  'sip.auth.password',
  'sipTrunk.credentials.password',
  'outbound.telnyx.apiKey',
] as const;

function join(holder: string, key: string): string {
  return key.startsWith('[') ? `${holder}${key}` : `${holder}.${key}`;
}

const paths = [
  // Top level and one object down (`{ options: { apiKey } }`), whatever the object is.
  ...SECRET_KEYS,
  ...SECRET_KEYS.map((key) => `*.${key}`),
  ...HEADER_HOLDERS.flatMap((holder) => SECRET_HEADERS.map((header) => join(holder, header))),
  ...CONFIG_SECRETS.map((path) => `config.${path}`),
  // axios keeps basic-auth credentials (Twilio's account SID and auth token) beside the headers.
  'err.config.auth',
  'err.cause.config.auth',
];

/** Pino `redact` options, for Fastify's logger and any other logger voxline's objects reach. */
export const LOG_REDACTION: { readonly paths: string[]; readonly censor: string } = Object.freeze({
  // Frozen (pino only reads it): one list for every logger, which no caller can change.
  paths: Object.freeze(paths) as string[],
  censor: '[Redacted]',
});
