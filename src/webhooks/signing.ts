import { createHmac } from 'node:crypto';

/**
 * Standard Webhooks signatures: `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`, where
 * the key is the base64 after `whsec_`. During a secret rotation the endpoint has two secrets and
 * the header carries both signatures, space-separated; receivers accept either.
 */
export function signatureHeader(
  secrets: readonly string[],
  id: string,
  timestamp: number,
  body: string,
): string {
  return secrets
    .map((secret) => {
      const mac = createHmac('sha256', secretKey(secret))
        .update(`${id}.${timestamp}.${body}`)
        .digest('base64');
      return `v1,${mac}`;
    })
    .join(' ');
}

export function secretKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64');
}

/** A secret is `whsec_` + base64 of 24 to 64 random bytes (the spec's range). */
export function checkSecret(secret: string): string | undefined {
  if (!secret.startsWith('whsec_')) return 'must start with whsec_';
  const body = secret.slice(6);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body)) return 'must be whsec_ followed by base64';
  const bytes = Buffer.from(body, 'base64').length;
  if (bytes < 24 || bytes > 64) return `must hold 24 to 64 bytes (has ${bytes})`;
  return undefined;
}
