import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { VoxlineError } from '../errors.js';

/** A preValidation hook requiring `Authorization: Bearer <token>`; a no-op when no token is set. */
export function requireAdminToken(token: string | undefined) {
  const expected = token ? digest(token) : undefined;
  return async function checkAdminToken(request: FastifyRequest): Promise<void> {
    if (!expected) return;
    const header = request.headers.authorization ?? '';
    const presented = header.startsWith('Bearer ') ? header.slice(7) : '';
    // Compare digests: equal lengths, and no early exit that would leak the token byte by byte.
    if (!timingSafeEqual(digest(presented), expected)) throw new VoxlineError('VL_ERR_UNAUTHORIZED');
  };
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
