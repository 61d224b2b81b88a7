/**
 * The configuration reference (docs/configuration.md), rendered from the environment schema: every
 * variable EnvSchema reads, its default, what it accepts (in the words a config error uses) and what
 * it does. `npm run docs:config` writes it between the markers; test/config.test.ts fails when the
 * file and the schema drift apart.
 */
import type { TSchema } from '@sinclair/typebox';
import { AgentEnvProperties } from '../../src/agent/agent-config.js';
import { AsrEnvProperties } from '../../src/asr/asr-config.js';
import { AudioSocketEnvProperties } from '../../src/carriers/audiosocket/audiosocket-config.js';
import { SipEnvProperties } from '../../src/carriers/sip/sip-config.js';
import { EnvSchema } from '../../src/config.js';
import { expected, isSecretName } from '../../src/config-problems.js';
import { RecordingStoreEnvProperties } from '../../src/recording/recording-store-config.js';
import { WebhookEnvProperties } from '../../src/webhooks/webhook-config.js';

export const CONFIG_REFERENCE_PATH = new URL('../../docs/configuration.md', import.meta.url);
export const BEGIN_MARKER =
  '<!-- BEGIN GENERATED: npm run docs:config renders this from EnvSchema (test/docs/config-reference.ts); do not edit by hand -->';
export const END_MARKER = '<!-- END GENERATED -->';

/** Tables in this order; a variable belongs to the first group whose properties name it. */
const GROUPS: readonly {
  readonly title: string;
  readonly properties: Record<string, TSchema>;
}[] = [
  { title: 'SIP and SIPREC', properties: SipEnvProperties },
  { title: 'Asterisk AudioSocket', properties: AudioSocketEnvProperties },
  { title: 'Speech engine and VAD', properties: AsrEnvProperties },
  { title: 'Webhooks, outbox and recordings', properties: WebhookEnvProperties },
  { title: 'Recordings in object storage', properties: RecordingStoreEnvProperties },
  { title: 'Voice agent', properties: AgentEnvProperties },
];
const CORE_TITLE = 'Server, Twilio, media and calls';

/**
 * Defaults that are not a constant in the schema (derived from another setting, or chosen in code).
 * Everything else shows the schema's own `default`.
 */
const DERIVED_DEFAULTS: Readonly<Record<string, string>> = {
  ENV_FILE: '`.env`',
  PUBLIC_URL: '`http://localhost:$PORT`',
  AUDIT_RETENTION_DAYS: '`CALL_RETENTION_DAYS`',
  SIP_PUBLIC_HOST: '`SIP_BIND`',
  SIP_ROUTES: '`*=transcribe`',
  ASR_ENGINE: '`vllm` if `VLLM_URL` is set, else `mistral` if `MISTRAL_API_KEY` is, else `local`',
  HF_HOME: '`$DATA_DIR/models`',
  WEBHOOK_EVENTS: 'all but `transcript.partial`',
  AGENT_SYSTEM_PROMPT: 'a short phone-agent prompt',
  TTS_MODEL: "the engine's",
  TTS_VOICE: "the engine's",
};

/**
 * What each variable does, in more words than the schema's one-line `description` (which is used
 * when a variable has no entry here). Links are relative to docs/.
 */
export const DETAILS: Readonly<Record<string, string>> = {
  ENV_FILE: 'the settings file read at start (a named file must exist; `.env` may be absent)',
  PORT: 'HTTP port',
  HOST: 'address to listen on',
  PUBLIC_URL: 'the https origin Twilio reaches (no path); used to build stream URLs and to check signatures',
  TWILIO_AUTH_TOKEN: 'verifies `X-Twilio-Signature`; without it Twilio traffic is refused',
  TWILIO_VALIDATE: '`false` turns signature checks off (local testing only)',
  DATA_DIR: 'durable state; created at start',
  LOG_LEVEL:
    'the pino log level. Credentials (authorization, cookie and signature headers; tokens, API keys and secrets) are logged as `[Redacted]`, and DTMF digits never reach the log (only how many were pressed, and when)',
  CALL_MODE: 'default mode of `/twilio/voice`: `transcribe` or `agent`',
  TWILIO_DIAL: 'transcribe mode: number or SIP URI to `<Dial>` after the stream starts',
  TWILIO_CONTINUE_URL:
    'transcribe mode: TwiML URL to `<Redirect>` to instead (set one of the two; with neither, the caller is held for up to an hour)',
  LEG_LABEL_INBOUND: "label of Twilio's inbound track",
  LEG_LABEL_OUTBOUND: 'label of the outbound track',
  REORDER_WINDOW_MS: 'audio held behind a missing packet before its gap is filled with silence',
  MAX_GAP_FILL_MS: 'longest gap filled; a longer jump in timestamps is skipped (and counted)',
  MEDIA_IDLE_TIMEOUT_MS: 'a media socket silent this long is closed (4000) and its call finalized',
  HANDSHAKE_TIMEOUT_MS: 'a media socket must send `start` within this',
  MAX_MESSAGE_BYTES: 'largest WebSocket message accepted (larger: close 1009)',
  MAX_MALFORMED_PER_CALL: 'malformed messages tolerated per call before it is closed (1008)',
  MAX_LIVE_CALLS: 'further media streams are refused with 503',
  CALL_HISTORY_LIMIT: 'ended calls kept for `/v1/calls`',
  SHUTDOWN_DRAIN_MS: 'on SIGTERM, how long live calls may run on before they are closed (1001)',
  ADMIN_TOKEN:
    'bearer token for `/v1` with every scope, and the console sign-in (at least 16 characters); with neither it nor `API_TOKENS`, `/v1` is open, with a warning',
  API_TOKENS:
    'scoped bearer tokens, comma-separated `name:scope+scope:sha256hex` entries (scopes `read`, `recordings`, `admin`); only the SHA-256 of each token is configured: `npm run token:new -- name read+recordings` prints a new token and its entry (see [Compliance](compliance.md#access-control-and-audit))',
  AUDIT_RETENTION_DAYS:
    'audit log entries (reads of transcripts and recordings, admin actions, refusals) are deleted this many days after they were written; checked at start and hourly. Often set longer than `CALL_RETENTION_DAYS`',
  AUDIT_MAX_ENTRIES:
    'most audit log entries kept: beyond it the oldest are deleted at the hourly prune, with a warning',
  SIP_PORT:
    'SIP port, UDP and TCP (off when unset; `0` picks a free one) — see [SIP, SIPREC and Asterisk](carriers/sip.md)',
  SIP_BIND: 'address SIP and RTP listen on',
  SIP_PUBLIC_HOST:
    "address written into Contact and SDP (with a wildcard bind: the host's first external IPv4, with a warning)",
  SIP_RTP_PORTS: 'UDP port range for RTP (one even port per stream)',
  SIP_ALLOW:
    'comma-separated addresses and CIDR ranges that may send requests (others get 403); anyone if empty (with a warning unless digest auth is on)',
  SIP_ROUTES: 'dialled user → mode, e.g. `support=agent,+15551230000=transcribe,*=transcribe`',
  SIP_MAX_CALLS: 'live SIP and SIPREC calls; further INVITEs get 503 with `Retry-After`',
  SIP_RING_MS: 'time between 180 Ringing and 200 OK',
  SIP_TCP_IDLE_MS:
    'a SIP TCP connection that completes no message for this long, and carries no call or INVITE in progress, is closed (so is one that drips a header that never ends)',
  SIP_TCP_MAX_CONNECTIONS:
    'SIP TCP connections open at once; further ones are closed at accept and counted (`voxline_ingress_refused_total{reason="tcp_too_many_connections"}`)',
  SIP_TCP_MAX_PER_SOURCE:
    'SIP TCP connections one source address may hold (`reason="tcp_too_many_from_source"` beyond)',
  SIP_AUTH_USER:
    'with `SIP_AUTH_PASSWORD`: INVITEs must pass digest authentication (401 challenge, 403 on a wrong answer)',
  SIP_AUTH_PASSWORD: 'see `SIP_AUTH_USER`',
  SIPREC_CALLER_LABEL:
    "SIPREC: the SDP `a=label` of the caller's stream when the metadata does not say (`label`, or per trunk `10.0.0.5=2,1`)",
  AUDIOSOCKET_PORT:
    'TCP port for Asterisk AudioSocket (off when unset; `0` picks a free port) — see [Asterisk](carriers/audiosocket.md)',
  AUDIOSOCKET_BIND: 'address the AudioSocket listener binds',
  AUDIOSOCKET_MODE:
    'AudioSocket calls: `transcribe`, or `agent` (voxline answers into the call; one-leg calls only)',
  AUDIOSOCKET_PAIR_LEGS:
    '`true`: connections whose UUIDs differ only in a last hex digit `0` (caller) / `1` (agent) are the two legs of one call (ARI snoop in/out)',
  AUDIOSOCKET_ALLOW:
    'comma-separated addresses and CIDR ranges allowed to connect; anyone if empty (with a warning): AudioSocket has no authentication of its own',
  AUDIOSOCKET_MAX_CONNECTIONS:
    'AudioSocket connections open at once; further ones are closed at accept and counted (`voxline_ingress_refused_total{ingress="audiosocket",reason="tcp_too_many_connections"}`)',
  AUDIOSOCKET_MAX_PER_SOURCE:
    'connections one address may hold (an Asterisk host opens one per leg; `reason="tcp_too_many_from_source"` beyond)',
  ASR_ENGINE:
    'the speech engine: `local` runs Voxtral in-process (the model is downloaded on first use), `vllm` (your GPUs) and `mistral` (the hosted API) are remote; `none`: calls are taken, recorded and announced but not transcribed',
  VLLM_URL:
    'vLLM base URL, or several comma-separated (replicas: legs go to the least busy healthy one and fail over), e.g. `http://gpu-1:8000`',
  VLLM_API_KEY: "vLLM's `--api-key`, sent as a bearer token",
  VLLM_MODEL: 'the model name vLLM serves (`--served-model-name` if set); checked by `/readyz`',
  MISTRAL_API_KEY: 'Mistral API key for the hosted realtime API',
  MISTRAL_URL: 'Mistral API origin (e.g. `https://api.eu.mistral.ai`)',
  MISTRAL_MODEL: 'hosted model',
  MISTRAL_AUDIO:
    "`pcm16`: voxline's 16 kHz PCM; `mulaw`: the carrier's 8 kHz μ-law as is, skipping voxline's resampler",
  LOCAL_MODEL: 'local engine: Hugging Face id of the ONNX export, downloaded on first use',
  LOCAL_MODEL_PATH:
    'local engine: a folder holding the model (`config.json`, `onnx/…`); nothing is downloaded (air-gapped installs)',
  LOCAL_DTYPE:
    'local engine: weights to load: `q4` (≈ 3.2 GB, for a CPU), `q4f16` (≈ 2.8 GB, for CUDA), `fp16`, `fp32`',
  LOCAL_DEVICE: 'local engine: `cpu` or `cuda` (see [In-process engine](engines.md#in-process-engine))',
  LOCAL_INSTANCES:
    'local engine: models loaded; every leg of every call shares them, each running one utterance at a time, oldest first (utterances wait their turn when all are busy; their finals come late but complete). Each holds its own weights (≈ 3.2 GB at `q4`)',
  HF_HOME: 'local engine: model cache folder',
  HF_ENDPOINT: 'local engine: where models download from (a mirror)',
  ASR_DELAY_MS:
    "Mistral `target_streaming_delay_ms` per session (80–2400). vLLM's delay is server-wide: `transcription_delay_ms` in the model's `tekken.json`",
  VAD_ENABLED:
    'Silero VAD v5 segments utterances and only speech (plus pre-roll) goes to the engine; `false` sends everything, cut only at `UTTERANCE_MAX_MS`',
  VAD_THRESHOLD:
    'speech probability at or above which a 32 ms window is speech (silence below threshold − 0.15)',
  VAD_MIN_SPEECH_MS: 'speech shorter than this does not open an utterance',
  VAD_MIN_SILENCE_MS: 'silence that ends an utterance (the hangover); its final follows',
  VAD_PREROLL_MS: 'audio from before the detected start of speech that is sent too',
  UTTERANCE_MAX_MS: 'an utterance is cut at this length, so finals keep flowing in monologues',
  ASR_BUFFER_MS:
    'audio held per leg until the engine has transcribed it (at least `UTTERANCE_MAX_MS` + 5 s); beyond it the oldest utterance is dropped, counted, with an `engine_unavailable` event',
  ASR_CONNECT_TIMEOUT_MS: 'engine connection (to `session.created`) and probe timeout',
  ASR_DONE_TIMEOUT_MS:
    "how long the engine may take to finish an utterance after its end is sent before the connection is treated as stalled and the utterance re-sent; also how long a leg's end waits for its last final",
  ASR_PROBE_INTERVAL_MS:
    "how often the engine's endpoints are probed (`GET /v1/models`) for routing, `/readyz` and metrics",
  WEBHOOKS_FILE:
    'JSON or YAML file listing webhook endpoints (see [Webhooks](webhooks.md)); a bad file stops the start with every problem named',
  WEBHOOK_URL: "one endpoint from the environment (id `env`), in addition to the file's",
  WEBHOOK_SECRET: 'its `whsec_…` secret (24–64 random bytes, base64); two, space-separated, while rotating',
  WEBHOOK_EVENTS: 'its event filter, comma-separated',
  WEBHOOK_TIMEOUT_MS: 'request timeout per delivery attempt',
  WEBHOOK_RETRY_BASE_MS: 'first retry delay; doubles per attempt, with full jitter',
  WEBHOOK_RETRY_MAX_MS: 'longest retry delay (a `Retry-After` is honoured up to it)',
  WEBHOOK_MAX_AGE_MS: 'a delivery still failing this long after its event is dead-lettered (`status=failed`)',
  OUTBOX_RETENTION_DAYS:
    "delivered and dead-lettered webhook events (with their delivery rows) are deleted this many days after they finished, and a call's sequence row with its last event; checked at start and hourly, in small batches. Pending (retrying) events are never deleted. Any positive number of days (fractions allowed)",
  OUTBOX_SYNC:
    '`full`: every event commit is fsynced (survives a power cut); `normal`: survives a crash of the process, not of the machine (about 2–3× the commit rate). Partials and delivery bookkeeping always use `normal`',
  WEBHOOK_CONCURRENCY:
    "requests in flight per endpoint (different calls; one call's events go one at a time, in order)",
  RECORDING_FORMAT:
    'dual-channel WAV per call in `DATA_DIR/recordings` (left: inbound/caller, right: outbound/agent): `mulaw` (8 kHz G.711: exactly what the carrier sent on μ-law legs; A-law and AudioSocket legs re-encoded; 16 KB/s), `pcm16` (16 kHz, 64 KB/s) or `none`',
  RECORDING_RETENTION_HOURS: 'recordings older than this are deleted (checked hourly); `0` keeps them',
  LLM_BASE_URL:
    'agent: any OpenAI-compatible chat-completions base URL (vLLM, Mistral `https://api.mistral.ai/v1`, Ollama `http://host:11434/v1`, …)',
  LLM_API_KEY: 'agent: its API key',
  LLM_MODEL: 'agent: chat model name',
  LLM_TEMPERATURE: 'agent: sampling temperature',
  LLM_TIMEOUT_MS:
    'agent: a reply that has not started streaming within this fails (the caller hears an apology)',
  AGENT_SYSTEM_PROMPT: 'agent: the system prompt',
  AGENT_SYSTEM_PROMPT_FILE: 'agent: a file holding the system prompt (instead of the above)',
  AGENT_GREETING: 'agent: said first; `none` waits for the caller',
  AGENT_REPROMPT: 'agent: said after `AGENT_SILENCE_MS` of caller silence',
  AGENT_GOODBYE: 'agent: said before hanging up on a silent caller',
  AGENT_SILENCE_MS: 'agent: caller silence after the agent spoke before a reprompt',
  AGENT_MAX_REPROMPTS: 'agent: reprompts in a row before the goodbye and hang-up',
  AGENT_TURN_SILENCE_MS:
    "agent: caller silence that ends the caller's turn (the VAD hangover on agent calls)",
  AGENT_EARLY_START:
    'agent: ask the LLM on the partial transcript at end of speech; kept if the final agrees, else asked again',
  BARGE_IN_MIN_MS:
    'agent: caller speech during agent playback that interrupts it; shorter speech (backchannels, clicks) is ignored',
  AGENT_TOOLS_FILE: 'agent: JSON or YAML file of HTTP tools the LLM may call (see [Voice agent](agent.md))',
  AGENT_TRANSFER_TARGETS:
    'agent: `transfer_call` destinations, `name=+number` or `name=sip:uri`, comma-separated (needs `TWILIO_ACCOUNT_SID`)',
  AGENT_WEBHOOK_URL: 'agent: bring your own agent; each caller turn is POSTed here instead of to an LLM',
  AGENT_WEBHOOK_SECRET:
    'agent: `whsec_` secret signing agent webhook and HTTP tool requests (Standard Webhooks)',
  AGENT_WEBHOOK_TIMEOUT_MS: 'agent: agent webhook, HTTP tool and Twilio REST request timeout',
  TTS_ENGINE:
    'agent: `flite` (bundled, offline, nothing downloaded), `openai` (`/v1/audio/speech`), `kokoro` (kokoro-js in-process; `npm install kokoro-js`)',
  TTS_BASE_URL: '`TTS_ENGINE=openai`: OpenAI-compatible base URL',
  TTS_API_KEY: '`TTS_ENGINE=openai`: API key',
  TTS_MODEL: '`openai`: `tts-1`; `kokoro`: `onnx-community/Kokoro-82M-v1.0-ONNX`',
  TTS_VOICE: 'flite: `slt` (also `kal16`, `awb`, `rms`, `kal`); openai: `alloy`; kokoro: `af_heart`',
  TWILIO_ACCOUNT_SID:
    'agent: with `TWILIO_AUTH_TOKEN`, lets `end_call` and `transfer_call` update the call over Twilio REST',
  TWILIO_API_BASE_URL: 'Twilio REST origin (a proxy, or a test double)',
};

/** Credentials that may hold several values separated by spaces (a key rotation). */
const SPACE_SEPARATED_SECRETS = new Set(['WEBHOOK_SECRET']);

interface Row {
  readonly name: string;
  readonly schema: TSchema;
}

/** The variables by table, in schema order. Throws if the groups and EnvSchema disagree. */
export function configGroups(): { readonly title: string; readonly rows: readonly Row[] }[] {
  const all = EnvSchema.properties as Record<string, TSchema>;
  const owner = new Map<string, string>();
  for (const group of GROUPS) {
    for (const name of Object.keys(group.properties)) {
      if (!(name in all)) throw new Error(`${name} (${group.title}) is not in EnvSchema`);
      if (!owner.has(name)) owner.set(name, group.title);
    }
  }
  const titles = [CORE_TITLE, ...GROUPS.map((g) => g.title)];
  return titles.map((title) => ({
    title,
    rows: Object.entries(all)
      .filter(([name]) => (owner.get(name) ?? CORE_TITLE) === title)
      .map(([name, schema]) => ({ name, schema })),
  }));
}

/** The markdown that goes between the markers. */
export function renderConfigReference(): string {
  const known = new Set(Object.keys(EnvSchema.properties));
  for (const name of [...Object.keys(DETAILS), ...Object.keys(DERIVED_DEFAULTS)]) {
    if (!known.has(name))
      throw new Error(`test/docs/config-reference.ts describes ${name}, which EnvSchema does not read`);
  }
  const out: string[] = [];
  for (const { title, rows } of configGroups()) {
    out.push(`### ${title}`, '', '| variable | default | accepts | what it does |', '|---|---|---|---|');
    for (const { name, schema } of rows) {
      out.push(
        `| \`${name}\` | ${cell(defaultOf(name, schema))} | ${cell(accepts(name, schema))} | ${cell(describe(name, schema))} |`,
      );
    }
    out.push('');
  }
  return out.join('\n');
}

/** `doc` with the text between the markers replaced by the rendered reference. */
export function withConfigReference(doc: string): string {
  const begin = doc.indexOf(BEGIN_MARKER);
  const end = doc.indexOf(END_MARKER);
  if (begin < 0 || end < begin)
    throw new Error(`docs/configuration.md: markers missing (${BEGIN_MARKER} … ${END_MARKER})`);
  return `${doc.slice(0, begin + BEGIN_MARKER.length)}\n\n${renderConfigReference()}\n${doc.slice(end)}`;
}

function defaultOf(name: string, schema: TSchema): string {
  const derived = DERIVED_DEFAULTS[name];
  if (derived !== undefined) return derived;
  const value: unknown = schema.default;
  if (value === undefined || value === '') return '–';
  return code(String(value));
}

function accepts(name: string, schema: TSchema): string {
  const s = schema as TSchema & { anyOf?: { const?: unknown }[]; pattern?: string };
  let text: string;
  if (s.anyOf?.every((o) => o.const !== undefined))
    text = s.anyOf.map((o) => code(String(o.const))).join(', ');
  else if (typeof s.pattern === 'string') text = `text matching ${code(s.pattern)}`;
  else if (schema.type === 'boolean') text = '`true`, `false`';
  else text = expected(schema);
  if (!isSecretName(name)) return text;
  // As credentialProblems (src/config-problems.ts) checks them.
  return SPACE_SEPARATED_SECRETS.has(name)
    ? `${text}; credentials: printable ASCII, space-separated`
    : `${text}; a credential: printable ASCII, no spaces`;
}

function describe(name: string, schema: TSchema): string {
  const text = DETAILS[name] ?? (typeof schema.description === 'string' ? schema.description : undefined);
  if (text === undefined) throw new Error(`${name}: no description (add one to the schema or to DETAILS)`);
  return text;
}

function code(text: string): string {
  return text.includes('`') ? `\`\` ${text} \`\`` : `\`${text}\``;
}

/** A table cell: no line breaks, and a literal `|` escaped so it does not end the cell. */
function cell(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').replace(/(?<!\\)\|/g, '\\|');
}
