import type { SessionInfo } from './types.js';

/** A failed API call, with voxline's error code when the server sent one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

let csrf = '';

/** The signed-in session (its CSRF token kept for state-changing calls); undefined when signed out. */
export async function loadSession(): Promise<SessionInfo | undefined> {
  const response = await fetch('/console/api/session', { credentials: 'same-origin' });
  if (response.status === 401) return undefined;
  const info = (await response.json()) as SessionInfo;
  csrf = info.csrf;
  return info;
}

export async function getJson<T>(path: string): Promise<T> {
  return answer<T>(
    await fetch(path, { credentials: 'same-origin', headers: { accept: 'application/json' } }),
  );
}

/** POST with the session's CSRF token: the server refuses a session's writes without it. */
export async function post<T>(path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { 'x-voxline-csrf': csrf, accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, {
    method: 'POST',
    credentials: 'same-origin',
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return answer<T>(response);
}

export async function signOut(): Promise<void> {
  await post<unknown>('/console/sign-out').catch(() => undefined);
  location.assign('/console');
}

async function answer<T>(response: Response): Promise<T> {
  // The session expired (or the token changed): back to the sign-in form.
  if (response.status === 401) {
    location.assign('/console');
    throw new ApiError(401, 'VL_ERR_UNAUTHORIZED', 'signed out');
  }
  if (response.status === 204) return undefined as T;
  const body = (await response.json().catch(() => ({}))) as { error?: { code: string; message: string } };
  if (!response.ok) {
    throw new ApiError(
      response.status,
      body.error?.code ?? 'HTTP',
      body.error?.message ?? response.statusText,
    );
  }
  return body as T;
}
