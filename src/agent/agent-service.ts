import type { FastifyBaseLogger } from 'fastify';
import type { Registry } from 'prom-client';
import type { Call, CallObserver } from '../calls/call.js';
import { AgentMetrics } from '../observability/agent-metrics.js';
import type { AgentConfig } from './agent-config.js';
import { AgentSession, fixedLines } from './agent-session.js';
import type { Brain } from './brain.js';
import { type CallControl, TwilioCallControl } from './call-control.js';
import { LlmBrain } from './llm-brain.js';
import { endCallTool, pauseRecordingTools, sendDtmfTool, transferCallTool } from './tools/call-tools.js';
import { httpTool } from './tools/http-tool.js';
import type { AgentTool } from './tools/tool.js';
import { createTts } from './tts/create-tts.js';
import { PhraseCache } from './tts/phrase-cache.js';
import type { TextToSpeech } from './tts/tts.js';
import { WebhookBrain } from './webhook-brain.js';

export interface AgentServiceDeps {
  /** Replaces the brain built from config (LLM or agent webhook). */
  readonly brain?: Brain;
  /** Replaces the TTS engine built from config. */
  readonly tts?: TextToSpeech;
  /** Replaces the Twilio REST call control. */
  readonly control?: CallControl;
}

export interface AgentServiceOptions {
  /** False when no speech engine is configured: an agent that cannot hear is not started. */
  readonly canHear: boolean;
  /** Calls default to agent mode somewhere: build the TTS now and synthesize the fixed lines ahead. */
  readonly agentByDefault?: boolean;
}

export interface AgentService {
  /** Starts an agent on each call in agent mode; passes it the caller's key presses. */
  readonly observer: CallObserver;
  readonly metrics: AgentMetrics;
  close(): Promise<void>;
}

/** The brain config asks for: the operator's agent webhook, or an LLM with the call tools and HTTP tools. */
export function createBrain(config: AgentConfig): Brain {
  if (config.webhook) {
    return new WebhookBrain({
      url: config.webhook.url,
      secret: config.webhook.secret,
      timeoutMs: config.webhookTimeoutMs,
      transferTargets: config.transferTargets,
    });
  }
  const tools: AgentTool[] = [endCallTool];
  const transfer = transferCallTool(config.transferTargets);
  if (transfer) tools.push(transfer);
  if (config.pauseTools) tools.push(...pauseRecordingTools);
  if (config.dtmfTool) tools.push(sendDtmfTool);
  const secret = config.signingSecret;
  for (const spec of config.tools) tools.push(httpTool(spec, { secret, timeoutMs: config.webhookTimeoutMs }));
  return new LlmBrain({ ...config.llm, tools });
}

/** Wires the voice agent: brain, TTS and call control are built once and shared by every call. */
export function createAgentService(
  config: AgentConfig,
  registry: Registry,
  log: FastifyBaseLogger,
  options: AgentServiceOptions,
  deps: AgentServiceDeps = {},
): AgentService {
  const metrics = new AgentMetrics(registry);
  const brain = deps.brain ?? createBrain(config);
  let tts: TextToSpeech | undefined = deps.tts;
  const control =
    deps.control ??
    (config.twilioRest
      ? new TwilioCallControl({ ...config.twilioRest, timeoutMs: config.webhookTimeoutMs })
      : undefined);
  const sessions = new WeakMap<Call, AgentSession>();
  // Built when first needed, so transcribe-only deployments start no TTS workers; the fixed lines
  // are synthesized then, in the background (the first greeting waits for its own, no longer).
  const speech = (): TextToSpeech => {
    if (tts) return tts;
    const phrases = new PhraseCache(createTts(config));
    tts = phrases;
    void phrases.warm(fixedLines(config)).then(({ cached, failed }) => {
      metrics.phrasesCached(cached);
      if (failed > 0)
        log.warn(
          { cached, failed },
          'fixed agent lines could not be synthesized ahead: each call synthesizes them',
        );
      else log.debug({ cached }, 'fixed agent lines synthesized ahead');
    });
    return phrases;
  };
  if (options.agentByDefault && options.canHear) speech();
  const observer: CallObserver = {
    callStarted(call) {
      if (call.start.mode !== 'agent') return;
      if (!options.canHear) {
        call.log.warn('agent mode with no speech engine configured: no agent on this call');
        return;
      }
      if (!call.outbound) {
        call.log.warn('agent mode on a carrier connection that cannot play audio: no agent on this call');
        return;
      }
      // The control API acts only on calls their transport says it reaches; the others end (and
      // transfer, where they can) through their own transport.
      const callControl = call.remotelyControlled ? control : undefined;
      const session = new AgentSession(call, call.outbound, {
        config,
        brain,
        tts: speech(),
        control: callControl,
        metrics,
      });
      sessions.set(call, session);
      session.start();
    },
    dtmf(call, record) {
      if (record.leg === call.start.legs.find((l) => l.track === 'inbound')?.label)
        sessions.get(call)?.dtmf(record.digit);
    },
  };
  log.debug(
    { brain: brain.name, tts: config.tts.engine, control: control !== undefined },
    'voice agent ready',
  );
  return {
    observer,
    metrics,
    close: async () => {
      if (tts && tts !== deps.tts) await tts.close();
    },
  };
}
