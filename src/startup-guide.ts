import type { AsrConfig } from './asr/asr-config.js';

/** What the guide needs to know: a narrow view of the config and of what was bound. */
export interface StartupFacts {
  /** Where this machine answers, e.g. http://localhost:8080. */
  readonly localUrl: string;
  readonly publicUrl: string;
  readonly asr: Pick<AsrConfig, 'engine' | 'vllm' | 'mistral' | 'local'>;
  readonly twilioTokenSet: boolean;
  readonly ports: { readonly sip?: number; readonly audioSocket?: number };
  /** Config warnings (settings not set, and what that means). */
  readonly warnings: readonly string[];
}

/**
 * The block a person sees on `npm start` at a terminal: what runs, what is missing, and the next
 * command to try. Pure, so a test can read exactly what a newcomer reads.
 */
export function startupGuide(facts: StartupFacts): string {
  const lines = [`voxline is listening on ${facts.localUrl}`, ''];
  lines.push(`  speech   ${engineLine(facts.asr)}`);
  lines.push(
    `  Twilio   voice webhook ${facts.publicUrl}/twilio/voice, media ${wsOf(facts.publicUrl)}/twilio/media`,
  );
  if (facts.ports.sip !== undefined) lines.push(`  SIP      udp and tcp port ${facts.ports.sip}`);
  if (facts.ports.audioSocket !== undefined)
    lines.push(`  Asterisk AudioSocket on tcp port ${facts.ports.audioSocket}`);
  if (facts.warnings.length > 0) {
    lines.push('', '  not set:');
    for (const warning of facts.warnings) lines.push(`    - ${warning}`);
  }
  lines.push('', '  next:');
  const token = facts.twilioTokenSet ? '' : 'TWILIO_AUTH_TOKEN=dev-token ';
  if (!facts.twilioTokenSet) {
    lines.push(
      '    - restart with TWILIO_AUTH_TOKEN=dev-token (any value works locally) to try the simulator',
    );
  }
  lines.push(
    `    - play the two-leg demo call:  ${token}npm run simulate -- --caller media/demo/support-call.caller.wav \\`,
    `        --agent media/demo/support-call.agent.wav --url ${wsOf(facts.localUrl)}/twilio/media`,
    `    - then read it:  curl ${facts.localUrl}/v1/calls`,
  );
  if (facts.asr.engine === 'local' && !facts.asr.local.path) {
    lines.push(
      '    - no network for the model download? run npm run model:pull where there is, and set',
      '      LOCAL_MODEL_PATH to the folder; or set VLLM_URL or MISTRAL_API_KEY; or ASR_ENGINE=none',
    );
  }
  if (facts.asr.engine === 'none') {
    lines.push(
      '    - for words, set VLLM_URL or MISTRAL_API_KEY, or unset ASR_ENGINE for the in-process model',
    );
  }
  lines.push('    - every setting: docs/configuration.md; problems: README.md, "Troubleshooting"');
  return `${lines.join('\n')}\n`;
}

function engineLine(asr: StartupFacts['asr']): string {
  switch (asr.engine) {
    case 'local':
      return asr.local.path
        ? `in-process Voxtral Realtime from ${asr.local.path} (${asr.local.dtype} on ${asr.local.device})`
        : `in-process Voxtral Realtime (${asr.local.dtype} on ${asr.local.device}): the first start downloads ` +
            `the model (about 3 GB) into ${asr.local.cacheDir}, progress below`;
    case 'vllm':
      return `vLLM at ${asr.vllm.urls.join(', ')} (${asr.vllm.model})`;
    case 'mistral':
      return `Mistral's realtime API at ${asr.mistral.baseUrl} (${asr.mistral.model})`;
    case 'none':
      return 'off (ASR_ENGINE=none): calls are answered, recorded and sent as events, without words';
  }
}

function wsOf(httpUrl: string): string {
  return httpUrl.replace(/^http/, 'ws');
}
