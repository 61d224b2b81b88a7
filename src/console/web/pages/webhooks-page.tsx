import { useState } from 'preact/hooks';
import { ApiError, getJson, post } from '../api.js';
import { href } from '../router.js';
import type { Delivery } from '../types.js';
import { usePoll } from '../use-poll.js';

type Status = Delivery['status'];

/** Webhook deliveries by status, with attempts and the last error; a dead-lettered one can be retried. */
export function WebhooksPage() {
  const [status, setStatus] = useState<Status>('failed');
  const [message, setMessage] = useState<string>();
  const { data, error, reload } = usePoll(
    () => getJson<{ deliveries: Delivery[] }>(`/v1/webhooks/deliveries?status=${status}&limit=200`),
    3_000,
    [status],
  );
  const retry = async (delivery: Delivery) => {
    try {
      await post(`/v1/webhooks/deliveries/${delivery.id}/retry`);
      setMessage(`Delivery ${delivery.id} (${delivery.type}) is queued again.`);
    } catch (err) {
      setMessage(err instanceof ApiError ? `Retry refused: ${err.code} ${err.message}` : String(err));
    }
    reload();
  };
  return (
    <section aria-labelledby="webhooks-heading">
      <h1 id="webhooks-heading">Webhook deliveries</h1>
      <fieldset class="tabs">
        <legend class="visually-hidden">Delivery status</legend>
        {(['failed', 'pending', 'delivered'] as Status[]).map((s) => (
          <button key={s} type="button" aria-pressed={status === s} onClick={() => setStatus(s)}>
            {s === 'failed' ? 'dead-lettered' : s}
          </button>
        ))}
      </fieldset>
      {message ? <output class="notice">{message}</output> : null}
      {error ? (
        <p class="error" role="alert">
          {error}
        </p>
      ) : null}
      <table class="deliveries">
        <thead>
          <tr>
            <th scope="col">Id</th>
            <th scope="col">Event</th>
            <th scope="col">Call</th>
            <th scope="col">Endpoint</th>
            <th scope="col">Attempts</th>
            <th scope="col">Last error</th>
            <th scope="col">
              <span class="visually-hidden">Action</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {(data?.deliveries ?? []).map((d) => (
            <tr key={d.id} data-delivery-id={d.id}>
              <td>{d.id}</td>
              <td>
                {d.type} <span class="seq">#{d.seq}</span>
              </td>
              <td>
                <a href={href('calls', d.callSid)}>{d.callSid}</a>
              </td>
              <td class="endpoint">{d.endpoint}</td>
              <td>{d.attempts}</td>
              <td class="last-error">{d.lastError ?? ''}</td>
              <td>
                {d.status === 'failed' ? (
                  <button type="button" onClick={() => retry(d)} aria-label={`Retry delivery ${d.id}`}>
                    Retry
                  </button>
                ) : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {data && data.deliveries.length === 0 ? <p class="empty">No {status} deliveries.</p> : null}
    </section>
  );
}
