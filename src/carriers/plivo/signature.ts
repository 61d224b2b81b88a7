import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Plivo's request signature, version 3 (`X-Plivo-Signature-V3`, `X-Plivo-Signature-V3-Nonce`).
 * Plivo's docs leave the algorithm to its SDKs; this follows theirs (plivo-node
 * lib/utils/v3Security.js, plivo-python plivo/utils/signature_v3.py), which agree:
 *
 *   base = scheme://host[:port]/path
 *        + ('?' + the URL's query, keys sorted, each key's values sorted, `k=v` joined by `&`)
 *            when that query is not empty, or (POST) when there are form parameters
 *        + '.' when there are both a query and (POST) form parameters
 *        + (POST) the form parameters, keys sorted, each `key` + `value` with nothing between
 *   signature = base64(HMAC-SHA256(auth token, base + '.' + nonce))
 *
 * The header may carry several signatures separated by commas (a token being rotated): any may match.
 */

export type FormParams = Readonly<Record<string, string | readonly string[] | undefined>>;

function values(value: string | readonly string[] | undefined): string[] {
  if (value === undefined) return [];
  return typeof value === 'string' ? [value] : [...value];
}

function sortedQuery(params: Map<string, string[]>): string {
  return [...params.keys()]
    .sort()
    .flatMap((key) => (params.get(key) ?? []).sort().map((v) => `${key}=${v}`))
    .join('&');
}

/** The string Plivo signs (before `.nonce`) for a request to `url` with `params` (POST form fields). */
export function plivoSignedBase(method: 'GET' | 'POST', url: string, params: FormParams = {}): string {
  const parsed = new URL(url);
  const query = new Map<string, string[]>();
  for (const [key, value] of parsed.searchParams) query.set(key, [...(query.get(key) ?? []), value]);
  const form = Object.keys(params).filter((key) => values(params[key]).length > 0);
  if (method === 'GET') {
    // GET: the SDKs fold any params passed into the query (voxline passes none).
    for (const key of form) query.set(key, [...(query.get(key) ?? []), ...values(params[key])]);
  }
  const hasForm = method === 'POST' && form.length > 0;
  let base = `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  const queryString = sortedQuery(query);
  if (queryString.length > 0 || hasForm) base += `?${queryString}`;
  if (queryString.length > 0 && hasForm) base += '.';
  if (hasForm) {
    base += form
      .sort()
      .flatMap((key) =>
        values(params[key])
          .sort()
          .map((v) => `${key}${v}`),
      )
      .join('');
  }
  return base;
}

export function plivoSignatureV3(authToken: string, base: string, nonce: string): string {
  return createHmac('sha256', authToken).update(`${base}.${nonce}`).digest('base64');
}

/** Constant-time check of a V3 signature header (one or more, comma-separated) against any candidate URL. */
export function isValidPlivoSignature(
  authToken: string,
  header: string,
  nonce: string,
  method: 'GET' | 'POST',
  urls: readonly string[],
  params: FormParams = {},
): boolean {
  if (nonce.length === 0 || header.length === 0) return false;
  const given = header.split(',').map((s) => Buffer.from(s.trim()));
  return urls.some((url) => {
    let base: string;
    try {
      base = plivoSignedBase(method, url, params);
    } catch {
      return false; // not a URL: nothing Plivo could have signed
    }
    const expected = Buffer.from(plivoSignatureV3(authToken, base, nonce));
    return given.some((g) => g.length === expected.length && timingSafeEqual(g, expected));
  });
}
