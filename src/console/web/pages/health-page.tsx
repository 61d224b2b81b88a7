import { getJson } from '../api.js';
import type { Health } from '../types.js';
import { usePoll } from '../use-poll.js';

/** Engine readiness per endpoint, the in-process model's progress, event-loop lag, live calls against capacity. */
export function HealthPage() {
  const { data, error } = usePoll(() => getJson<Health>('/console/api/health'), 3_000, []);
  return (
    <section aria-labelledby="health-heading">
      <h1 id="health-heading">Health</h1>
      {error ? (
        <p class="error" role="alert">
          {error}
        </p>
      ) : null}
      {data ? (
        <>
          <dl class="stats">
            <div>
              <dt>Live calls</dt>
              <dd data-testid="live-calls">
                {data.liveCalls} of {data.maxLiveCalls}
              </dd>
            </div>
            <div>
              <dt>Speech engine</dt>
              <dd data-testid="engine-ready" class={data.engine.ready ? 'up' : 'down'}>
                {data.engine.engine}: {data.engine.ready ? 'ready' : 'not ready'}
              </dd>
            </div>
            <div>
              <dt>Event-loop lag (p50 / p99 / max)</dt>
              <dd>
                {data.eventLoopLagMs.p50} / {data.eventLoopLagMs.p99} / {data.eventLoopLagMs.max} ms
              </dd>
            </div>
            {data.draining ? (
              <div>
                <dt>State</dt>
                <dd class="down">draining: no new calls</dd>
              </div>
            ) : null}
          </dl>
          <table class="endpoints">
            <caption>Engine endpoints and replicas</caption>
            <thead>
              <tr>
                <th scope="col">Endpoint</th>
                <th scope="col">State</th>
                <th scope="col">Streams</th>
                <th scope="col">Detail</th>
              </tr>
            </thead>
            <tbody>
              {(data.engine.endpoints ?? []).map((e) => (
                <tr key={e.url}>
                  <td class="endpoint">{e.url}</td>
                  <td class={e.state === 'up' ? 'up' : 'down'}>{e.state}</td>
                  <td>{e.activeStreams ?? ''}</td>
                  <td>{e.detail ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
    </section>
  );
}
