import { VoxlineError } from '../errors.js';

export { retryAfterSeconds } from '../http/retry-after.js';

/** As much of an error body as is read. */
export const ERROR_BODY_BYTES = 64 * 1024;
/** Longest server message an error carries (bodies can be whole HTML pages). */
const MAX_MESSAGE_CHARS = 300;

/**
 * An engine's HTTP refusal as voxline's error: a status that trying again cannot change (bad key,
 * model or audio: 400, 401, 403, 404, 413, 422 and the other 4xx) is VL_ERR_BATCH_REJECTED;
 * 408, 409, 425, 429, 5xx and anything else odd are VL_ERR_BATCH_ENGINE, worth retrying, after
 * `retryAfterS` where the engine said. `secret` (the API key) is cut out of the message.
 */
export function batchStatusError(
  engine: string,
  status: number,
  serverMessage: string | undefined,
  options: { retryAfterS?: number; secret?: string; cause?: unknown } = {},
): VoxlineError {
  // The key out first, then the cut: a key cut in two would no longer be found.
  const said = serverMessage ? `: ${clip(withoutSecret(serverMessage, options.secret))}` : '';
  const detail = `${engine} answered HTTP ${status}${said}`;
  const cause = options.cause;
  if (isRefusal(status)) return new VoxlineError('VL_ERR_BATCH_REJECTED', detail, { cause });
  return new VoxlineError('VL_ERR_BATCH_ENGINE', detail, { cause, retryAfterS: options.retryAfterS });
}

function isRefusal(status: number): boolean {
  return status >= 400 && status < 500 && ![408, 409, 425, 429].includes(status);
}

/**
 * The reason in an error body, whichever shape the server uses: Mistral's
 * `{"object":"error","message":…,"type":…,"code":…}` (its message sometimes an object holding
 * FastAPI's `detail`), FastAPI's `{"detail": "…" | [{loc, msg}]}`, OpenAI's and vLLM's
 * `{"error": {"message": …}}`; a body that is not JSON is taken as text (batchStatusError
 * takes the key out of it, then cuts it to a log line).
 */
export function errorBodyMessage(body: unknown): string | undefined {
  let parsed = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      return body.trim().slice(0, ERROR_BODY_BYTES) || undefined;
    }
  }
  const found = messageIn(parsed, 0);
  return found ? found.slice(0, ERROR_BODY_BYTES) : undefined;
}

function messageIn(value: unknown, depth: number): string | undefined {
  if (depth > 3 || value === null || value === undefined) return undefined;
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    const parts = value.map((v) => messageIn(v, depth + 1)).filter((v): v is string => !!v);
    return parts.length > 0 ? parts.join('; ') : undefined;
  }
  if (typeof value !== 'object') return String(value);
  const o = value as Record<string, unknown>;
  // A FastAPI validation item: say which field.
  if (typeof o.msg === 'string') return Array.isArray(o.loc) ? `${o.loc.join('.')}: ${o.msg}` : o.msg;
  const message = messageIn(o.message ?? o.detail ?? o.error, depth + 1);
  if (!message) return undefined;
  const code = o.code ?? o.type;
  return typeof code === 'string' || typeof code === 'number' ? `${message} (${code})` : message;
}

/** `text` with every occurrence of `secret` (an API key) replaced. */
export function withoutSecret(text: string, secret: string | undefined): string {
  return secret && secret.length >= 4 ? text.split(secret).join('[redacted]') : text;
}

function clip(text: string): string {
  return text.length > MAX_MESSAGE_CHARS ? `${text.slice(0, MAX_MESSAGE_CHARS)}…` : text;
}

/** A body read up to `maxBytes`; the rest is not read. */
export async function readText(
  response: Response,
  maxBytes: number,
): Promise<{ text: string; complete: boolean }> {
  if (!response.body) return { text: '', complete: true };
  const reader = response.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      return { text: Buffer.concat(parts).subarray(0, maxBytes).toString('utf8'), complete: false };
    }
  }
  return { text: Buffer.concat(parts).toString('utf8'), complete: true };
}
