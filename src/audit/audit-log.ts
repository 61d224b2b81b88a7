/**
 * Who read or changed what, and when, from where: one entry per read of a transcript or recording,
 * per admin action, and per request refused for want of a scope. Entries hold names, addresses and
 * call ids, never a credential or a transcript. Kept in the calls' database (DATA_DIR/calls.db, or
 * PostgreSQL shared by the cluster), bounded by age and count (AuditLog.prune).
 */

/** What was done: one name per route (test/http/access-scopes.test.ts lists them all). */
export const AUDIT_ACTIONS = [
  'calls.list',
  'call.read',
  'transcript.read',
  'transcript.stream',
  'analysis.read',
  'recording.read',
  'webhooks.list',
  'call.pause',
  'call.resume',
  'call.delete',
  'call.dial',
  'call.cancel',
  'webhook.retry',
  'audit.read',
  'browser.call',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** An entry as written when the request is let through (status null until it is answered). */
export interface AuditRecord {
  /** ms since the epoch. */
  readonly at: number;
  readonly actor: string;
  readonly action: AuditAction;
  readonly callSid: string | null;
  /** What else the action was on (`delivery:42`). */
  readonly target: string | null;
  readonly ip: string;
  readonly userAgent: string | null;
  readonly method: string;
  /** The request path, without its query. */
  readonly path: string;
  /** The instance that served it. */
  readonly instance: string;
  /** The HTTP status answered; null while in progress, or when the answer never went out. */
  readonly status: number | null;
  /** What the action did (an erasure: what it erased). */
  readonly detail: Readonly<Record<string, unknown>> | null;
}

export interface AuditEntry extends AuditRecord {
  /** Grows with every entry (never reused): `before` pages with it. */
  readonly id: number;
}

/** How a request ended: its status, and what it learnt on the way (the call a delivery is of). */
export interface AuditOutcome {
  readonly status: number;
  readonly callSid?: string;
  readonly detail?: Readonly<Record<string, unknown>>;
}

export interface AuditQuery {
  readonly limit: number;
  /** Only entries with a smaller id (the previous page's last). */
  readonly before?: number;
  readonly callSid?: string;
  readonly actor?: string;
  readonly action?: string;
}

/** Its contract: test/audit/audit-log-contract.test.ts, run on SQLite and PostgreSQL. */
export interface AuditLog {
  /** Resolves with the entry's id once it is committed; rejects when it cannot be (fail closed). */
  append(record: AuditRecord): Promise<number>;
  /** Sets the status (and callSid, detail) of an entry still in progress; once. */
  settle(id: number, outcome: AuditOutcome): Promise<void>;
  /** Newest first. */
  list(query: AuditQuery): Promise<AuditEntry[]>;
  /** Deletes entries written before `cutoff`, then the oldest beyond `maxEntries`. Returns how many. */
  prune(cutoff: number, maxEntries: number): Promise<{ expired: number; overCap: number }>;
  close(): Promise<void>;
}

/** The columns both stores read an entry from, and how a row becomes an entry. */
export const AUDIT_COLUMNS =
  'id, at, actor, action, call_sid, target, ip, user_agent, method, path, instance, status, detail';

export interface AuditRow {
  readonly id: number;
  readonly at: number;
  readonly actor: string;
  readonly action: string;
  readonly call_sid: string | null;
  readonly target: string | null;
  readonly ip: string;
  readonly user_agent: string | null;
  readonly method: string;
  readonly path: string;
  readonly instance: string;
  readonly status: number | null;
  readonly detail: string | null;
}

export function fromRow(row: AuditRow): AuditEntry {
  return {
    id: row.id,
    at: row.at,
    actor: row.actor,
    action: row.action as AuditAction,
    callSid: row.call_sid,
    target: row.target,
    ip: row.ip,
    userAgent: row.user_agent,
    method: row.method,
    path: row.path,
    instance: row.instance,
    status: row.status,
    detail: row.detail === null ? null : (JSON.parse(row.detail) as Record<string, unknown>),
  };
}

/** The filters a query has, in a fixed order, as SQL conditions with `param(n)` placeholders. */
export function auditFilters(
  query: AuditQuery,
  param: (n: number) => string,
): { where: string; values: unknown[] } {
  const conditions: string[] = [];
  const values: unknown[] = [];
  const add = (sql: string, value: unknown) => {
    values.push(value);
    conditions.push(sql.replace('?', param(values.length)));
  };
  if (query.before !== undefined) add('id < ?', query.before);
  if (query.callSid !== undefined) add('call_sid = ?', query.callSid);
  if (query.actor !== undefined) add('actor = ?', query.actor);
  if (query.action !== undefined) add('action = ?', query.action);
  return { where: conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '', values };
}

/** Rows deleted per statement while pruning: short transactions, however far behind. */
export const AUDIT_PRUNE_BATCH = 1_000;
