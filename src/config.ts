import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { type AccessConfig, AccessEnvProperties, accessConfigFrom } from './access/access-config.js';
import { type AgentConfig, AgentEnvProperties, agentConfigFrom } from './agent/agent-config.js';
import { type AlertConfig, AlertEnvProperties, buildAlertConfig } from './alerts/alert-rules.js';
import { type AsrConfig, AsrEnvProperties, asrConfigFrom } from './asr/asr-config.js';
import type { OverloadLimits } from './calls/load-governor.js';
import {
  type OutboundConfig,
  OutboundEnvProperties,
  outboundConfigFrom,
} from './calls/outbound/outbound-config.js';
import { AriEnvProperties, type AriOptions, ariConfigFrom } from './carriers/ari/ari-config.js';
import {
  type AsteriskWsConfig,
  AsteriskWsEnvProperties,
  asteriskWsConfigFrom,
} from './carriers/asterisk-ws/asterisk-ws-config.js';
import {
  AudioSocketEnvProperties,
  type AudioSocketOptions,
  audioSocketConfigFrom,
} from './carriers/audiosocket/audiosocket-config.js';
import type { CallMode, LegLabels } from './carriers/carrier.js';
import { type ExotelConfig, ExotelEnvProperties, exotelConfigFrom } from './carriers/exotel/exotel-config.js';
import {
  type FreeSwitchConfig,
  FreeSwitchEnvProperties,
  freeSwitchConfigFrom,
} from './carriers/freeswitch/freeswitch-config.js';
import {
  type JambonzConfig,
  JambonzEnvProperties,
  jambonzConfigFrom,
} from './carriers/jambonz/jambonz-config.js';
import { type PlivoConfig, PlivoEnvProperties, plivoConfigFrom } from './carriers/plivo/plivo-config.js';
import {
  type SignalWireConfig,
  SignalWireEnvProperties,
  signalWireConfigFrom,
} from './carriers/signalwire/signalwire-config.js';
import { SipEnvProperties, type SipOptions, sipConfigFrom } from './carriers/sip/sip-config.js';
import {
  SipTrunkEnvProperties,
  type SipTrunkOptions,
  sipTrunkConfigFrom,
} from './carriers/sip/uac/trunk-config.js';
import { type TelnyxConfig, TelnyxEnvProperties, telnyxConfigFrom } from './carriers/telnyx/telnyx-config.js';
import { type VonageConfig, VonageEnvProperties, vonageConfigFrom } from './carriers/vonage/vonage-config.js';
import {
  type RedactionConfig,
  RedactionEnvProperties,
  redactionConfigFrom,
} from './compliance/redaction-config.js';
import { credentialProblems, schemaProblems } from './config-problems.js';
import {
  type EncryptionConfig,
  EncryptionEnvProperties,
  encryptionConfigFrom,
} from './crypto/encryption-config.js';
import { VoxlineError } from './errors.js';
import { isHttpUrl } from './http-url.js';
import {
  type AnalysisConfig,
  AnalysisEnvProperties,
  buildAnalysisConfig,
} from './postcall/analysis-config.js';
import {
  type PostcallConfig,
  PostcallEnvProperties,
  postcallConfigFrom,
} from './postcall/postcall-config.js';
import {
  type RecordingStoreConfig,
  RecordingStoreEnvProperties,
  recordingStoreConfigFrom,
} from './recording/recording-store-config.js';
import { type WebhookConfig, WebhookEnvProperties, webhookConfigFrom } from './webhooks/webhook-config.js';

const LogLevel = Type.Union(
  ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
);
const LegLabel = Type.String({ pattern: '^[a-z][a-z0-9_-]{0,31}$' });
const Ms = (min: number, max: number, value: number, description: string) =>
  Type.Integer({ minimum: min, maximum: max, default: value, description });

/** Every environment variable voxline reads, with its default. docs/configuration.md is generated from it (npm run docs:config). */
export const EnvSchema = Type.Object({
  // Read by main.ts before the rest (it names where the rest may come from); listed for the table.
  ENV_FILE: Type.Optional(Type.String({ minLength: 1, description: 'settings file read at start (.env)' })),
  PORT: Type.Integer({
    minimum: 0,
    maximum: 65535,
    default: 8080,
    description: 'HTTP port (0: any free port)',
  }),
  HOST: Type.String({ minLength: 1, default: '0.0.0.0', description: 'address to listen on' }),
  PUBLIC_URL: Type.Optional(
    Type.String({ description: 'https origin Twilio reaches; used for stream URLs and signature checks' }),
  ),
  TWILIO_AUTH_TOKEN: Type.Optional(Type.String({ minLength: 1, description: 'verifies X-Twilio-Signature' })),
  TWILIO_VALIDATE: Type.Boolean({
    default: true,
    description: 'false turns signature checks off (local testing)',
  }),
  DATA_DIR: Type.String({ minLength: 1, default: './data', description: 'where durable state is kept' }),
  LOG_LEVEL: { ...LogLevel, default: 'info', description: 'pino log level' },
  LOG_FORMAT: Type.Union([Type.Literal('auto'), Type.Literal('pretty'), Type.Literal('json')], {
    default: 'auto',
    description: 'auto: readable lines on a terminal, JSON lines otherwise',
  }),
  CALL_MODE: Type.Union([Type.Literal('transcribe'), Type.Literal('agent')], {
    default: 'transcribe',
    description: 'default mode of /twilio/voice (override per number with ?mode=)',
  }),
  TWILIO_DIAL: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'transcribe mode: number or SIP URI to <Dial> after the stream starts',
    }),
  ),
  TWILIO_CONTINUE_URL: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'transcribe mode: TwiML URL to <Redirect> to after the stream starts',
    }),
  ),
  LEG_LABEL_INBOUND: { ...LegLabel, default: 'caller', description: 'label of the inbound track' },
  LEG_LABEL_OUTBOUND: { ...LegLabel, default: 'agent', description: 'label of the outbound track' },
  REORDER_WINDOW_MS: Ms(0, 2000, 60, 'audio held behind a missing packet before its gap is filled'),
  MAX_GAP_FILL_MS: Ms(0, 600_000, 10_000, 'longest gap filled with silence; longer ones are skipped'),
  MEDIA_IDLE_TIMEOUT_MS: Ms(100, 3_600_000, 15_000, 'a media socket silent this long is closed'),
  HANDSHAKE_TIMEOUT_MS: Ms(100, 600_000, 10_000, 'a media socket must send start within this'),
  MAX_MESSAGE_BYTES: Type.Integer({ minimum: 1024, maximum: 16 * 1024 * 1024, default: 65_536 }),
  MAX_MALFORMED_PER_CALL: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 100 }),
  MAX_LIVE_CALLS: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 2_000 }),
  CALL_HISTORY_LIMIT: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 1_000 }),
  SHUTDOWN_DRAIN_MS: Ms(0, 3_600_000, 30_000, 'on SIGTERM, how long live calls may run on'),
  OVERLOAD_MAX_LAG_MS: Ms(
    0,
    60_000,
    40,
    'new calls are refused (503) while event-loop lag (p99 of each 0.5 s) stays over this; 0: off, else at least 20 (40: measured to stop admitting while the live calls still hold p99 near 20 ms; bench/overload.ts)',
  ),
  OVERLOAD_MAX_CPU_PERCENT: Type.Integer({
    minimum: 0,
    maximum: 100,
    default: 0,
    description:
      'new calls are refused while the process uses more than this percent of the CPUs it may use (every thread); 0: off',
  }),
  OVERLOAD_MAX_RSS_MB: Type.Integer({
    minimum: 0,
    maximum: 4_194_304,
    default: 0,
    description: 'new calls are refused while resident memory stays over this many MiB; 0: off',
  }),
  OVERLOAD_RETRY_AFTER_S: Type.Integer({
    minimum: 1,
    maximum: 3600,
    default: 5,
    description: 'the Retry-After (seconds) sent with an overload refusal',
  }),
  ADMIN_TOKEN: Type.Optional(
    Type.String({
      minLength: 16,
      description: 'bearer token for /v1 with every scope, and the console sign-in (open if unset)',
    }),
  ),
  ...AccessEnvProperties,
  BROWSER_CALLS: Type.Boolean({
    default: true,
    description:
      'calls from the console page (GET /browser/call, needs ADMIN_TOKEN: a console session, or a bearer token with the admin scope)',
  }),
  DATABASE_URL: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'postgres://user:password@host:5432/db: the webhook outbox in PostgreSQL, shared by every instance (unset: SQLite in DATA_DIR)',
    }),
  ),
  INSTANCE_ID: Type.Optional(
    Type.String({
      pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$',
      description: 'this instance’s name on the call records it writes (default: host name and process id)',
    }),
  ),
  CALL_RETENTION_DAYS: Type.Number({
    exclusiveMinimum: 0,
    maximum: 36_500,
    default: 30,
    description:
      'stored call records and their transcripts are deleted this long after the call ended (hourly)',
  }),
  OUTBOX_RETENTION_DAYS: Type.Number({
    exclusiveMinimum: 0,
    maximum: 36_500,
    default: 7,
    description:
      'delivered and dead-lettered webhook events are deleted this long after they finished (hourly); pending ones never',
  }),
  ...SipEnvProperties,
  ...SipTrunkEnvProperties,
  ...AudioSocketEnvProperties,
  ...AriEnvProperties,
  ...RedactionEnvProperties,
  ...AsrEnvProperties,
  ...WebhookEnvProperties,
  ...RecordingStoreEnvProperties,
  ...EncryptionEnvProperties,
  ...AgentEnvProperties,
  ...PostcallEnvProperties,
  ...AlertEnvProperties,
  ...AnalysisEnvProperties,
  ...TelnyxEnvProperties,
  ...PlivoEnvProperties,
  ...VonageEnvProperties,
  ...FreeSwitchEnvProperties,
  ...AsteriskWsEnvProperties,
  ...SignalWireEnvProperties,
  ...ExotelEnvProperties,
  ...JambonzEnvProperties,
  ...OutboundEnvProperties,
});
export type Env = Static<typeof EnvSchema>;

/** Limits on what one media connection may send, shared by the edges. */
export interface MediaLimits {
  readonly reorderWindowMs: number;
  readonly maxGapFillMs: number;
  readonly idleTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  readonly maxMessageBytes: number;
  readonly maxMalformedPerCall: number;
}

export interface Config {
  readonly port: number;
  readonly host: string;
  /** Origin without a trailing slash, e.g. `https://voxline.example.com`. */
  readonly publicUrl: string;
  readonly dataDir: string;
  readonly logLevel: string;
  readonly logFormat: 'auto' | 'pretty' | 'json';
  readonly adminToken: string | undefined;
  /** API_TOKENS (scoped, known by their hashes) and the audit log's bounds. */
  readonly access: AccessConfig;
  /** The browser ingress (GET /browser/call): on when BROWSER_CALLS and ADMIN_TOKEN are. */
  readonly browserCalls: boolean;
  /** What each ingress calls its two legs (a call's caller and agent), whatever the carrier. */
  readonly legs: LegLabels;
  readonly twilio: {
    readonly authToken: string | undefined;
    readonly validate: boolean;
    readonly mode: CallMode;
    readonly dial: string | undefined;
    readonly continueUrl: string | undefined;
  };
  readonly media: MediaLimits;
  readonly calls: {
    readonly maxLive: number;
    readonly historyLimit: number;
    readonly shutdownDrainMs: number;
    /** Admission control from measured load (OVERLOAD_*): 0 turns a measure off. */
    readonly overload: OverloadLimits;
  };
  /** SIP user-agent server (and SIPREC recording server); undefined when SIP_PORT is unset. */
  readonly sip: SipOptions | undefined;
  /** The trunk outbound SIP calls go to (SIP_TRUNK_URI); undefined: no SIP dialer. */
  readonly sipTrunk: SipTrunkOptions | undefined;
  /** Asterisk AudioSocket listener; undefined when AUDIOSOCKET_PORT is unset. */
  readonly audioSocket: AudioSocketOptions | undefined;
  /** Asterisk ARI externalMedia (plain RTP); undefined when ARI_URL is unset. */
  readonly ari: AriOptions | undefined;
  /** What transcripts (and key presses) are redacted of (REDACT, DTMF_REDACT). */
  readonly redaction: RedactionConfig;
  readonly asr: AsrConfig;
  readonly webhooks: WebhookConfig;
  /** Where finished recordings are uploaded (RECORDING_STORE=s3://…); undefined: local disk only. */
  readonly recordingStore: RecordingStoreConfig;
  /** Encryption at rest (ENCRYPTION_KEY); undefined: recordings and transcripts are stored in clear. */
  readonly encryption: EncryptionConfig | undefined;
  readonly outbox: {
    /** Finished events (delivered or dead-lettered) are kept this long, in days (may be fractional). */
    readonly retentionDays: number;
  };
  /** PostgreSQL shared by the instances (DATABASE_URL); undefined: the embedded SQLite file. */
  readonly database: { readonly url: string } | undefined;
  /** INSTANCE_ID, when set (buildApp names the instance otherwise). */
  readonly instanceId: string | undefined;
  /** Stored call records are kept this long after their call ended, in days. */
  readonly callRetentionDays: number;
  readonly agent: AgentConfig;
  /** The refined transcript after each call (POSTCALL_ENGINE); undefined: none. */
  readonly postcall: PostcallConfig | undefined;
  /** Telnyx, Plivo and Vonage media streams; undefined: that carrier is not taken. */
  readonly telnyx: TelnyxConfig | undefined;
  readonly plivo: PlivoConfig | undefined;
  readonly vonage: VonageConfig | undefined;
  /** FreeSWITCH media forks and Asterisk chan_websocket; undefined: that edge is off. */
  readonly freeswitch: FreeSwitchConfig | undefined;
  readonly asteriskWs: AsteriskWsConfig | undefined;
  /** SignalWire cXML <Stream> and jambonz listen; undefined: that edge is off. */
  readonly signalwire: SignalWireConfig | undefined;
  /** Exotel Voicebot / Stream applet WebSockets; undefined: that edge is off. */
  readonly exotel: ExotelConfig | undefined;
  readonly jambonz: JambonzConfig | undefined;
  /** Outbound calls (POST /v1/calls): limits, and Telnyx Call Control (Twilio's REST is agent.twilioRest). */
  readonly outbound: OutboundConfig;
  /** The LLM's analysis after each call (ANALYSIS_LLM_*); undefined: none. */
  readonly analysis: AnalysisConfig | undefined;
  /** Live phrase and disclosure alerts (ALERT_RULES_FILE); undefined: none. */
  readonly alerts: AlertConfig | undefined;
  /** Things the operator should know at start (logged as warnings). */
  readonly warnings: readonly string[];
}

/** Reads, validates and freezes the configuration. Throws VL_ERR_CONFIG listing every problem. */
export function loadConfig(env: Readonly<Record<string, string | undefined>>): Config {
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(EnvSchema.properties)) {
    const value = env[key];
    if (value !== undefined && value.trim() !== '') raw[key] = value.trim();
  }
  const failed = new Set<string>();
  const problems = schemaProblems(
    EnvSchema,
    Value.Default(EnvSchema, Value.Convert(EnvSchema, { ...raw })),
    failed,
  );
  problems.push(...credentialProblems(raw, failed));
  // Every problem in one pass: the checks below run on the rest, with defaults where a value failed.
  for (const name of failed) delete raw[name];
  const e = Value.Default(EnvSchema, Value.Convert(EnvSchema, raw)) as Env;
  const schemaFailures = problems.length;

  const publicUrl = e.PUBLIC_URL ?? `http://localhost:${e.PORT}`;
  problems.push(...checkPublicUrl(publicUrl));
  if (e.TWILIO_DIAL && e.TWILIO_CONTINUE_URL) {
    problems.push('TWILIO_DIAL and TWILIO_CONTINUE_URL: set one or the other, not both');
  }
  if (e.TWILIO_CONTINUE_URL && !isHttpUrl(e.TWILIO_CONTINUE_URL)) {
    problems.push(
      `TWILIO_CONTINUE_URL: must be an http(s) URL (got ${JSON.stringify(e.TWILIO_CONTINUE_URL)})`,
    );
  }
  if (e.DATABASE_URL !== undefined && !/^postgres(ql)?:\/\/./.test(e.DATABASE_URL)) {
    problems.push(
      'DATABASE_URL: expected a postgres:// or postgresql:// URL (value not shown: it may hold a password)',
    );
  }
  if (e.OVERLOAD_MAX_LAG_MS > 0 && e.OVERLOAD_MAX_LAG_MS < 20) {
    problems.push(
      `OVERLOAD_MAX_LAG_MS: 0 (off) or at least 20: lag is measured to 10 ms, so less refuses calls on noise (got ${e.OVERLOAD_MAX_LAG_MS})`,
    );
  }
  if (e.LEG_LABEL_INBOUND === e.LEG_LABEL_OUTBOUND) {
    problems.push(
      'LEG_LABEL_INBOUND and LEG_LABEL_OUTBOUND: must differ, or the two legs cannot be told apart',
    );
  }
  const sip = sipConfigFrom(e);
  const sipTrunk = sipTrunkConfigFrom(e);
  const audioSocket = audioSocketConfigFrom(e);
  const ari = ariConfigFrom(e);
  const redaction = redactionConfigFrom(e);
  const asr = asrConfigFrom(e, e.DATA_DIR);
  const webhooks = webhookConfigFrom(e);
  const agent = agentConfigFrom(e);
  const recordingStore = recordingStoreConfigFrom(e);
  const access = accessConfigFrom(e);
  const encryption = encryptionConfigFrom(e);
  const postcall = postcallConfigFrom(e, e.RECORDING_FORMAT !== 'none');
  const alerts = buildAlertConfig(e);
  const analysis = buildAnalysisConfig(e);
  const telnyx = telnyxConfigFrom(e);
  const plivo = plivoConfigFrom(e);
  const vonage = vonageConfigFrom(e);
  const freeswitch = freeSwitchConfigFrom(e);
  const asteriskWs = asteriskWsConfigFrom(e);
  const signalwire = signalWireConfigFrom(e);
  const jambonz = jambonzConfigFrom(e);
  const exotel = exotelConfigFrom(e);
  const outbound = outboundConfigFrom(e);
  for (const part of [
    sip,
    sipTrunk,
    audioSocket,
    ari,
    redaction,
    asr,
    webhooks,
    agent,
    recordingStore,
    access,
    encryption,
    postcall,
    alerts,
    analysis,
    telnyx,
    plivo,
    vonage,
    freeswitch,
    asteriskWs,
    signalwire,
    jambonz,
    exotel,
    outbound,
  ])
    problems.push(...part.problems);
  if (problems.length > 0) throw configError(problems, failed, schemaFailures);

  const warnings: string[] = [];
  if (!e.TWILIO_VALIDATE) {
    warnings.push('TWILIO_VALIDATE=false: Twilio signatures are NOT checked; anyone can open a media stream');
  } else if (!e.TWILIO_AUTH_TOKEN) {
    warnings.push(
      'TWILIO_AUTH_TOKEN is not set: every Twilio webhook and media stream will be refused (403)',
    );
  }
  if (!e.PUBLIC_URL) warnings.push(`PUBLIC_URL is not set: using ${publicUrl}, which Twilio cannot reach`);
  if (!e.ADMIN_TOKEN && access.value.apiTokens.length === 0)
    warnings.push('ADMIN_TOKEN is not set: /v1 (call details) is open to anyone who can reach it');
  else if (!e.ADMIN_TOKEN)
    warnings.push('ADMIN_TOKEN is not set: /v1 takes API_TOKENS only; the console signs no one in');
  if (e.CALL_MODE === 'transcribe' && !e.TWILIO_DIAL && !e.TWILIO_CONTINUE_URL) {
    warnings.push(
      'neither TWILIO_DIAL nor TWILIO_CONTINUE_URL is set: transcribed callers will hear silence',
    );
  }

  warnings.push(
    ...sip.warnings,
    ...audioSocket.warnings,
    ...ari.warnings,
    ...asr.warnings,
    ...recordingStore.warnings,
    ...postcall.warnings,
    ...alerts.warnings,
    ...analysis.warnings,
    ...telnyx.warnings,
    ...plivo.warnings,
    ...vonage.warnings,
    ...freeswitch.warnings,
    ...asteriskWs.warnings,
    ...signalwire.warnings,
    ...jambonz.warnings,
    ...exotel.warnings,
  );
  if (e.CALL_MODE === 'agent') {
    if (asr.value.engine === 'none')
      warnings.push('CALL_MODE=agent with no speech engine: the agent cannot hear callers');
    if (!asr.value.vad.enabled)
      warnings.push('CALL_MODE=agent with VAD_ENABLED=false: no turn taking or barge-in');
    const { webhook, llm } = agent.value;
    if (!webhook && !llm.apiKey && llm.baseUrl.includes('api.openai.com')) {
      warnings.push('CALL_MODE=agent: LLM_API_KEY is not set for the OpenAI API (or set LLM_BASE_URL)');
    }
    warnings.push(...agent.warnings);
  }

  return deepFreeze({
    port: e.PORT,
    host: e.HOST,
    publicUrl: publicUrl.replace(/\/+$/, ''),
    dataDir: e.DATA_DIR,
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT,
    adminToken: e.ADMIN_TOKEN,
    access: access.value,
    browserCalls: e.BROWSER_CALLS && e.ADMIN_TOKEN !== undefined,
    legs: { inbound: e.LEG_LABEL_INBOUND, outbound: e.LEG_LABEL_OUTBOUND },
    twilio: {
      authToken: e.TWILIO_AUTH_TOKEN,
      validate: e.TWILIO_VALIDATE,
      mode: e.CALL_MODE,
      dial: e.TWILIO_DIAL,
      continueUrl: e.TWILIO_CONTINUE_URL,
    },
    media: {
      reorderWindowMs: e.REORDER_WINDOW_MS,
      maxGapFillMs: e.MAX_GAP_FILL_MS,
      idleTimeoutMs: e.MEDIA_IDLE_TIMEOUT_MS,
      handshakeTimeoutMs: e.HANDSHAKE_TIMEOUT_MS,
      maxMessageBytes: e.MAX_MESSAGE_BYTES,
      maxMalformedPerCall: e.MAX_MALFORMED_PER_CALL,
    },
    calls: {
      maxLive: e.MAX_LIVE_CALLS,
      historyLimit: e.CALL_HISTORY_LIMIT,
      shutdownDrainMs: e.SHUTDOWN_DRAIN_MS,
      overload: {
        maxLagMs: e.OVERLOAD_MAX_LAG_MS,
        maxCpuPercent: e.OVERLOAD_MAX_CPU_PERCENT,
        maxRssMb: e.OVERLOAD_MAX_RSS_MB,
        retryAfterS: e.OVERLOAD_RETRY_AFTER_S,
      },
    },
    sip: sip.value,
    sipTrunk: sipTrunk.value,
    audioSocket: audioSocket.value,
    ari: ari.value,
    redaction: redaction.value,
    asr: asr.value,
    webhooks: webhooks.value,
    recordingStore: recordingStore.value,
    encryption: encryption.value,
    outbox: { retentionDays: e.OUTBOX_RETENTION_DAYS },
    database: e.DATABASE_URL ? { url: e.DATABASE_URL } : undefined,
    instanceId: e.INSTANCE_ID,
    callRetentionDays: e.CALL_RETENTION_DAYS,
    agent: agent.value,
    postcall: postcall.value,
    alerts: alerts.value,
    analysis: analysis.value,
    telnyx: telnyx.value,
    plivo: plivo.value,
    vonage: vonage.value,
    freeswitch: freeswitch.value,
    asteriskWs: asteriskWs.value,
    signalwire: signalwire.value,
    jambonz: jambonz.value,
    exotel: exotel.value,
    outbound: outbound.value,
    warnings,
  });
}

function checkPublicUrl(value: string): string[] {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return [`PUBLIC_URL: not a URL (got ${JSON.stringify(value)})`];
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return [
      `PUBLIC_URL: must start with https:// (or http:// for local testing) (got ${JSON.stringify(value)})`,
    ];
  }
  if (url.pathname !== '/' || url.search || url.hash) {
    return [`PUBLIC_URL: must be an origin only, with no path or query (got ${JSON.stringify(value)})`];
  }
  return [];
}

/** Later checks that name a variable already reported (run on its default) would only confuse. */
function configError(problems: string[], failed: ReadonlySet<string>, schemaFailures: number): VoxlineError {
  const lines = problems.filter(
    (line, i) => i < schemaFailures || ![...failed].some((name) => new RegExp(`\\b${name}\\b`).test(line)),
  );
  return new VoxlineError('VL_ERR_CONFIG', `\n  ${lines.join('\n  ')}`);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
