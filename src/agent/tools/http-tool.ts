import { randomUUID } from 'node:crypto';
import { VoxlineError } from '../../errors.js';
import { signatureHeader } from '../../webhooks/signing.js';
import type { HttpToolSpec } from '../agent-config.js';
import type { AgentTool } from './tool.js';

/** Tool replies longer than this are cut before they reach the model. */
const MAX_RESULT_CHARS = 8_000;

export interface HttpToolOptions {
  readonly secret: string | undefined;
  readonly timeoutMs: number;
}

/**
 * A tool declared in AGENT_TOOLS_FILE: voxline POSTs `{ callSid, tool, arguments }` (signed like
 * the webhooks when AGENT_WEBHOOK_SECRET is set) and hands the JSON reply to the model. A failure
 * goes back to the model as `{ "error": … }`, so it can tell the caller instead of going silent.
 */
export function httpTool(spec: HttpToolSpec, options: HttpToolOptions): AgentTool {
  return {
    definition: {
      type: 'function',
      function: {
        name: spec.name,
        description: spec.description,
        parameters: spec.parameters ?? { type: 'object', properties: {} },
      },
    },
    async run(args, { callSid, signal }) {
      try {
        const body = await postSigned(
          spec.url,
          { callSid, tool: spec.name, arguments: args },
          { ...options, timeoutMs: spec.timeoutMs ?? options.timeoutMs, headers: spec.headers, signal },
        );
        return { result: body.slice(0, MAX_RESULT_CHARS) };
      } catch (err) {
        if (signal.aborted) throw err;
        return { result: JSON.stringify({ error: (err as Error).message }) };
      }
    },
  };
}

/** POSTs JSON, signed with Standard Webhooks headers when there is a secret; resolves to the reply text. */
export async function postSigned(
  url: string,
  payload: unknown,
  options: HttpToolOptions & {
    readonly headers?: Readonly<Record<string, string>> | undefined;
    readonly signal: AbortSignal;
  },
): Promise<string> {
  const body = JSON.stringify(payload);
  const id = `msg_${randomUUID()}`;
  const timestamp = Math.floor(Date.now() / 1000);
  const headers: Record<string, string> = { 'content-type': 'application/json', ...options.headers };
  if (options.secret) {
    headers['webhook-id'] = id;
    headers['webhook-timestamp'] = String(timestamp);
    headers['webhook-signature'] = signatureHeader([options.secret], id, timestamp, body);
  }
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers,
      body,
      signal: AbortSignal.any([options.signal, AbortSignal.timeout(options.timeoutMs)]),
    });
  } catch (err) {
    if (options.signal.aborted) throw err;
    const reason =
      (err as Error).name === 'TimeoutError'
        ? `no reply within ${options.timeoutMs} ms`
        : (err as Error).message;
    throw new VoxlineError('VL_ERR_TOOL_FAILED', `${url}: ${reason}`, { cause: err });
  }
  const text = await response.text();
  if (!response.ok) throw new VoxlineError('VL_ERR_TOOL_FAILED', `${url} answered ${response.status}`);
  return text;
}
