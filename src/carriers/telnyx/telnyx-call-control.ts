import type { TelnyxRestConfig } from '../../calls/outbound/outbound-config.js';
import { VoxlineError } from '../../errors.js';
import type { TelnyxCodec } from './telnyx-config.js';

/**
 * The two Call Control commands outbound calls use, over fetch: dial (POST /v2/calls) and hang-up
 * (POST /v2/calls/{call_control_id}/actions/hangup), Bearer-authenticated JSON
 * (developers.telnyx.com/api-reference/call-commands/dial). Not the `telnyx` package: version
 * 7.24 is 19 MB in 6,159 files for the whole API, and two requests need none of it.
 */

/** The body of a dial, as far as voxline sets it. */
export interface TelnyxDialBody {
  readonly connection_id: string;
  readonly to: string;
  readonly from: string;
  readonly stream_url: string;
  readonly stream_track: 'inbound_track' | 'both_tracks';
  readonly stream_codec: TelnyxCodec;
  readonly stream_bidirectional_mode?: 'rtp';
  readonly stream_bidirectional_codec?: TelnyxCodec;
  readonly answering_machine_detection: 'detect' | 'disabled';
  readonly timeout_secs: number;
  readonly client_state: string;
  readonly command_id: string;
  readonly webhook_url: string;
  readonly webhook_url_method: 'POST';
}

/** Telnyx's own limits on timeout_secs. */
export const TELNYX_TIMEOUT_S = { min: 5, max: 600 } as const;

export class TelnyxCallControl {
  readonly #rest: TelnyxRestConfig;
  readonly #timeoutMs: number;

  constructor(rest: TelnyxRestConfig, timeoutMs: number) {
    this.#rest = rest;
    this.#timeoutMs = timeoutMs;
  }

  /** Places the call; resolves with its call_control_id. */
  async dial(body: TelnyxDialBody): Promise<string> {
    const reply = await this.#post('/v2/calls', body);
    const id = (reply as { data?: { call_control_id?: unknown } } | undefined)?.data?.call_control_id;
    if (typeof id !== 'string' || id.length === 0 || id.length > 256) {
      throw new VoxlineError('VL_ERR_DIAL_FAILED', 'Telnyx answered the dial without a call_control_id');
    }
    return id;
  }

  async hangUp(callControlId: string): Promise<void> {
    await this.#post(`/v2/calls/${encodeURIComponent(callControlId)}/actions/hangup`, {});
  }

  async #post(path: string, body: object): Promise<unknown> {
    let response: Response;
    try {
      response = await fetch(`${this.#rest.baseUrl}${path}`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${this.#rest.apiKey}`,
          'content-type': 'application/json',
          accept: 'application/json',
        },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      throw new VoxlineError('VL_ERR_DIAL_FAILED', 'Telnyx could not be reached', { cause: err });
    }
    const text = await response.text().catch(() => '');
    if (response.ok) return parseJson(text);
    // Telnyx errors: { errors: [{ code, title, detail }] }.
    const first = (parseJson(text) as { errors?: { code?: unknown; title?: unknown; detail?: unknown }[] })
      ?.errors?.[0];
    const said = [first?.code, first?.title, first?.detail].filter((p) => typeof p === 'string').join(' ');
    const detail = `Telnyx answered ${response.status}${said ? `: ${said.slice(0, 300)}` : ''}`;
    // A 4xx is a refusal, except that a timeout or a rate limit may pass.
    const refused = response.status >= 400 && response.status < 500 && ![408, 429].includes(response.status);
    const code = refused ? 'VL_ERR_DIAL_REJECTED' : 'VL_ERR_DIAL_FAILED';
    throw new VoxlineError(code, detail);
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
