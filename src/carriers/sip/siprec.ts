import { XMLParser } from 'fast-xml-parser';
import type { Headers } from './sip-message.js';

/**
 * SIPREC (RFC 7865/7866) for a recording server: split the multipart INVITE body, read the
 * recording metadata in its three dialects, and decide which SDP stream (by `a=label`) is the
 * caller and which the agent. Pure.
 */

export interface BodyPart {
  readonly contentType: string;
  readonly disposition: string | undefined;
  readonly body: string;
}

/** Parts of a multipart body; undefined when the boundary is missing or never found. */
export function splitMultipart(contentType: string, body: string): BodyPart[] | undefined {
  const m = /boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const boundary = m?.[1] ?? m?.[2];
  if (!boundary) return undefined;
  const pieces = body.split(`--${boundary}`);
  if (pieces.length < 3) return undefined;
  const parts: BodyPart[] = [];
  for (const piece of pieces.slice(1)) {
    if (piece.startsWith('--')) break; // the closing delimiter
    const text = piece.replace(/^\r?\n/, '');
    const split = /\r?\n\r?\n/.exec(text);
    const head = split ? text.slice(0, split.index) : '';
    const partBody = split ? text.slice(split.index + split[0].length) : text;
    const header = (name: string) => new RegExp(`^${name}\\s*:\\s*(.+)$`, 'im').exec(head)?.[1].trim();
    parts.push({
      contentType: (header('content-type') ?? 'text/plain').toLowerCase(),
      disposition: header('content-disposition')?.toLowerCase(),
      body: partBody.replace(/\r?\n$/, ''),
    });
  }
  return parts;
}

/** An SRC's INVITE: `Require: siprec` and a Contact with `+sip.src` (RFC 7866 §6.1). */
export function isSiprecInvite(headers: Headers): boolean {
  const requires = headers.all('require').map((v) => v.toLowerCase());
  const contact = headers.get('contact') ?? '';
  return requires.includes('siprec') && /[;>]\s*\+sip\.src\b/i.test(contact);
}

export interface MetadataParticipant {
  readonly id: string;
  readonly name?: string;
  readonly aor?: string;
  /** Acme/Oracle `callingParty` extension. */
  readonly calling: boolean;
  /** Stream ids this participant sends. */
  readonly sends: readonly string[];
}

export interface RecordingMetadata {
  readonly participants: readonly MetadataParticipant[];
  /** stream id → SDP label. */
  readonly labels: ReadonlyMap<string, string>;
  /** The original call's From, when the SRC gives it (Sonus `callData/fromhdr`). */
  readonly originalFrom: string | undefined;
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '',
  removeNSPrefix: true,
  isArray: (name) => ['participant', 'stream', 'participantstreamassoc', 'send', 'nameID'].includes(name),
  parseTagValue: false,
});

type Node = Record<string, unknown>;
const text = (v: unknown): string | undefined => {
  if (typeof v === 'string') return v.trim() || undefined;
  if (v && typeof v === 'object' && '#text' in v) return String((v as Node)['#text']).trim() || undefined;
  return undefined;
};
const list = (v: unknown): Node[] => (Array.isArray(v) ? (v as Node[]) : v ? [v as Node] : []);

/** Reads rs-metadata (RFC 7865, or the pre-RFC draft schema of Acme/Oracle and AudioCodes). */
export function parseMetadata(xml: string): RecordingMetadata {
  // Some SRCs append junk after the document (jambonz trims it too).
  const end = xml.lastIndexOf('</');
  const trimmed = end >= 0 ? xml.slice(0, xml.indexOf('>', end) + 1) : xml;
  const doc = parser.parse(trimmed) as Node;
  const recording = (doc.recording ?? {}) as Node;
  const labels = new Map<string, string>();
  for (const s of list(recording.stream)) {
    const id = (s.stream_id ?? s.id) as string | undefined;
    const label = text(s.label);
    if (id && label) labels.set(id, label);
  }
  const sends = new Map<string, string[]>();
  for (const a of list(recording.participantstreamassoc)) {
    const id = a.participant_id as string | undefined;
    if (id)
      sends.set(
        id,
        list(a.send)
          .map((v) => text(v) ?? '')
          .filter(Boolean),
      );
  }
  const participants = list(recording.participant).map((p): MetadataParticipant => {
    const id = String(p.participant_id ?? p.id ?? '');
    const nameId = list(p.nameID)[0] ?? list(p.nameId)[0];
    const aor = (nameId?.aor as string | undefined) ?? text(p.aor);
    const name = text(nameId?.name) ?? text(p.name);
    const draftSends = list(p.send)
      .map((v) => text(v) ?? '')
      .filter(Boolean);
    const extension = list(p.extensiondata)[0];
    const calling = (text(p.callingParty) ?? text(extension?.callingParty))?.toLowerCase() === 'true';
    return { id, name, aor, calling, sends: sends.get(id) ?? draftSends };
  });
  // Sonus/Ribbon put the original call's headers in a callData block, inside group or session.
  const callData = [recording, ...list(recording.group), ...list(recording.session)]
    .map((n) => n.callData as Node | undefined)
    .find(Boolean);
  return { participants, labels, originalFrom: text(callData?.fromhdr) };
}

export interface LegAssignment {
  /** SDP label → role. */
  readonly roles: ReadonlyMap<string, 'caller' | 'agent'>;
  /** SDP label → who sends it, when the metadata says. */
  readonly senders: ReadonlyMap<string, MetadataParticipant>;
  /** How the caller was told apart, for the log and the call record. */
  readonly method: 'calling_party' | 'original_from' | 'configured_label';
}

/**
 * Caller vs agent for two streams. Who sends each stream comes from the association; which of
 * them is the caller from, in order: the `callingParty` extension, the original call's From,
 * else `callerLabel` (per trunk in config: there is no standard default; AWS takes the lowest
 * label as the agent, drachtio label 1 as the caller).
 */
export function assignLegs(
  streamLabels: readonly string[],
  metadata: RecordingMetadata | undefined,
  callerLabel: string,
): LegAssignment {
  const senders = new Map<string, MetadataParticipant>();
  for (const p of metadata?.participants ?? []) {
    for (const streamId of p.sends) {
      const label = metadata?.labels.get(streamId) ?? streamId;
      if (streamLabels.includes(label)) senders.set(label, p);
    }
  }
  const labelOf = (test: (p: MetadataParticipant) => boolean) => [...senders].find(([, p]) => test(p))?.[0];
  const from = metadata?.originalFrom ? aorOf(metadata.originalFrom) : undefined;
  let caller = labelOf((p) => p.calling);
  let method: LegAssignment['method'] = 'calling_party';
  if (caller === undefined && from) {
    caller = labelOf((p) => p.aor !== undefined && aorOf(p.aor) === from);
    method = 'original_from';
  }
  if (caller === undefined) {
    caller = streamLabels.includes(callerLabel) ? callerLabel : streamLabels[0];
    method = 'configured_label';
  }
  const roles = new Map<string, 'caller' | 'agent'>();
  for (const label of streamLabels) roles.set(label, label === caller ? 'caller' : 'agent');
  return { roles, senders, method };
}

/** `"Bob" <sip:+1555@host;user=phone>` → `+1555@host`, lower-cased, for comparing parties. */
function aorOf(value: string): string {
  const inner = /<([^>]+)>/.exec(value)?.[1] ?? value;
  return inner
    .split(';')[0]
    .trim()
    .replace(/^sips?:/i, '')
    .toLowerCase();
}
