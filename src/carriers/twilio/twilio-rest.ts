import RequestClient from 'twilio/lib/base/RequestClient.js';
import Twilio from 'twilio/lib/rest/Twilio.js';

export interface TwilioRestOptions {
  readonly accountSid: string;
  readonly authToken: string;
  /** https://api.twilio.com, or a proxy or test double. */
  readonly baseUrl: string;
  readonly timeoutMs: number;
}

/** Points every request of the `twilio` package at `baseUrl` instead of api.twilio.com. */
class BaseUrlRequestClient extends RequestClient {
  readonly #baseUrl: URL;

  constructor(baseUrl: string, timeoutMs: number) {
    super({ timeout: timeoutMs });
    this.#baseUrl = new URL(baseUrl);
  }

  override request<TData>(opts: RequestClient.RequestOptions<TData>) {
    const uri = new URL(opts.uri);
    uri.protocol = this.#baseUrl.protocol;
    uri.host = this.#baseUrl.host;
    return super.request({ ...opts, uri: uri.href });
  }
}

/**
 * The `twilio` package's REST client for one account, aimed at `baseUrl`, with its own retries
 * off (voxline decides what is retried) and a timeout per request.
 */
export function twilioRestClient(options: TwilioRestOptions): Twilio {
  return new Twilio(options.accountSid, options.authToken, {
    accountSid: options.accountSid,
    httpClient: new BaseUrlRequestClient(options.baseUrl, options.timeoutMs),
    autoRetry: false,
  });
}
