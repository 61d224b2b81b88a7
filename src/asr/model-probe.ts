/** What a readiness probe of an OpenAI-style `/v1/models` listing found. */
export type ModelProbeResult =
  | { readonly state: 'up' }
  | { readonly state: 'down' | 'wrong_model'; readonly detail: string };

/**
 * Asks a server which models it serves (`GET /v1/models`, which vLLM and Mistral both answer) and
 * whether `model` is one of them.
 */
export async function probeModel(
  url: string,
  model: string,
  apiKey: string | undefined,
  timeoutMs: number,
): Promise<ModelProbeResult> {
  let response: Response;
  try {
    response = await fetch(url, {
      headers: apiKey ? { Authorization: `Bearer ${apiKey}` } : {},
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const cause = (err as Error & { cause?: Error }).cause?.message ?? (err as Error).message;
    return { state: 'down', detail: `${url}: ${cause}` };
  }
  if (response.status === 401 || response.status === 403) {
    return { state: 'down', detail: `${url}: HTTP ${response.status}: the API key was refused` };
  }
  if (!response.ok) return { state: 'down', detail: `${url}: HTTP ${response.status}` };
  let ids: string[];
  try {
    const body = (await response.json()) as { data?: { id?: unknown }[] };
    ids = (body.data ?? []).map((m) => m.id).filter((id): id is string => typeof id === 'string');
  } catch {
    return { state: 'down', detail: `${url}: the model list is not JSON` };
  }
  if (ids.includes(model)) return { state: 'up' };
  return {
    state: 'wrong_model',
    detail: `model "${model}" is not served at ${url}; it serves: ${ids.join(', ') || '(nothing)'}`,
  };
}
