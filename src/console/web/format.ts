/** Display helpers: durations, call-clock times, who is on a call. */
import type { CallView } from './types.js';

export function clockTime(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const minutes = Math.floor(total / 60);
  const seconds = total % 60;
  return `${minutes}:${String(seconds).padStart(2, '0')}`;
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

export function duration(totalSeconds: number): string {
  const s = Math.round(totalSeconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = `${String(m).padStart(h ? 2 : 1, '0')}:${String(s % 60).padStart(2, '0')}`;
  return h ? `${h}:${rest}` : rest;
}

/** "From → To", or the participants' names, or the ingress when the carrier named no one. */
export function parties(call: CallView): string {
  const names = call.participants.map((p) => p.address ?? p.name ?? p.role);
  return names.length > 0 ? names.join(' → ') : '—';
}

export function when(iso: string): string {
  const date = new Date(iso);
  return `${date.toLocaleDateString()} ${date.toLocaleTimeString()}`;
}
