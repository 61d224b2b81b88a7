import type { EventData, EventType, WebhookEvent } from './event-schemas.js';
import { GroupCommit } from './group-commit.js';
import type { AppendRequest } from './outbox-store.js';

/**
 * The append path both outbox stores share: each append joins the next group commit and resolves
 * with its event once that is committed; after `close` appends are refused, and what came before
 * is committed first.
 */
export class OutboxAppends {
  readonly #group: GroupCommit<AppendRequest, WebhookEvent>;
  #closed = false;

  constructor(
    commit: (batch: readonly AppendRequest[]) => Promise<readonly WebhookEvent[]> | readonly WebhookEvent[],
  ) {
    this.#group = new GroupCommit(commit);
  }

  append<T extends EventType>(
    callSid: string,
    type: T,
    data: EventData<T>,
    endpoints: readonly string[],
    now: number,
  ): Promise<WebhookEvent<T>> {
    if (this.#closed) return Promise.reject(new Error('the outbox is closed'));
    return this.#group.submit({ callSid, type, data, endpoints, now }) as Promise<WebhookEvent<T>>;
  }

  /** Resolves once every append made so far is committed (or has failed). */
  settled(): Promise<void> {
    return this.#group.drain();
  }

  /** Refuses new appends and waits for the ones made; false if it was closed already. */
  async close(): Promise<boolean> {
    if (this.#closed) return false;
    this.#closed = true;
    await this.#group.drain();
    return true;
  }
}
