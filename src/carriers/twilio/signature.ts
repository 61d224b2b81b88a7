import { validateRequest } from 'twilio/lib/webhooks/webhooks.js';

/**
 * URLs Twilio may have signed for a request to `path` (path plus query, as received).
 * Webhooks are signed over the https URL. For the Media Streams upgrade Twilio's docs do not say
 * whether the wss:// form (as written in the TwiML) or the https:// form is signed
 * (docs/protocols/telephony.md §1.5), so both are accepted; they name the same endpoint.
 */
export function signedUrlCandidates(publicUrl: string, path: string, websocket: boolean): string[] {
  const https = `${publicUrl}${path}`;
  if (!websocket) return [https];
  return [https.replace(/^http/, 'ws'), https];
}

/** Constant-time check of `X-Twilio-Signature` (twilio's own validator) against any candidate URL. */
export function isValidTwilioSignature(
  authToken: string,
  signature: string,
  urls: readonly string[],
  params: Record<string, string>,
): boolean {
  return urls.some((url) => validateRequest(authToken, signature, url, params));
}
