import fc from 'fast-check';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { type AlertConfig, compileAlertRules } from '../../src/alerts/alert-rules.js';
import { CallAlerts, type TranscriptAlert } from '../../src/alerts/call-alerts.js';
import type { FinalEvent, PartialEvent } from '../../src/asr/transcript-event.js';
import { CallScope } from '../../src/calls/call-scope.js';
import { ManualClock } from '../helpers/manual-clock.js';

function config(...rules: unknown[]): AlertConfig {
  const { config, problems } = compileAlertRules({ rules });
  expect(problems).toEqual([]);
  return config as AlertConfig;
}

const CHURN = { id: 'churn', kind: 'phrase', phrases: ['cancel my account'], speakers: ['caller'] };
const DISCLOSURE = {
  id: 'recorded',
  kind: 'disclosure',
  phrases: ['this call is recorded', 'call may be recorded'],
  speakers: ['agent'],
  withinMs: 30_000,
  severity: 'critical',
};

function partial(leg: string, utteranceId: number, text: string, audioMs = 1_000): PartialEvent {
  return { type: 'partial', leg, utteranceId, text, startMs: 500, audioMs };
}

function final(leg: string, utteranceId: number, text: string, endMs = 2_000): FinalEvent {
  return {
    type: 'final',
    leg,
    utteranceId,
    text,
    startMs: 500,
    endMs,
    words: [],
    recovered: false,
    engine: 'test',
  };
}

function harness(cfg: AlertConfig, clock = new ManualClock()) {
  const alerts: TranscriptAlert[] = [];
  const calls = new CallAlerts(cfg, clock, (a) => alerts.push(a));
  return { alerts, calls, clock };
}

describe('CallAlerts: phrase rules', () => {
  it('fires on the first partial that holds the phrase, once: not on its growing partials nor its final', () => {
    const { alerts, calls } = harness(config(CHURN));
    calls.push(partial('caller', 7, 'I want to', 900));
    calls.push(partial('caller', 7, 'I want to cancel my', 1_100));
    expect(alerts).toEqual([]);
    calls.push(partial('caller', 7, 'I want to cancel, my account', 1_300));
    calls.push(partial('caller', 7, 'I want to cancel, my account today', 1_500));
    calls.push(final('caller', 7, 'I want to cancel my account today.', 1_800));
    expect(alerts).toEqual([
      {
        ruleId: 'churn',
        kind: 'phrase',
        severity: 'warning',
        speaker: 'caller',
        phrase: 'cancel my account',
        text: 'I want to cancel, my account',
        utteranceId: 7,
        atMs: 1_300,
        source: 'partial',
      },
    ]);
    expect(calls.trackedUtterances).toBe(0);
  });

  it('a final that holds the phrase where no partial did raises it then, at the final’s end', () => {
    const { alerts, calls } = harness(config(CHURN));
    calls.push(partial('caller', 1, 'cancel my a'));
    calls.push(final('caller', 1, 'Cancel my account.', 2_400));
    expect(alerts).toEqual([
      expect.objectContaining({ source: 'final', atMs: 2_400, utteranceId: 1, text: 'Cancel my account.' }),
    ]);
  });

  it('fires again in a later utterance, and separately for each rule that matches', () => {
    const { alerts, calls } = harness(
      config(CHURN, { id: 'any-cancel', kind: 'phrase', phrases: ['cancel'], severity: 'info' }),
    );
    calls.push(final('caller', 1, 'cancel my account'));
    calls.push(partial('caller', 2, 'yes cancel my account'));
    calls.push(final('caller', 2, 'yes cancel my account'));
    expect(alerts.map((a) => [a.ruleId, a.utteranceId, a.source, a.severity])).toEqual([
      ['churn', 1, 'final', 'warning'],
      ['any-cancel', 1, 'final', 'info'],
      ['churn', 2, 'partial', 'warning'],
      ['any-cancel', 2, 'partial', 'info'],
    ]);
  });

  it('hears only the rule’s speakers; a rule without speakers hears every leg', () => {
    const { alerts, calls } = harness(config(CHURN, { id: 'legal', kind: 'phrase', phrases: ['lawyer'] }));
    calls.push(final('agent', 1, 'Do you want to cancel my account? My lawyer'));
    calls.push(final('mixed', 2, 'lawyer'));
    expect(alerts.map((a) => [a.ruleId, a.speaker])).toEqual([
      ['legal', 'agent'],
      ['legal', 'mixed'],
    ]);
  });

  it('the same utterance id on two legs is two utterances', () => {
    const { alerts, calls } = harness(config({ id: 'legal', kind: 'phrase', phrases: ['lawyer'] }));
    calls.push(partial('caller', 3, 'lawyer'));
    calls.push(partial('agent', 3, 'lawyer'));
    calls.push(partial('caller', 3, 'lawyer up'));
    expect(alerts.map((a) => a.speaker)).toEqual(['caller', 'agent']);
    expect(calls.trackedUtterances).toBe(2);
  });

  it('matches whole words only', () => {
    const { alerts, calls } = harness(config({ id: 'c', kind: 'phrase', phrases: ['cancel', 'my account'] }));
    calls.push(final('caller', 1, 'The cancellation of myaccount.com accounts'));
    expect(alerts).toEqual([]);
  });

  it('a regex rule tests the text as written and reports the regex', () => {
    const { alerts, calls } = harness(
      config({ id: 'card', kind: 'phrase', regex: '\\b\\d{4}[ -]\\d{4}\\b' }),
    );
    calls.push(partial('caller', 1, 'my card is 4111'));
    calls.push(partial('caller', 1, 'my card is 4111-1111', 1_700));
    calls.push(partial('caller', 1, 'my card is 4111-1111 2222'));
    expect(alerts).toEqual([
      expect.objectContaining({ ruleId: 'card', phrase: '/\\b\\d{4}[ -]\\d{4}\\b/i', atMs: 1_700 }),
    ]);
  });

  it('ignores error events and anything pushed after close', () => {
    const { alerts, calls } = harness(config(CHURN));
    calls.push({
      type: 'error',
      leg: 'caller',
      code: 'engine_error',
      message: 'cancel my account',
      recoverable: true,
    });
    calls.close();
    calls.push(final('caller', 1, 'cancel my account'));
    expect(alerts).toEqual([]);
  });

  it('remembers a bounded number of utterances whose finals never come', () => {
    const { alerts, calls } = harness(config({ id: 'x', kind: 'phrase', phrases: ['help'] }));
    for (let id = 0; id < 1_000; id++) calls.push(partial('caller', id, 'help'));
    expect(alerts).toHaveLength(1_000);
    expect(calls.trackedUtterances).toBe(64);
  });
});

describe('CallAlerts: disclosures', () => {
  it('a disclosure not said fires missed exactly at its deadline, once', async () => {
    const { alerts, calls, clock } = harness(config(DISCLOSURE));
    calls.start();
    calls.push(final('agent', 1, 'Hello, how can I help?'));
    await clock.advance(29_999);
    expect(alerts).toEqual([]);
    await clock.advance(1);
    expect(alerts).toEqual([
      {
        ruleId: 'recorded',
        kind: 'missed_disclosure',
        severity: 'critical',
        speaker: null,
        phrase: null,
        text: '',
        utteranceId: null,
        atMs: 30_000,
        source: 'deadline',
      },
    ]);
    calls.push(final('agent', 2, 'This call is recorded.'));
    await clock.advance(60_000);
    expect(alerts).toHaveLength(1);
    expect(calls.disclosures).toEqual([
      { ruleId: 'recorded', status: 'missed', speaker: null, phrase: null, atMs: 30_000 },
    ]);
  });

  it('said in time (even in a partial) it raises nothing, its timer is cleared, and the outcome is kept', async () => {
    const { alerts, calls, clock } = harness(config(DISCLOSURE));
    calls.start();
    expect(clock.pending).toBe(1);
    await clock.advance(10_000);
    calls.push(partial('agent', 4, 'this call may be recorded for', 10_400));
    expect(clock.pending).toBe(0);
    await clock.advance(60_000);
    expect(alerts).toEqual([]);
    expect(calls.disclosures).toEqual([
      {
        ruleId: 'recorded',
        status: 'satisfied',
        speaker: 'agent',
        phrase: 'call may be recorded',
        atMs: 10_400,
      },
    ]);
  });

  it('only its speakers can satisfy it', async () => {
    const { alerts, calls, clock } = harness(config(DISCLOSURE));
    calls.start();
    calls.push(final('caller', 1, 'is this call is recorded?'));
    await clock.advance(30_000);
    expect(alerts.map((a) => a.kind)).toEqual(['missed_disclosure']);
  });

  it('start(callClockMs) keeps the deadline relative to the call’s start', async () => {
    const { alerts, calls, clock } = harness(config(DISCLOSURE));
    calls.start(12_000);
    await clock.advance(17_999);
    expect(alerts).toEqual([]);
    await clock.advance(1);
    expect(alerts).toEqual([expect.objectContaining({ atMs: 30_000 })]);
  });

  it('close() clears the deadlines: advancing after close fires nothing, and pending stays pending', async () => {
    const { alerts, calls, clock } = harness(
      config(DISCLOSURE, { ...DISCLOSURE, id: 'other', withinMs: 5_000 }),
    );
    calls.start();
    calls.start();
    expect(clock.pending).toBe(2);
    calls.close();
    expect(clock.pending).toBe(0);
    await clock.advance(100_000);
    expect(alerts).toEqual([]);
    expect(calls.disclosures.map((d) => d.status)).toEqual(['pending', 'pending']);
    calls.start();
    expect(clock.pending).toBe(0);
  });

  it('on a call scope’s timers, the deadline dies with the call', async () => {
    const clock = new ManualClock();
    const scope = new CallScope(pino({ level: 'silent' }), undefined, clock);
    const alerts: TranscriptAlert[] = [];
    new CallAlerts(config(DISCLOSURE), scope.timers, (a) => alerts.push(a)).start();
    await scope.close('hangup');
    expect(clock.pending).toBe(0);
    await clock.advance(30_000);
    expect(alerts).toEqual([]);
  });
});

describe('CallAlerts: fuzz', () => {
  const WORDS = [
    'cancel',
    'my',
    'account',
    'Account!',
    'this',
    'call',
    'is',
    'recorded',
    ',',
    '4111',
    '\ud800',
    'ﬁ',
  ];
  const text = fc
    .array(fc.oneof(fc.constantFrom(...WORDS), fc.string({ unit: 'binary', maxLength: 12 })), {
      maxLength: 12,
    })
    .map((parts) => parts.join(' '));
  const step = fc.record({
    leg: fc.constantFrom('caller', 'agent'),
    slot: fc.nat(3),
    text,
    final: fc.boolean(),
    advanceMs: fc.nat(5_000),
  });

  it('push() never throws on any text and fires a rule at most once per (rule, speaker, utterance)', async () => {
    const cfg = config(
      { ...CHURN, speakers: undefined },
      { id: 'card', kind: 'phrase', regex: '\\d{4}', flags: 'iu' },
      DISCLOSURE,
    );
    let raised = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 60 }), async (steps) => {
        const { alerts, calls, clock } = harness(cfg);
        calls.start();
        // Each (leg, slot) speaks one utterance at a time; its final starts the next one.
        const ids = new Map<string, number>();
        let nextId = 0;
        for (const s of steps) {
          const slot = `${s.leg}/${s.slot}`;
          const id = ids.get(slot) ?? nextId++;
          ids.set(slot, id);
          calls.push(s.final ? final(s.leg, id, s.text) : partial(s.leg, id, s.text));
          if (s.final) ids.delete(slot);
          await clock.advance(s.advanceMs);
        }
        // Only utterances still waiting for their final are remembered.
        expect(calls.trackedUtterances).toBeLessThanOrEqual(ids.size);
        calls.close();
        const keys = alerts.map((a) => `${a.ruleId}|${a.speaker}|${a.utteranceId}`);
        expect(new Set(keys).size).toBe(keys.length);
        expect(alerts.filter((a) => a.kind === 'missed_disclosure').length).toBeLessThanOrEqual(1);
        raised += alerts.length;
      }),
      { numRuns: 200, seed: 18 },
    );
    expect(raised).toBeGreaterThan(50); // the generator does reach the rules
  });
});
