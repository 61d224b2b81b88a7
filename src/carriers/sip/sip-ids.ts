import { createHash } from 'node:crypto';

/** A stable call id for a SIP Call-ID (which may hold characters unsafe in paths and URLs). */
export function sipCallSid(callId: string, prefix: 'SIP' | 'SRS'): string {
  return `${prefix}${createHash('sha256').update(callId).digest('hex').slice(0, 32)}`;
}

/** `host:port`, with brackets around an IPv6 host. */
export function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}
