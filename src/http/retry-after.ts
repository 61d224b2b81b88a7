/**
 * `Retry-After` in seconds from now: delay-seconds or an HTTP-date (RFC 9110 §10.2.3); undefined
 * when absent or unreadable, 0 for a date already past.
 */
export function retryAfterSeconds(header: string | null | undefined, wallNowMs: number): number | undefined {
  const value = header?.trim();
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value);
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - wallNowMs) / 1000));
}
