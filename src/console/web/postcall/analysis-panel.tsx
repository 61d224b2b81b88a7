import type { CallAnalysis } from '../types.js';
import type { PostcallDocument } from './use-postcall-document.js';

export interface AnalysisPanelProps {
  readonly analysis: PostcallDocument<CallAnalysis> & { readonly retry: () => void };
}

/**
 * The LLM's reading of the call: summary, reason, outcome, sentiment per speaker, action items and
 * the operator's own fields. Everything is text to preact (escaped), the custom values as JSON.
 */
export function AnalysisPanel({ analysis }: AnalysisPanelProps) {
  return (
    <section class="analysis" aria-labelledby="analysis-heading">
      <div class="heading-row">
        <h2 id="analysis-heading">Analysis</h2>
        {analysis.state === 'ready' ? (
          <p class="live-state" data-testid="analysis-source">
            {analysis.value.model}, from the {analysis.value.source} transcript
          </p>
        ) : null}
      </div>
      <AnalysisBody analysis={analysis} />
    </section>
  );
}

function AnalysisBody({ analysis }: AnalysisPanelProps) {
  switch (analysis.state) {
    case 'waiting':
      return <p class="empty">The analysis is not ready yet…</p>;
    case 'none':
      return (
        <p class="empty" data-testid="analysis-none">
          No analysis for this call (analysis is off, failed, or still running).{' '}
          <button type="button" onClick={analysis.retry}>
            Check again
          </button>
        </p>
      );
    case 'error':
      return (
        <p class="error" role="alert">
          {analysis.message}
        </p>
      );
    case 'ready':
      break;
  }
  const { summary, reason, outcome, sentiment, actionItems, custom } = analysis.value;
  const fields = Object.entries(custom ?? {});
  return (
    <div class="analysis-body">
      <p class="summary" data-testid="analysis-summary">
        {summary}
      </p>
      <dl class="stats">
        <div>
          <dt>Reason</dt>
          <dd data-testid="analysis-reason">{reason}</dd>
        </div>
        <div>
          <dt>Outcome</dt>
          <dd data-testid="analysis-outcome" class={`outcome ${outcome}`}>
            {outcome}
          </dd>
        </div>
        {sentiment.map((s) => (
          <div key={s.speaker}>
            <dt>Sentiment: {s.speaker}</dt>
            <dd data-testid="analysis-sentiment" class={`sentiment ${s.sentiment}`}>
              {s.sentiment} ({s.score >= 0 ? '+' : ''}
              {s.score.toFixed(2)})
            </dd>
          </div>
        ))}
      </dl>
      <h3>Action items</h3>
      {actionItems.length > 0 ? (
        <ul class="action-items" data-testid="analysis-actions">
          {actionItems.map((item, i) => (
            <li key={String(i)}>
              {item.owner ? <span class="owner">{item.owner}: </span> : null}
              {item.text}
            </li>
          ))}
        </ul>
      ) : (
        <p class="empty">None.</p>
      )}
      {fields.length > 0 ? (
        <>
          <h3>Fields</h3>
          <dl class="custom-fields" data-testid="analysis-custom">
            {fields.map(([name, value]) => (
              <div key={name}>
                <dt>{name}</dt>
                <dd>
                  <code>{JSON.stringify(value) ?? 'undefined'}</code>
                </dd>
              </div>
            ))}
          </dl>
        </>
      ) : null}
    </div>
  );
}
