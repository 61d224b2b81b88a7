import type { FastifyRequest } from 'fastify';
import { VoxlineError } from '../errors.js';
import type { ConsoleAccess } from './console-access.js';

/**
 * A preValidation hook requiring `Authorization: Bearer <ADMIN_TOKEN>` or a console session (with
 * its CSRF header to change anything); a no-op when no token is set.
 */
export function requireAdmin(access: ConsoleAccess) {
  return async function checkAdmin(request: FastifyRequest): Promise<void> {
    if (!access.credential(request)) throw new VoxlineError('VL_ERR_UNAUTHORIZED');
  };
}
