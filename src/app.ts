import { availableParallelism, hostname } from 'node:os';
import formbody from '@fastify/formbody';
import helmet from '@fastify/helmet';
import websocket from '@fastify/websocket';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  LogController,
} from 'fastify';
import { ApiTokens } from './access/api-tokens.js';
import { Authenticator } from './access/authenticator.js';
import { type AgentServiceDeps, createAgentService } from './agent/agent-service.js';
import { AlertObserver } from './alerts/alert-observer.js';
import { EngineReadiness } from './asr/readiness.js';
import type { SpeechToText } from './asr/stt.js';
import { createEngine, transcriptionConsumer } from './asr/transcription.js';
import { SileroVad } from './asr/vad/silero-vad.js';
import { openAuditLog } from './audit/open-audit-log.js';
import { CallRecordWriter } from './calls/call-record-writer.js';
import type { LegConsumerFactory } from './calls/call-registry.js';
import { CallRegistry } from './calls/call-registry.js';
import { LoadGovernor, type LoadSampler } from './calls/load-governor.js';
import { openCallStore } from './calls/open-call-store.js';
import type { OutboundCalls } from './calls/outbound/outbound-calls.js';
import { registerOutbound } from './calls/outbound/outbound-wiring.js';
import { SystemLoadSampler } from './calls/system-load-sampler.js';
import type { AriEdge } from './carriers/ari/ari-edge.js';
import type { AudioSocketServer } from './carriers/audiosocket/audiosocket-server.js';
import { BROWSER_CALL_PATH, browserRoutes } from './carriers/browser/browser-routes.js';
import type { EdgeContext } from './carriers/edge-context.js';
import { MediaClock } from './carriers/media-clock.js';
import type { SipServer } from './carriers/sip/sip-server.js';
import { twilioRoutes } from './carriers/twilio/routes.js';
import { type Clock, systemClock } from './clock.js';
import { dtmfToneMasks } from './compliance/dtmf-tone-masks.js';
import { callRedaction } from './compliance/redaction-config.js';
import type { Config } from './config.js';
import { CONSOLE_BUNDLE_DIR, ConsoleAssets } from './console/console-assets.js';
import { consoleRoutes } from './console/console-routes.js';
import { Keyring } from './crypto/keyring.js';
import { VoxlineError } from './errors.js';
import { AccessGuard } from './http/access-guard.js';
import { auditRoutes } from './http/audit-routes.js';
import { callsRoutes } from './http/calls-routes.js';
import { ConsoleAccess } from './http/console-access.js';
import { eraseRoutes } from './http/erase-routes.js';
import { healthRoutes } from './http/health-routes.js';
import { transcriptRoutes } from './http/transcript-routes.js';
import { webhookRoutes } from './http/webhook-routes.js';
import { AsrMetrics } from './observability/asr-metrics.js';
import { LOG_REDACTION } from './observability/log-redaction.js';
import { GatewayMetrics } from './observability/metrics.js';
import { OverloadMetrics } from './observability/overload-metrics.js';
import { openPostcall } from './postcall/open-postcall.js';
import type { PostcallService } from './postcall/postcall-service.js';
import { createWebhookService, type WebhookService } from './webhooks/webhook-service.js';

export interface AppDeps {
  /**
   * A pino-compatible logger; by default Fastify builds one at config.logLevel, redacting
   * LOG_REDACTION (a logger passed here should be built with it too).
   */
  readonly logger?: FastifyBaseLogger;
  /** What consumes each leg's AudioFrames (engines, recorders, test taps). */
  readonly consumers?: readonly LegConsumerFactory[];
  /** Replaces the speech engine built from config.asr (null: no transcription). */
  readonly engine?: SpeechToText | null;
  /** Replaces the bundled Silero VAD. */
  readonly vad?: SileroVad;
  /** Replaces parts of the voice agent (brain, TTS, call control). */
  readonly agent?: AgentServiceDeps;
  /** The clock every timer and time reading runs on (tests pass a ManualClock); the system clock by default. */
  readonly clock?: Clock;
  /** Where the console's built bundle is (default: dist/console-web of this package). */
  readonly consoleBundleDir?: string;
  /** Where the load governor reads the load (OVERLOAD_*); the process itself by default. */
  readonly loadSampler?: LoadSampler;
}

export interface App {
  readonly server: FastifyInstance;
  readonly registry: CallRegistry;
  /** Refuses new calls while the process is overloaded (OVERLOAD_*). */
  readonly governor: LoadGovernor;
  readonly metrics: GatewayMetrics;
  readonly engine: SpeechToText | undefined;
  readonly readiness: EngineReadiness | undefined;
  readonly webhooks: WebhookService;
  /** After-the-call work: the refined transcript, the analysis. */
  readonly postcall: PostcallService;
  /** Edges with listeners of their own (SIP, AudioSocket), present when configured. */
  readonly edges: {
    readonly sip?: SipServer;
    readonly audioSocket?: AudioSocketServer;
    readonly ari?: AriEdge;
  };
  /** POST /v1/calls: the attempts, and `addDialer` for a dialer built later (SIP). */
  readonly outbound: OutboundCalls;
  /**
   * Starts the non-HTTP listeners (call after server.listen). Resolves with the ports bound
   * (useful when 0 was configured); rejects if a port cannot be bound.
   */
  startEdges(): Promise<{ sip?: number; audioSocket?: number; ari?: number }>;
}

/**
 * One policy for every response: the console's scripts, styles and workers come from this server
 * only; recordings may be a presigned object-store URL (RECORDING_STORE=s3://…), hence https: media.
 */
const CONSOLE_CSP = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", 'data:', 'blob:'],
  mediaSrc: ["'self'", 'blob:', 'https:'],
  connectSrc: ["'self'"],
  workerSrc: ["'self'", 'blob:'],
  objectSrc: ["'none'"],
  baseUri: ["'none'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
  upgradeInsecureRequests: null,
};

/** Requests not logged at all, even at debug. */
const QUIET_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/** Webhooks and admin calls are small forms and JSON; anything bigger is refused (413). */
const BODY_LIMIT_BYTES = 256 * 1024;

/** Wires the service from a validated config and its dependencies. Listening is the caller's job. */
export async function buildApp(config: Config, deps: AppDeps = {}): Promise<App> {
  const server = Fastify({
    ...(deps.logger
      ? { loggerInstance: deps.logger }
      : { logger: { level: config.logLevel, redact: LOG_REDACTION } }),
    // Fastify's two lines per request are replaced by one at debug (the onResponse hook below).
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT_BYTES,
    // `__proto__` and `constructor.prototype` keys in JSON bodies are dropped, not refused: a
    // signed carrier webhook carrying one is still acknowledged (a 400 would have it resent forever).
    onProtoPoisoning: 'remove',
    onConstructorPoisoning: 'remove',
    // The preClose hook drains live calls for up to SHUTDOWN_DRAIN_MS: Fastify's default 10 s
    // plugin timeout would fail a shutdown whose drain went well (AVV_ERR_READY_TIMEOUT).
    pluginTimeout: Math.max(10_000, config.calls.shutdownDrainMs + 15_000),
    // While draining, voxline itself refuses new media streams (503 VL_ERR_DRAINING) and keeps
    // answering webhooks and /healthz; Fastify's blanket 503 would leave refused upgrade sockets open.
    return503OnClosing: false,
  });
  const clock = deps.clock ?? systemClock;
  const consumers = [...(deps.consumers ?? [])];
  let registry: CallRegistry;
  const metrics = new GatewayMetrics(() => registry);
  const asrMetrics = new AsrMetrics(metrics.registry, config.asr.engine);
  const engine =
    deps.engine === undefined ? createEngine(config.asr, asrMetrics, server.log) : (deps.engine ?? undefined);
  let vad: SileroVad | undefined;
  let readiness: EngineReadiness | undefined;
  if (engine) {
    const onRestart = (why: string) => {
      asrMetrics.vadRestarted();
      server.log.warn(
        { why },
        'VAD worker stopped: started a new one (windows it held were judged by level)',
      );
    };
    vad = config.asr.vad.enabled
      ? (deps.vad ?? (await SileroVad.load(undefined, { onRestart, sampleRate: config.asr.vad.sampleRate })))
      : undefined;
    consumers.push(transcriptionConsumer(engine, vad, config.asr, asrMetrics, config.agent.turnSilenceMs));
    readiness = new EngineReadiness(engine, asrMetrics, server.log);
  }
  const instance = config.instanceId ?? `${hostname()}:${process.pid}`;
  // ENCRYPTION_KEY: what callers said is sealed at rest in the call store and the outbox.
  const keyring = config.encryption ? new Keyring(config.encryption) : undefined;
  const callStore = await openCallStore(config, keyring);
  const audit = await openAuditLog(config);
  const callRecords = new CallRecordWriter(callStore, instance, clock);
  // Retention of call records and audit entries: now, then hourly (a failure waits for the next hour).
  const pruneCalls = () => {
    void callStore
      .prune(clock.wallNow() - config.callRetentionDays * 86_400_000)
      .catch((err: unknown) => server.log.error({ err }, 'call records prune failed'));
    const { retentionDays, maxEntries } = config.access.audit;
    void audit
      .prune(clock.wallNow() - retentionDays * 86_400_000, maxEntries)
      .then(({ overCap }) => {
        if (overCap > 0)
          server.log.warn(
            { deleted: overCap, maxEntries },
            'audit log over AUDIT_MAX_ENTRIES: oldest entries deleted',
          );
      })
      .catch((err: unknown) => server.log.error({ err }, 'audit log prune failed'));
  };
  pruneCalls();
  const callPruneTimer = clock.setInterval(pruneCalls, 3_600_000);
  callPruneTimer.unref();
  const webhooks = await createWebhookService(config, metrics.registry, server.log, {
    clock,
    instance,
    keyring,
    recordingObserver: {
      recordingReady: (call, info) => callRecords.recordingReady(call, info),
      recordingSettled: (call, info) => postcall.recordingSettled(call, info),
      recordingUploaded: (callSid) => callRecords.recordingUploaded(callSid, server.log),
    },
  });
  // After each call: the refined transcript and the analysis (each off unless configured).
  const postcall = openPostcall(config, {
    store: callStore,
    recordings: webhooks.recordings,
    publisher: webhooks.publisher,
    registry: metrics.registry,
    clock,
    log: server.log,
  });
  // Key-press tones in the audio are masked in redacted recordings (before the recorder hears them).
  consumers.push(dtmfToneMasks, ...webhooks.consumers);
  const agent = createAgentService(
    config.agent,
    metrics.registry,
    server.log,
    {
      canHear: engine !== undefined,
      agentByDefault:
        config.twilio.mode === 'agent' ||
        config.audioSocket?.mode === 'agent' ||
        config.ari?.mode === 'agent' ||
        [...(config.sip?.routes.values() ?? [])].includes('agent'),
    },
    deps.agent,
  );
  // Samples every 0.5 s once started; refuses new calls, never live ones, while a limit is passed.
  const governor = new LoadGovernor({
    limits: config.calls.overload,
    sampler: deps.loadSampler ?? new SystemLoadSampler({ clock, cpus: availableParallelism() }),
    clock,
    log: server.log,
  });
  new OverloadMetrics(metrics.registry, governor);
  registry = new CallRegistry({
    maxLiveCalls: config.calls.maxLive,
    historyLimit: config.calls.historyLimit,
    idleTimeoutMs: config.media.idleTimeoutMs,
    timing: {
      reorderWindowMs: config.media.reorderWindowMs,
      maxFillMs: config.media.maxGapFillMs,
      maxQueued: 64,
    },
    consumers,
    // Webhooks first: call.started is committed before the agent says a word.
    observers: [
      ...webhooks.observers,
      agent.observer,
      callRecords,
      postcall,
      ...(config.alerts
        ? [
            new AlertObserver(
              config.alerts,
              (call, type, data) => webhooks.publisher?.publish(call, type, data),
              metrics.registry,
            ),
          ]
        : []),
    ],
    log: server.log,
    clock,
    redaction: config.redaction,
    governor,
  });

  const edgeContext: EdgeContext = {
    legs: config.legs,
    media: config.media,
    registry,
    metrics,
    log: server.log,
    clock: new MediaClock(clock),
  };
  const edges = {
    // Imported only when configured: a Twilio-only deployment loads no SIP code.
    sip: config.sip
      ? new (await import('./carriers/sip/sip-server.js')).SipServer(edgeContext, config.sip, clock)
      : undefined,
    audioSocket: config.audioSocket
      ? new (await import('./carriers/audiosocket/audiosocket-server.js')).AudioSocketServer(
          edgeContext,
          config.audioSocket,
        )
      : undefined,
    ari: config.ari
      ? new (await import('./carriers/ari/ari-edge.js')).AriEdge(edgeContext, config.ari, clock)
      : undefined,
  };

  server.setErrorHandler((error: FastifyError, request, reply) => {
    let failure: VoxlineError;
    let status: number | undefined;
    if (error instanceof VoxlineError) failure = error;
    else if (error.validation) failure = new VoxlineError('VL_ERR_BAD_REQUEST', error.message);
    else if (isClientError(error)) {
      // Bad JSON, an oversized body, an unknown content type: the client's mistake, not a bug.
      // Debug without the stack, so that anyone who can reach the port cannot flood the log
      // (the one request line at debug records the status).
      request.log.debug({ code: error.code, statusCode: error.statusCode }, 'request refused');
      failure = new VoxlineError('VL_ERR_BAD_REQUEST', clientErrorDetail(error));
      status = error.statusCode;
    } else {
      request.log.error({ err: error }, 'request failed');
      failure = new VoxlineError('VL_ERR_INTERNAL');
    }
    if (failure.retryAfterS !== undefined) reply.header('retry-after', String(failure.retryAfterS));
    return reply
      .code(status ?? failure.statusCode)
      .send({ error: { code: failure.code, message: failure.message } });
  });

  server.addHook('onResponse', async (request, reply) => {
    const path = request.url.split('?')[0];
    // Probes and scrapes would drown even a debug log; the query string may carry a token.
    if (QUIET_PATHS.has(path)) return;
    request.log.debug(
      { method: request.method, path, statusCode: reply.statusCode, ms: Math.round(reply.elapsedTime) },
      'request',
    );
  });
  await server.register(formbody);
  await server.register(helmet, {
    contentSecurityPolicy: { directives: CONSOLE_CSP },
    // Same-origin requests keep their Origin (the console's sign-in checks it); others get none.
    referrerPolicy: { policy: 'same-origin' },
  });
  await server.register(websocket, {
    options: { maxPayload: config.media.maxMessageBytes },
    // Protocol errors from the peer (WS_ERR_*: oversized or invalid frames) are the media
    // session's to count, and ws closes the socket with the matching code (e.g. 1009) itself.
    errorHandler: (error: Error & { code?: unknown }, socket, request) => {
      if (typeof error.code === 'string' && error.code.startsWith('WS_ERR_')) return;
      request.log.error({ err: error }, 'media socket handler failed');
      socket.terminate();
    },
    // Fastify does not track upgraded sockets: live calls are drained here, before the server closes.
    preClose: async () => {
      await outbound.close(); // attempts still ringing are cancelled: no new calls
      const outcome = await registry.drain(config.calls.shutdownDrainMs);
      server.log.info(outcome, 'live calls drained');
      governor.stop(); // nothing left to admit
      for (const client of server.websocketServer.clients) client.close(1001, 'server shutting down');
      await edges.audioSocket?.close();
      await edges.ari?.close();
      await edges.sip?.close();
      await new Promise<void>((resolve) => server.websocketServer.close(() => resolve()));
      readiness?.stop();
      // Calls are over: post-call work gets a while to finish (its events go to the outbox).
      await postcall.close(config.calls.shutdownDrainMs);
      // Calls are over and their events committed; give deliveries in flight a moment to finish.
      await webhooks.close(Math.min(5_000, config.webhooks.timeoutMs));
      clock.clearInterval(callPruneTimer);
      await callRecords.drained();
      await callStore.close();
      await audit.close();
      await engine?.close();
      await agent.close();
      if (vad && vad !== deps.vad) await vad.close();
    },
  });
  await server.register(twilioRoutes, {
    twilio: config.twilio,
    publicUrl: () => config.publicUrl,
    legs: config.legs,
    media: config.media,
    registry,
    metrics,
  });
  // Further media-stream carriers, each only when configured (loaded only then).
  const carrierOptions = {
    clock,
    mediaClock: edgeContext.clock,
    publicUrl: () => config.publicUrl,
    legs: config.legs,
    media: config.media,
    registry,
    metrics,
  };
  if (config.telnyx)
    await server.register((await import('./carriers/telnyx/telnyx-routes.js')).telnyxRoutes, {
      ...carrierOptions,
      config: config.telnyx,
    });
  if (config.plivo)
    await server.register((await import('./carriers/plivo/plivo-routes.js')).plivoRoutes, {
      ...carrierOptions,
      config: config.plivo,
    });
  if (config.vonage)
    await server.register((await import('./carriers/vonage/vonage-routes.js')).vonageRoutes, {
      ...carrierOptions,
      config: config.vonage,
    });
  if (config.freeswitch)
    await server.register((await import('./carriers/freeswitch/freeswitch-routes.js')).freeSwitchRoutes, {
      ...carrierOptions,
      config: config.freeswitch,
    });
  if (config.asteriskWs)
    await server.register((await import('./carriers/asterisk-ws/asterisk-ws-routes.js')).asteriskWsRoutes, {
      ...carrierOptions,
      config: config.asteriskWs,
    });
  if (config.signalwire)
    await server.register((await import('./carriers/signalwire/signalwire-routes.js')).signalWireRoutes, {
      ...carrierOptions,
      config: config.signalwire,
    });
  if (config.jambonz)
    await server.register((await import('./carriers/jambonz/jambonz-routes.js')).jambonzRoutes, {
      ...carrierOptions,
      config: config.jambonz,
    });
  if (config.exotel)
    await server.register((await import('./carriers/exotel/exotel-routes.js')).exotelRoutes, {
      ...carrierOptions,
      config: config.exotel,
    });
  const access = new ConsoleAccess(config.adminToken, () => clock.wallNow());
  // Scopes and the audit log for every /v1 route and browser calls (the console keeps its session).
  const guard = new AccessGuard({
    auth: new Authenticator(access, new ApiTokens(config.access.apiTokens)),
    audit,
    instance,
    now: () => clock.wallNow(),
  });
  if (config.browserCalls) {
    await server.register(browserRoutes, { guard, edge: { ...edgeContext, timers: clock } });
  }
  await server.register(callsRoutes, {
    registry,
    guard,
    store: callStore,
    instance,
    listLimit: Math.max(100, config.calls.historyLimit),
    now: () => clock.wallNow(),
  });
  await server.register(transcriptRoutes, {
    registry,
    guard,
    store: callStore,
    now: () => clock.wallNow(),
  });
  await server.register(healthRoutes, { registry, metrics, readiness, governor });
  await server.register(webhookRoutes, {
    ...webhooks,
    registry,
    guard,
    store: callStore,
    instance,
    now: () => clock.wallNow(),
  });
  await server.register(eraseRoutes, {
    guard,
    registry,
    records: callRecords,
    store: callStore,
    outbox: webhooks.outbox,
    recordings: webhooks.recordings,
    postcall,
    instance,
    now: () => clock.wallNow(),
  });
  await server.register(auditRoutes, { audit, guard });
  const outbound = await registerOutbound(server, {
    config,
    registry,
    metrics,
    guard,
    publisher: webhooks.publisher,
    clock,
  });
  // Outbound SIP goes out of the SIP edge's own socket, so it needs that edge.
  if (edges.sip && config.sipTrunk) {
    const { createSipDialer } = await import('./carriers/sip/uac/sip-dialer.js');
    outbound.addDialer(createSipDialer(edges.sip, config.sipTrunk));
  }
  await server.register(consoleRoutes, {
    access,
    assets: ConsoleAssets.load(deps.consoleBundleDir ?? CONSOLE_BUNDLE_DIR),
    secureCookies: config.publicUrl.startsWith('https:'),
    info: {
      instance,
      maxLiveCalls: config.calls.maxLive,
      agent: engine !== undefined,
      transcription: engine !== undefined,
      // The page's "Make a call" needs the browser ingress (BROWSER_CALLS).
      browserCalls: server.hasRoute({ method: 'GET', url: BROWSER_CALL_PATH }),
      postcall: config.postcall !== undefined && webhooks.recordings !== undefined,
      analysis: config.analysis !== undefined,
    },
    health: async () => ({
      liveCalls: registry.liveCount,
      maxLiveCalls: config.calls.maxLive,
      draining: registry.draining,
      eventLoopLagMs: await metrics.eventLoopLagMs(),
      engine: readiness ? await readiness.probe() : { ready: true, engine: 'none', endpoints: [] },
    }),
    now: () => clock.wallNow(),
  });
  registry.startIdleSweep();
  governor.start();
  readiness?.start(config.asr.probeIntervalMs);
  engine?.warmUp?.();
  webhooks.start();
  // Post-call work a stop cut short (the process died, or shut down mid-way) is queued again.
  void postcall
    .recover({
      instance,
      redaction: (parameters) => callRedaction(config.redaction, parameters),
      agentLabel: config.legs.outbound,
    })
    .catch((err: unknown) => server.log.error({ err }, 'post-call work could not be picked up again'));
  const startEdges = async () => ({
    ...(edges.sip ? { sip: await edges.sip.listen() } : {}),
    ...(edges.audioSocket ? { audioSocket: await edges.audioSocket.listen() } : {}),
    ...(edges.ari ? { ari: await edges.ari.listen() } : {}),
  });
  return {
    server,
    registry,
    governor,
    metrics,
    engine,
    readiness,
    webhooks,
    postcall,
    edges,
    outbound,
    startEdges,
  };
}

/** A 4xx that Fastify (or a plugin) raised itself, e.g. FST_ERR_CTP_INVALID_JSON_BODY. */
function isClientError(error: FastifyError): error is FastifyError & { statusCode: number } {
  const status = error.statusCode ?? 0;
  return status >= 400 && status < 500;
}

/** Fastify's messages for the common cases, in voxline's words; any other 4xx keeps its own. */
function clientErrorDetail(error: FastifyError): string {
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return 'the body is not valid JSON';
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return 'the body is empty but Content-Type is application/json';
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return `the body is over the ${BODY_LIMIT_BYTES}-byte limit`;
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'unsupported Content-Type';
    default:
      return error.message;
  }
}
