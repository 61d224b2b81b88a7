import { readFileSync } from 'node:fs';
import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { parse as parseYaml } from 'yaml';
import type { ConfigPart } from '../config-part.js';
import { EVENT_TYPES, type EventType } from './event-schemas.js';
import { checkSecret } from './signing.js';

const Ms = (min: number, max: number, value: number, description: string) =>
  Type.Integer({ minimum: min, maximum: max, default: value, description });

/** Webhook and recording settings (part of EnvSchema; docs/configuration.md lists them). */
export const WebhookEnvProperties = {
  WEBHOOKS_FILE: Type.Optional(
    Type.String({ minLength: 1, description: 'JSON or YAML file of webhook endpoints' }),
  ),
  WEBHOOK_URL: Type.Optional(Type.String({ minLength: 1, description: 'one endpoint from the environment' })),
  WEBHOOK_SECRET: Type.Optional(
    Type.String({ minLength: 1, description: 'its whsec_ secret (two, space-separated, while rotating)' }),
  ),
  WEBHOOK_EVENTS: Type.Optional(
    Type.String({ minLength: 1, description: 'its event filter, comma-separated' }),
  ),
  WEBHOOK_TIMEOUT_MS: Ms(100, 120_000, 15_000, 'request timeout per delivery attempt'),
  WEBHOOK_LEASE_MS: Type.Optional(
    Type.Integer({
      minimum: 1_000,
      maximum: 3_600_000,
      description:
        'how long an instance holds a delivery it is attempting; another takes it over after this if the first died (default: WEBHOOK_TIMEOUT_MS + 30 s)',
    }),
  ),
  WEBHOOK_RETRY_BASE_MS: Ms(10, 3_600_000, 1_000, 'first retry delay (doubles, with jitter)'),
  WEBHOOK_RETRY_MAX_MS: Ms(10, 86_400_000, 600_000, 'longest retry delay'),
  WEBHOOK_MAX_AGE_MS: Ms(1_000, 30 * 86_400_000, 86_400_000, 'a delivery failing this long is dead-lettered'),
  OUTBOX_SYNC: Type.Union([Type.Literal('full'), Type.Literal('normal')], {
    default: 'full',
    description: 'full: fsync every event commit; normal: survives a process crash, not a power cut',
  }),
  WEBHOOK_CONCURRENCY: Type.Integer({
    minimum: 1,
    maximum: 256,
    default: 8,
    description: 'requests in flight per endpoint',
  }),
  RECORDING_FORMAT: Type.Union([Type.Literal('none'), Type.Literal('pcm16'), Type.Literal('mulaw')], {
    default: 'mulaw',
    description: 'dual-channel WAV per call: 8 kHz μ-law (what the carrier sent), 16 kHz PCM16, or none',
  }),
  RECORDING_RETENTION_HOURS: Type.Integer({
    minimum: 0,
    maximum: 100_000,
    default: 0,
    description: 'recordings older than this are deleted (0 keeps them)',
  }),
};
const WebhookEnv = Type.Object(WebhookEnvProperties);
type WebhookEnv = Static<typeof WebhookEnv>;

/** What an endpoint entry in WEBHOOKS_FILE looks like. */
const EndpointEntry = Type.Object(
  {
    id: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' })),
    url: Type.String(),
    secret: Type.Optional(Type.String()),
    secrets: Type.Optional(Type.Array(Type.String(), { minItems: 1, maxItems: 2 })),
    events: Type.Optional(Type.Array(Type.String(), { minItems: 1 })),
  },
  { additionalProperties: false },
);
const EndpointsFile = Type.Object({ endpoints: Type.Array(EndpointEntry) }, { additionalProperties: false });

export interface WebhookEndpoint {
  readonly id: string;
  readonly url: string;
  /** Newest first; two during a rotation, and both sign every request. */
  readonly secrets: readonly string[];
  readonly events: ReadonlySet<EventType>;
}

export interface WebhookConfig {
  readonly endpoints: readonly WebhookEndpoint[];
  readonly timeoutMs: number;
  /** A claimed delivery's lease: longer than an attempt, so no two instances attempt it at once. */
  readonly leaseMs: number;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  readonly maxAgeMs: number;
  readonly concurrency: number;
  readonly outboxSync: 'full' | 'normal';
  readonly recording: { readonly format: 'none' | 'pcm16' | 'mulaw'; readonly retentionHours: number };
}

/** Default lease beyond the request timeout: the bookkeeping after a slow answer fits well within it. */
const LEASE_MARGIN_MS = 30_000;

/** Everything but partials, which are many and opt-in per endpoint. */
const DEFAULT_EVENTS = EVENT_TYPES.filter((t) => t !== 'transcript.partial');

export function webhookConfigFrom(e: WebhookEnv): ConfigPart<WebhookConfig> {
  const problems: string[] = [];
  const entries: { where: string; entry: Static<typeof EndpointEntry> }[] = [];
  if (e.WEBHOOKS_FILE) {
    for (const [i, entry] of readEndpointsFile(e.WEBHOOKS_FILE, problems).entries()) {
      entries.push({ where: `WEBHOOKS_FILE ${e.WEBHOOKS_FILE}: endpoints[${i}]`, entry });
    }
  }
  if (e.WEBHOOK_URL) {
    entries.push({
      where: 'WEBHOOK_URL',
      entry: {
        id: 'env',
        url: e.WEBHOOK_URL,
        secrets: e.WEBHOOK_SECRET?.split(/\s+/).filter(Boolean),
        events: e.WEBHOOK_EVENTS?.split(',').map((s) => s.trim()),
      },
    });
  } else if (e.WEBHOOK_SECRET || e.WEBHOOK_EVENTS) {
    problems.push('WEBHOOK_SECRET and WEBHOOK_EVENTS need WEBHOOK_URL');
  }
  if (e.WEBHOOK_LEASE_MS !== undefined && e.WEBHOOK_LEASE_MS <= e.WEBHOOK_TIMEOUT_MS) {
    problems.push(
      `WEBHOOK_LEASE_MS (${e.WEBHOOK_LEASE_MS}) must be longer than WEBHOOK_TIMEOUT_MS (${e.WEBHOOK_TIMEOUT_MS}), or a slow attempt could be doubled by another instance`,
    );
  }
  const endpoints = entries.map(({ where, entry }, i) => endpointFrom(where, entry, i, problems));
  const ids = endpoints.map((ep) => ep.id);
  for (const id of new Set(ids))
    if (ids.filter((x) => x === id).length > 1) problems.push(`webhook endpoint id "${id}" is used twice`);
  return {
    value: {
      endpoints,
      timeoutMs: e.WEBHOOK_TIMEOUT_MS,
      leaseMs: e.WEBHOOK_LEASE_MS ?? e.WEBHOOK_TIMEOUT_MS + LEASE_MARGIN_MS,
      retryBaseMs: e.WEBHOOK_RETRY_BASE_MS,
      retryMaxMs: e.WEBHOOK_RETRY_MAX_MS,
      maxAgeMs: e.WEBHOOK_MAX_AGE_MS,
      concurrency: e.WEBHOOK_CONCURRENCY,
      outboxSync: e.OUTBOX_SYNC,
      recording: { format: e.RECORDING_FORMAT, retentionHours: e.RECORDING_RETENTION_HOURS },
    },
    problems,
    warnings: [],
  };
}

function readEndpointsFile(path: string, problems: string[]): Static<typeof EndpointEntry>[] {
  let value: unknown;
  try {
    value = parseYaml(readFileSync(path, 'utf8')); // YAML is a superset of JSON: one parser for both
  } catch (err) {
    problems.push(`WEBHOOKS_FILE: cannot read ${path}: ${(err as Error).message.split('\n')[0]}`);
    return [];
  }
  if (!Value.Check(EndpointsFile, value)) {
    for (const error of Value.Errors(EndpointsFile, value)) {
      problems.push(`WEBHOOKS_FILE ${path}: ${error.path || '/'}: ${error.message}`);
    }
    return [];
  }
  return value.endpoints;
}

function endpointFrom(
  where: string,
  entry: Static<typeof EndpointEntry>,
  index: number,
  problems: string[],
): WebhookEndpoint {
  const secrets = entry.secrets ?? (entry.secret ? [entry.secret] : []);
  if (secrets.length === 0)
    problems.push(
      `${where}: a secret is required (whsec_…; generate one with: echo whsec_$(openssl rand -base64 32))`,
    );
  for (const secret of secrets) {
    const problem = checkSecret(secret);
    if (problem) problems.push(`${where}: secret ${problem}`);
  }
  if (!/^https?:\/\/[^/]/.test(entry.url) || !URL.canParse(entry.url)) {
    problems.push(`${where}: url must be an http(s) URL (got ${JSON.stringify(entry.url)})`);
  }
  const events = entry.events ?? DEFAULT_EVENTS;
  for (const event of events) {
    if (!(EVENT_TYPES as string[]).includes(event)) {
      problems.push(`${where}: unknown event "${event}" (known: ${EVENT_TYPES.join(', ')})`);
    }
  }
  return {
    id: entry.id ?? `endpoint-${index + 1}`,
    url: entry.url,
    secrets,
    events: new Set(events as EventType[]),
  };
}
