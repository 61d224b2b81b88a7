/** The shapes of the admin API's answers, as much of them as the console reads (docs/http-api.md). */

export interface SessionInfo {
  readonly csrf: string;
  readonly expiresAt: string;
  readonly instance: string;
  readonly maxLiveCalls: number;
  readonly agent: boolean;
  readonly transcription: boolean;
  readonly browserCalls: boolean;
  /** The server makes refined transcripts after calls (POSTCALL_ENGINE, with recording). */
  readonly postcall: boolean;
  /** The server analyzes calls after they end (ANALYSIS_LLM_BASE_URL). */
  readonly analysis: boolean;
}

export interface Participant {
  readonly role: string;
  readonly name?: string;
  readonly address?: string;
}

export interface LegStats {
  readonly label: string;
  readonly codec: string;
  readonly sampleRate: number;
  readonly audioSeconds: number;
  readonly gapFilledMs: number;
  readonly framesDropped: number;
}

export interface RecordingInfo {
  readonly format: string;
  readonly durationMs: number;
  readonly bytes: number;
  readonly uploaded?: boolean;
}

export interface DtmfRecord {
  readonly digit: string;
  readonly atMs: number | null;
}

export interface AgentSummary {
  readonly turns: readonly { readonly trigger: string; readonly status: string }[];
  readonly bargeIns: readonly { readonly atMs: number; readonly reactionMs: number }[];
  readonly actions: readonly { readonly name?: string; readonly type?: string }[];
}

export interface CallView {
  readonly callSid: string;
  readonly ingress: string;
  readonly participants: readonly Participant[];
  readonly mode: string;
  readonly state: 'live' | 'ended';
  readonly startedAt: string;
  readonly endedAt: string | null;
  readonly endReason: string | null;
  readonly durationSeconds: number;
  readonly legs: readonly LegStats[];
  readonly dtmf: readonly DtmfRecord[];
  readonly agent: AgentSummary | null;
  readonly recording?: RecordingInfo | null;
  readonly instance?: { readonly id: string };
}

export interface Word {
  readonly word: string;
  readonly startMs: number;
  readonly endMs: number;
}

export interface FinalEvent {
  readonly type: 'final';
  readonly seq: number;
  readonly leg: string;
  readonly utteranceId: number;
  readonly text: string;
  readonly startMs: number;
  readonly endMs: number;
  readonly words: readonly Word[];
  readonly recovered: boolean;
  readonly interrupted?: boolean;
  /** The in-process engine was behind: this final came `lagMs` after its speech, complete. */
  readonly delayed?: boolean;
  readonly lagMs?: number;
}

export interface PartialEvent {
  readonly type: 'partial';
  readonly seq: number;
  readonly leg: string;
  readonly utteranceId: number;
  readonly text: string;
  readonly startMs: number;
}

export interface ErrorEvent {
  readonly type: 'error';
  readonly seq: number;
  readonly leg: string;
  readonly code: string;
  readonly message: string;
  readonly recoverable: boolean;
  readonly at: string;
}

export type TranscriptEvent = FinalEvent | PartialEvent | ErrorEvent;

export interface Delivery {
  readonly id: number;
  readonly eventId: string;
  readonly type: string;
  readonly endpoint: string;
  readonly callSid: string;
  readonly seq: number;
  readonly status: 'pending' | 'delivered' | 'failed';
  readonly attempts: number;
  readonly lastError: string | null;
  readonly createdAt?: string;
}

export interface EndpointHealth {
  readonly url: string;
  readonly state: string;
  readonly detail?: string;
  readonly activeStreams?: number;
}

export interface Health {
  readonly liveCalls: number;
  readonly maxLiveCalls: number;
  readonly draining: boolean;
  readonly eventLoopLagMs: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly engine: {
    readonly ready: boolean;
    readonly engine: string;
    readonly endpoints?: readonly EndpointHealth[];
  };
}

/** The batch engine's transcript after the call (`?version=refined`; src/postcall/refined-transcript.ts). */
export interface RefinedUtterance {
  readonly speaker: string;
  /** The diarized voice inside the speaker's channel (`caller.2`); null where the engine heard one. */
  readonly subSpeaker: string | null;
  readonly text: string;
  readonly startMs: number;
  readonly endMs: number;
  readonly words: readonly Word[];
}

export interface RefinedTranscript {
  readonly engine: string;
  readonly model: string;
  readonly language: string | null;
  readonly createdAt: string;
  readonly utterances: readonly RefinedUtterance[];
  readonly agreement: {
    /** Word error rate of the live transcript against this one: 0 is the same words. */
    readonly wer: number | null;
    readonly perSpeaker: Readonly<Record<string, number | null>>;
    readonly referenceWords: number;
  };
}

/** The LLM's reading of the call (`GET /v1/calls/:sid/analysis`, the `call.analyzed` data). */
export interface CallAnalysis {
  readonly model: string;
  readonly source: 'refined' | 'live';
  readonly summary: string;
  readonly reason: string;
  readonly outcome: string;
  readonly sentiment: readonly {
    readonly speaker: string;
    readonly sentiment: string;
    readonly score: number;
  }[];
  readonly actionItems: readonly { readonly owner: string | null; readonly text: string }[];
  /** The operator's own fields (ANALYSIS_SCHEMA_FILE), any JSON. */
  readonly custom?: Readonly<Record<string, unknown>>;
}
