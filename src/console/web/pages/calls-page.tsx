import { useState } from 'preact/hooks';
import { getJson } from '../api.js';
import { duration, parties, when } from '../format.js';
import { href } from '../router.js';
import type { CallView, SessionInfo } from '../types.js';
import { usePoll } from '../use-poll.js';

type StateFilter = 'live' | 'ended' | 'all';

/** Live and recent calls, refreshed every two seconds; filter by state and ingress, search by anything shown. */
export function CallsPage({ session }: { session: SessionInfo }) {
  const [state, setState] = useState<StateFilter>('all');
  const [ingress, setIngress] = useState('');
  const [search, setSearch] = useState('');
  const { data, error } = usePoll(() => getJson<{ calls: CallView[] }>(`/v1/calls?state=${state}`), 2_000, [
    state,
  ]);
  const calls = data?.calls ?? [];
  const live = calls.filter((c) => c.state === 'live').length;
  const needle = search.trim().toLowerCase();
  const shown = calls.filter(
    (c) =>
      (!ingress || c.ingress === ingress) &&
      (!needle ||
        [c.callSid, c.ingress, c.mode, c.endReason ?? '', parties(c), ...c.legs.map((l) => l.label)]
          .join(' ')
          .toLowerCase()
          .includes(needle)),
  );
  const ingresses = [...new Set(calls.map((c) => c.ingress))].sort();
  return (
    <section aria-labelledby="calls-heading">
      <div class="heading-row">
        <h1 id="calls-heading">Calls</h1>
        <p class="capacity" data-testid="capacity">
          {state === 'ended' ? '' : `${live} live of ${session.maxLiveCalls}`}
        </p>
      </div>
      {/* biome-ignore lint/a11y/useSemanticElements: <search> is too new for every browser this console supports. */}
      <div class="filters" role="search">
        <label>
          State{' '}
          <select value={state} onChange={(e) => setState(e.currentTarget.value as StateFilter)}>
            <option value="all">live and recent</option>
            <option value="live">live</option>
            <option value="ended">ended</option>
          </select>
        </label>
        <label>
          Ingress{' '}
          <select value={ingress} onChange={(e) => setIngress(e.currentTarget.value)}>
            <option value="">any</option>
            {ingresses.map((i) => (
              <option key={i}>{i}</option>
            ))}
          </select>
        </label>
        <label>
          Search <input type="search" value={search} onInput={(e) => setSearch(e.currentTarget.value)} />
        </label>
      </div>
      {error ? (
        <p class="error" role="alert">
          {error}
        </p>
      ) : null}
      <table class="calls">
        <thead>
          <tr>
            <th scope="col">Call</th>
            <th scope="col">State</th>
            <th scope="col">Ingress</th>
            <th scope="col">Who</th>
            <th scope="col">Mode</th>
            <th scope="col">Started</th>
            <th scope="col">Duration</th>
            <th scope="col">Legs</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((call) => (
            <tr key={call.callSid} class={call.state} data-call-sid={call.callSid}>
              <td>
                <a href={href('calls', call.callSid)}>{call.callSid}</a>
              </td>
              <td>
                <span class={`state ${call.state}`}>{call.state}</span>
                {call.endReason ? <span class="reason"> {call.endReason}</span> : null}
              </td>
              <td>{call.ingress}</td>
              <td>{parties(call)}</td>
              <td>{call.mode}</td>
              <td>{when(call.startedAt)}</td>
              <td>{duration(call.durationSeconds)}</td>
              <td>
                {call.legs.map((leg) => (
                  <span key={leg.label} class="leg">
                    {leg.label} {leg.audioSeconds.toFixed(1)} s
                    {leg.gapFilledMs > 0 ? `, ${leg.gapFilledMs} ms filled` : ''}
                  </span>
                ))}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {data && shown.length === 0 ? (
        <p class="empty">No calls{needle || ingress ? ' match' : ' yet'}.</p>
      ) : null}
    </section>
  );
}
